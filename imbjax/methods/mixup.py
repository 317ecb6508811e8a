"""The mixup family on long-tailed data: input mixup (Zhang et al. 2018), manifold mixup (Verma et al.
2019), Remix (Chou et al. 2020) and MiSLAS (Zhong et al. 2021). Family ``"mixup"``: one compiled program
(:func:`imbjax.methods.stagewise.stagewise_program`); instance-balanced (uniform) sampling in stage 1.

Every network step mixes its batch with a random permutation ``pi`` and ``lam_i ~ Beta(alpha, alpha)``
drawn per example (:mod:`imbjax.sampling.mixing`; the official codes draw one ``lam`` per batch, our
variant as the issue asks) and minimises ``mean_i w_i CE(z_i, y_i) + (1 - w_i) CE(z_i, y_pi(i))``:

* ``mixup``: ``x~ = lam x + (1 - lam) x[pi]``, ``w = lam``; ``mixup_alpha = 1`` (Zhang et al.'s CIFAR
  setting).
* ``manifold_mixup``: the penultimate features are mixed, ``h~ = lam h + (1 - lam) h[pi]``, and the
  output layer maps ``h~`` to the logits; ``w = lam``; ``mixup_alpha = 2`` (Verma et al.'s CIFAR
  setting). Our variant: imbjax's models expose only their penultimate features, so the mixed layer is
  always the input of the output layer, where Verma et al. draw the layer at random for every batch
  among the eligible ones (the input included). BatchNorm's statistics come from the clean batch.
* ``remix``: input mixup with Remix's label weight (:func:`imbjax.sampling.remix_label_weight`): ``w = 0``
  if ``n_{y_i} / n_{y_pi(i)} >= kappa`` and ``lam_i < remix_tau``, ``w = 1`` if ``n_{y_i} / n_{y_pi(i)} <=
  1 / kappa`` and ``1 - lam_i < remix_tau``, else ``lam_i``: the mixed label leans to the minority class;
  ``kappa = 3``, ``remix_tau = 0.5``, ``mixup_alpha = 1`` (Chou et al.), without re-sampling or DRW.
* ``mislas``: stage 1 input mixup (``mixup_alpha = 1``, the official CIFAR config); from step ``T =
  round(stage1_fraction * num_steps)`` the classifier is re-trained on the frozen body with class-balanced
  sampling and label-aware smoothing (:func:`imbjax.losses.label_aware_smoothing`): issue 18's target,
  ``1 - eps_y`` on the true class and ``eps_y / (C - 1)`` on each other class, with the concave
  ``eps_y = eps_tail + (eps_head - eps_tail) sin(pi r_y / 2)``, ``r_y = (n_y - n_min) / (n_max - n_min)``
  (the official code's default shape; its ``forward`` spreads ``eps_y / C`` over every class instead, the
  kernel's ``spread="all"``). As the official ``train_stage2.py``, stage 2 learns the stage-1 classifier
  ``W, b`` at ``lr * classifier_lr_factor`` together with LWS scales ``f`` (logits ``f * (W^T h + b)``,
  ``f`` from 1) at ``lr``, with the run's weight decay. Shifted BatchNorm (``shift_bn = 1``): the body runs
  in training mode in stage 2, so its running averages are re-estimated on the class-balanced batches while
  its weights stay frozen (the official ``shift_bn``: ``model.train()``); a model without BatchNorm (the
  MLP, GroupNorm ResNets) has no running averages and is unaffected, so there MiSLAS is mixup, then
  label-aware smoothing with LWS re-training. Defaults from the official CIFAR-10-LT (rho 100) configs:
  ``stage1_fraction = 200 / 210`` (200 mixup epochs, then 10), ``eps_head = 0.3``, ``eps_tail = 0``,
  ``classifier_lr_factor = 0.5``; that config turns ``shift_bn`` off, the CIFAR-100-LT and ImageNet-LT ones
  on, the default here. The classifier stage restarts the run's learning-rate schedule (the official: a
  cosine over the 10 epochs).

Prediction: ``softmax(z)`` (``softmax(f * z)`` for MiSLAS).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax import losses, sampling
from imbjax.engine.program import Family
from imbjax.methods.stagewise import (
    Mixing,
    StagePlan,
    classifier_stage,
    scaled_softmax,
    stagewise_method,
    stagewise_program,
)
from imbjax.methods.standard import ros_sampler

FAMILY = "mixup"
ZHANG = "Zhang et al. 2018 (mixup, ICLR)"
VERMA = "Verma et al. 2019 (manifold mixup, ICML)"
CHOU = "Chou et al. 2020 (Remix, ECCV workshops)"
ZHONG = "Zhong et al. 2021 (MiSLAS, CVPR)"


def input_mixing(key, labels, class_counts, hparams) -> Mixing:
    """Mixup's mixing: a random permutation of the batch, ``lam_i ~ Beta(alpha, alpha)`` with ``alpha =
    hparams["mixup_alpha"]``, label weight ``lam``."""
    del class_counts
    lam_key, partner_key = jax.random.split(key)
    lam = sampling.mixing_weights(lam_key, labels.shape[0], hparams["mixup_alpha"])
    return Mixing(sampling.mixing_partners(partner_key, labels.shape[0]), lam, lam)


def remix_mixing(key, labels, class_counts, hparams) -> Mixing:
    """Remix: :func:`input_mixing` with the label weight :func:`imbjax.sampling.remix_label_weight` of
    the two examples' class sizes (``kappa``, ``remix_tau``)."""
    mixing = input_mixing(key, labels, class_counts, hparams)
    weight = sampling.remix_label_weight(mixing.lam, class_counts[labels], class_counts[labels[mixing.partners]],
                                         kappa=hparams["kappa"], tau=hparams["remix_tau"])
    return mixing._replace(label_weight=weight)


def stage1_fraction(hparams):
    return hparams["stage1_fraction"]


def mislas_stage(hparams):
    """MiSLAS's stage 2: ``W, b`` at ``lr * classifier_lr_factor`` and the scales ``f`` at ``lr``."""
    return classifier_stage(head_lr_factor=hparams["classifier_lr_factor"], scales_lr_factor=1.0,
                            weight_decay=hparams["weight_decay"], shift_bn=hparams["shift_bn"])


def label_aware_smoothing_mean(logits, labels, ctx):
    """The batch mean of MiSLAS's label-aware smoothing loss (concave ``eps_y``, issue 18's target)."""
    return jnp.mean(losses.label_aware_smoothing(logits, labels, class_counts=ctx.class_counts,
                                                 eps_head=ctx.hparams["eps_head"], eps_tail=ctx.hparams["eps_tail"],
                                                 shape="concave"))


FAMILIES = (Family(FAMILY, stagewise_program),)

METHODS = (
    stagewise_method("mixup", FAMILY, {"mixup_alpha": 1.0}, f"{ZHANG}: input mixup, Beta(1, 1) per example",
                     plan=StagePlan(mixing=input_mixing)),
    stagewise_method("manifold_mixup", FAMILY, {"mixup_alpha": 2.0},
                         f"{VERMA}: mixup of the penultimate features (the only hidden layer imbjax's models expose), "
                         "Beta(2, 2) per example",
                     plan=StagePlan(mixing=input_mixing, mixes_features=True)),
    stagewise_method("remix", FAMILY, {"mixup_alpha": 1.0, "kappa": 3.0, "remix_tau": 0.5},
                         f"{CHOU}: input mixup whose label leans to the minority class (kappa 3, tau 0.5)",
                     plan=StagePlan(mixing=remix_mixing)),
    stagewise_method("mislas", FAMILY,
                         {"mixup_alpha": 1.0, "stage1_fraction": 200 / 210, "eps_head": 0.3, "eps_tail": 0.0,
                          "classifier_lr_factor": 0.5, "shift_bn": 1.0},
                         f"{ZHONG}: mixup, then the classifier and LWS scales re-trained with label-aware smoothing, "
                         "class-balanced sampling and shifted BatchNorm statistics for the last 10 of 210 epochs",
                         loss=label_aware_smoothing_mean, postprocess=scaled_softmax,
                     plan=StagePlan(stage1_fraction=stage1_fraction, second_sampler=ros_sampler, classifier=mislas_stage,
                  mixing=input_mixing)),
)
