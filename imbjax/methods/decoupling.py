"""Decoupled long-tail training: Kang et al. 2020's classifier re-balancing (cRT, tau-normalisation, LWS),
Cao et al. 2019's deferred re-sampling (DRS) and Alshammari et al. 2022's weight balancing. Family
``"decoupling"``: one compiled program (:func:`imbjax.methods.stagewise.stagewise_program`), stage 1
plain cross-entropy with instance-balanced (uniform) sampling for every method; the switch ``T =
round(fraction * num_steps)`` replaces the papers' epochs.

* ``crt`` (Kang et al. 2020, classifier re-training): from step ``T = round(stage1_fraction *
  num_steps)`` the classifier ``(W, b)`` is re-initialised and trained alone with CE and class-balanced
  sampling (weights ``1 / n_y``) on the frozen body; the run's learning rate and weight decay (the
  official ImageNet-LT config uses stage 1's 0.2 and 5e-4). Default ``stage1_fraction = 0.9``: 90 joint
  epochs, then 10 of cRT (official ``cls_crt.yaml``).
* ``tau_norm`` (Kang et al. 2020): one stage of joint training, then the post-hoc classifier
  ``z_j = h . w_j / ||w_j||^tau`` (:func:`imbjax.losses.tau_normalize` of the kernel's class columns),
  **without the bias**, as the official ``tau_norm.py`` (``dotproduct_similarity(feat, ws)``). That script
  scans tau over [0, 2] in steps of 0.1; default ``tau = 1``, the plain L2-normalised classifier, a value
  to sweep and select on the ``val_*`` metrics of a validation part.
* ``lws`` (Kang et al. 2020, learnable weight scaling): from step ``T`` the logits are ``f * (W^T h + b)``
  with per-class scales ``f`` (starting at 1) learned alone, with CE and class-balanced sampling; ``W``,
  ``b`` and the body are frozen (the official ``TauNormClassifier.DotProduct_Classifier``, which also
  scales the bias). Default ``stage1_fraction = 90 / 95`` (5 LWS epochs, ``cls_lws.yaml``).
* ``drs`` (Cao et al. 2019, deferred re-sampling): instance sampling, then class-balanced sampling
  (``1 / n_y``, the official ``ImbalancedDatasetSampler``) of the whole network's CE from step
  ``round(drs_start * num_steps)``, as DRW defers its weights; default ``drs_start = 0.8`` (epoch 160 of
  200). The network's optimizer carries on across the switch.
* ``weight_balancing`` (Alshammari et al. 2022): stage 1 CE with the run's weight decay (the engine's
  ``config.weight_decays`` axis; the paper tunes it, 5e-3 with SGD in the official CIFAR-100-LT demo);
  stage 2 trains the classifier alone with Cui et al.'s class-balanced softmax CE (``beta = 0.9999``),
  weight decay ``classifier_weight_decay = 0.1`` and MaxNorm: after every step each class column is
  projected onto ``||w_j|| <= r``, ``r = min_j ||w_j|| + maxnorm_fraction (max_j ||w_j|| - min_j ||w_j||)``
  of the kernel at the switch (the official ``MaxNorm_via_PGD``, ``thresh = 0.1``; the bias is not
  projected). Instance sampling in both stages (the official demo's loader). Default ``stage1_fraction =
  320 / 330`` (320 epochs, then 10). Our variants, named: the official demo's ``train_model`` applies the
  projection once per epoch, after the epoch's steps, where this method projects after every step (issue
  18's MaxNorm); its ``CB_loss(..., "softmax", ...)`` (a port of Cui et al.'s code) is a binary
  cross-entropy of the softmax probabilities, where this method uses Cui et al.'s class-balanced softmax
  CE (:func:`imbjax.losses.class_balanced_ce`).

BatchNorm in the classifier stage (``shift_bn``, read as a switch at 0.5): cRT and LWS default to 0, a
frozen representation (the official code freezes the body's weights, ``fix: true``, but calls
``model.train()`` on it, which re-estimates the running averages on the class-balanced batches:
``shift_bn = 1``); weight balancing
defaults to 1 (its official ``train_model`` calls ``model.train()``). Models without BatchNorm are not
affected. Every classifier stage restarts the run's learning-rate schedule and uses the run's optimizer
(the papers: SGD with a cosine schedule over the stage) at ``classifier_lr_factor`` times the run's
learning rate (default 1, the papers' choice of the same base rate in both stages; a larger factor lets a
stage of a few steps with Adam at a small rate converge, an ablation, not the papers' setting). Prediction is ``softmax`` of the trained
classifier's logits (``softmax(f * z)`` for LWS, the tau-normalised logits for ``tau_norm``).
"""
from __future__ import annotations

import jax

from imbjax import losses
from imbjax.engine.program import Family
from imbjax.methods.loss_methods import class_balanced_ce_mean
from imbjax.methods.stagewise import (
    StagePlan,
    classifier_stage,
    scaled_softmax,
    stagewise_method,
    stagewise_program,
)
from imbjax.methods.standard import ros_sampler

FAMILY = "decoupling"
KANG = "Kang et al. 2020 (decoupling representation and classifier, ICLR)"
CAO = "Cao et al. 2019 (LDAM-DRW, NeurIPS): deferred re-sampling"
ALSHAMMARI = "Alshammari et al. 2022 (long-tailed recognition via weight balancing, CVPR)"


def stage1_fraction(hparams):
    return hparams["stage1_fraction"]


def drs_start(hparams):
    return hparams["drs_start"]


def crt_stage(hparams):
    """cRT's classifier stage: ``W, b`` at ``classifier_lr_factor`` times the run's learning rate, the run's
    weight decay, no scales."""
    return classifier_stage(head_lr_factor=hparams["classifier_lr_factor"], weight_decay=hparams["weight_decay"],
                            shift_bn=hparams["shift_bn"])


def lws_stage(hparams):
    """LWS's classifier stage: the scales ``f`` alone at ``classifier_lr_factor`` times the run's learning
    rate, the run's weight decay."""
    return classifier_stage(head_lr_factor=0.0, scales_lr_factor=hparams["classifier_lr_factor"],
                            weight_decay=hparams["weight_decay"],
                            shift_bn=hparams["shift_bn"])


def weight_balancing_stage(hparams):
    """Weight balancing's stage 2: ``W, b`` at ``classifier_lr_factor`` times the run's learning rate, with
    ``classifier_weight_decay`` and MaxNorm."""
    return classifier_stage(head_lr_factor=hparams["classifier_lr_factor"],
                            weight_decay=hparams["classifier_weight_decay"], shift_bn=hparams["shift_bn"],
                            maxnorm_fraction=hparams["maxnorm_fraction"])


def tau_normalized_softmax(logits, ctx):
    """``softmax(h W_tau)``, ``W_tau = tau_normalize(W, hparams["tau"])``, no bias: the tau-normalised
    classifier of the penultimate features ``h = ctx.features`` (``ctx.extra``: the
    :class:`~imbjax.methods.stagewise.Classifier`)."""
    del logits
    kernel = losses.tau_normalize(ctx.extra.head["kernel"], ctx.hparams["tau"])
    return jax.nn.softmax(ctx.features @ kernel, axis=-1)


FAMILIES = (Family(FAMILY, stagewise_program),)

METHODS = (
    stagewise_method("crt", FAMILY, {"stage1_fraction": 0.9, "shift_bn": 0.0, "classifier_lr_factor": 1.0},
                         f"{KANG}: cRT, the classifier re-initialised and re-trained with class-balanced sampling on "
                         "frozen features for the last 10% of the steps (10 of 100 epochs)",
                     plan=StagePlan(stage1_fraction=stage1_fraction, second_sampler=ros_sampler, classifier=crt_stage,
                  reinitialises_head=True)),
    stagewise_method("tau_norm", FAMILY, {"tau": 1.0}, f"{KANG}: joint training, then the tau-normalised "
                         "classifier w_j / ||w_j||^tau without bias (tau to select on validation)",
                         postprocess=tau_normalized_softmax,
                     plan=StagePlan()),
    stagewise_method("lws", FAMILY, {"stage1_fraction": 90 / 95, "shift_bn": 0.0, "classifier_lr_factor": 1.0},
                         f"{KANG}: LWS, per-class scales of the frozen classifier learned with class-balanced "
                         "sampling for the last 5 of 95 epochs", postprocess=scaled_softmax,
                     plan=StagePlan(stage1_fraction=stage1_fraction, second_sampler=ros_sampler, classifier=lws_stage)),
    stagewise_method("drs", FAMILY, {"drs_start": 0.8},
                         f"{CAO}, instance sampling, then class-balanced sampling from 80% of the steps",
                     plan=StagePlan(stage1_fraction=drs_start, second_sampler=ros_sampler)),
    stagewise_method("weight_balancing", FAMILY,
                         {"stage1_fraction": 320 / 330, "classifier_weight_decay": 0.1, "maxnorm_fraction": 0.1,
                          "beta": 0.9999, "shift_bn": 1.0, "classifier_lr_factor": 1.0},
                         f"{ALSHAMMARI}: CE with the run's weight decay, then the classifier alone with class-balanced "
                         "CE, weight decay 0.1 and MaxNorm (radius fraction 0.1) for the last 10 of 330 epochs",
                         loss=class_balanced_ce_mean,
                     plan=StagePlan(stage1_fraction=stage1_fraction, classifier=weight_balancing_stage)),
)
