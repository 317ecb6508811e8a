"""Registers the loss-based methods: focal, MSE/MFE/MSFE, class-balanced, LDAM(-DRW), logit adjustment,
balanced softmax. Importing this module adds them to :mod:`imbjax.methods`' registry.

Every method here trains with the standard loop (family ``"standard"``); only the loss and, for the
post-hoc, the squared-error and the LDAM methods, the prediction probabilities differ. LDAM and
LDAM-DRW also replace the model's output layer by a cosine classifier (``model_kwargs``:
``head="cosine"``), so they train in a program of their own. Each loss is the batch
mean of the per-example kernel in :mod:`imbjax.losses` (MFE and MSFE are batch losses themselves;
LDAM-DRW's is the weighted mean of the official code). Hyper-parameters are read from
``ctx.hparams`` (scalars, sweepable) with the papers' defaults, except focal's ``alpha = 1`` (no
class weighting; :func:`focal_mean` says how Lin et al.'s ``alpha = 0.25`` maps onto it).
"""
from __future__ import annotations

import math
from types import MappingProxyType

import jax
import jax.numpy as jnp

from imbjax import losses
from imbjax.methods import Method, mean_ce, register

LIN = "Lin et al. 2017 (RetinaNet focal loss), survey Eq. 16"
WANG_2016 = "Wang et al. 2016 (IJCNN), survey Eqs. 12-15"
CUI = "Cui et al. 2019 (class-balanced loss, CVPR)"
CAO = "Cao et al. 2019 (LDAM-DRW, NeurIPS)"
MENON = "Menon et al. 2021 (logit adjustment, ICLR)"
REN = "Ren et al. 2020 (balanced softmax, NeurIPS)"


def focal_mean(logits, labels, ctx):
    """Softmax focal loss (:func:`imbjax.losses.focal_loss`) with a class weight on the minority classes:
    ``alpha_t = alpha`` if the true class is a minority class (fewer examples than the largest class),
    else 1.

    ``alpha = 1`` (the default) is no weighting: the unweighted focal loss, plain CE at ``gamma = 0``.
    ``alpha < 1`` down-weights the minority classes, ``alpha > 1`` up-weights them. Lin et al.'s
    ``alpha_t`` (``alpha`` for the rare class, ``1 - alpha`` for the frequent one) is this weighting with
    ``alpha_here = alpha_Lin / (1 - alpha_Lin)`` times the overall factor ``1 - alpha_Lin``: RetinaNet's
    ``alpha_Lin = 0.25`` is ``alpha = 1/3`` here (minority classes weighted one third), which works against
    re-balancing; their detector needed it because ``gamma`` already down-weights the easy, frequent
    background. Our variant: the weight is ``(alpha, 1)`` instead of ``(alpha, 1 - alpha)`` so that the
    value with no weighting is 1."""
    alpha_t = jnp.where(losses.minority_classes(ctx.class_counts), ctx.hparams["alpha"], 1.0)
    return jnp.mean(losses.focal_loss(logits, labels, gamma=ctx.hparams["gamma"], alpha=alpha_t))


def mse_mean(logits, labels, ctx):
    """MSE of sigmoid outputs against one-hot targets (Wang et al.'s baseline)."""
    del ctx
    return jnp.mean(losses.mse_loss(logits, labels, activation="sigmoid"))


def mfe(logits, labels, ctx):
    """Mean false error of sigmoid outputs, the per-class form (the paper's FPE + FNE for two classes)."""
    del ctx
    return losses.mfe_loss(logits, labels, activation="sigmoid")


def msfe(logits, labels, ctx):
    """Mean squared false error of sigmoid outputs, the per-class form (FPE^2 + FNE^2 for two classes)."""
    del ctx
    return losses.msfe_loss(logits, labels, activation="sigmoid")


def sigmoid_probabilities(logits, ctx):
    """Sigmoid outputs normalised to sum to one: the class probabilities of a network trained with
    squared error on sigmoid units (each output estimates ``P(y = c | x)``)."""
    del ctx
    outputs = jax.nn.sigmoid(logits)
    return outputs / jnp.sum(outputs, axis=-1, keepdims=True)


def class_balanced_ce_mean(logits, labels, ctx):
    return jnp.mean(losses.class_balanced_ce(logits, labels, class_counts=ctx.class_counts,
                                             beta=ctx.hparams["beta"]))


def class_balanced_focal_mean(logits, labels, ctx):
    return jnp.mean(losses.class_balanced_focal(logits, labels, class_counts=ctx.class_counts,
                                                beta=ctx.hparams["beta"], gamma=ctx.hparams["gamma"]))


def ldam_mean(logits, labels, ctx):
    """Cao et al.'s LDAM loss of the cosine classifier's outputs: the batch mean of
    :func:`imbjax.losses.ldam_loss` (the official ``LDAMLoss`` without weights). ``logits`` are the
    cosines ``cos(h, w_j)`` of the model's ``head="cosine"`` (the method's ``model_kwargs``)."""
    return jnp.mean(losses.ldam_loss(logits, labels, class_counts=ctx.class_counts,
                                     max_margin=ctx.hparams["max_margin"], scale=ctx.hparams["scale"]))


def ldam_drw_mean(logits, labels, ctx):
    """LDAM with deferred re-weighting from step ``drw_start * num_steps`` on, reduced as the official
    code's weighted ``cross_entropy``: ``sum_i w_{y_i} l_i / sum_i w_{y_i}`` over the batch (the plain
    mean before re-weighting starts, when every weight is 1)."""
    weights = losses.drw_weights(ctx.class_counts, ctx.step, start_step=ctx.hparams["drw_start"] * ctx.num_steps,
                                 beta=ctx.hparams["beta"])
    weighted = losses.ldam_loss(logits, labels, class_counts=ctx.class_counts, max_margin=ctx.hparams["max_margin"],
                                scale=ctx.hparams["scale"], weights=weights)
    return jnp.sum(weighted) / jnp.sum(weights[labels])


def ldam_probabilities(logits, ctx):
    """``softmax(s cos)``, ``s = hparams["scale"]``: the probabilities of the classifier LDAM trains (its
    loss is the CE of the scaled, margin-shifted cosines; no margin at test time). Same argmax as the
    cosines, which the official code predicts with."""
    return jax.nn.softmax(ctx.hparams["scale"] * logits, axis=-1)


def logit_adjusted_mean(logits, labels, ctx):
    return jnp.mean(losses.logit_adjusted_loss(logits, labels, log_prior=losses.log_class_prior(ctx.class_counts),
                                               tau=ctx.hparams["tau"]))


def logit_adjusted_probabilities(logits, ctx):
    """Softmax of the post-hoc adjusted logits ``z - tau log pi``."""
    adjusted = losses.logit_adjust_posthoc(logits, log_prior=losses.log_class_prior(ctx.class_counts),
                                           tau=ctx.hparams["tau"])
    return jax.nn.softmax(adjusted, axis=-1)


def balanced_softmax_mean(logits, labels, ctx):
    return jnp.mean(losses.balanced_softmax_loss(logits, labels, class_counts=ctx.class_counts))


register(Method("focal", loss=focal_mean, hparams={"gamma": 2.0, "alpha": 1.0},
                bounds={"gamma": (0.0, math.inf), "alpha": (1e-6, math.inf)},
                reference=f"{LIN}; softmax form, weight alpha on minority classes and 1 on the others "
                          "(alpha = 1: no weighting; Lin et al.'s alpha = 0.25 is alpha = 1/3 here)"))
register(Method("mse", loss=mse_mean, postprocess=sigmoid_probabilities,
                reference=f"{WANG_2016}: the MSE baseline, sigmoid outputs"))
register(Method("mfe", loss=mfe, postprocess=sigmoid_probabilities, reference=f"{WANG_2016}: MFE, Eq. 14"))
register(Method("msfe", loss=msfe, postprocess=sigmoid_probabilities, reference=f"{WANG_2016}: MSFE, Eq. 15"))
register(Method("cb_ce", loss=class_balanced_ce_mean, hparams={"beta": 0.9999}, bounds={"beta": (0.0, 1 - 1e-12)},
                reference=f"{CUI}; softmax CE"))
register(Method("cb_focal", loss=class_balanced_focal_mean, hparams={"beta": 0.9999, "gamma": 1.0},
                bounds={"beta": (0.0, 1 - 1e-12), "gamma": (0.0, math.inf)},
                reference=f"{CUI}; softmax focal (the paper's is sigmoid), gamma from its grid {{0.5, 1, 2}}"))
#: LDAM's model: the cosine classifier of Cao et al.'s code (``NormedLinear``, ``use_norm=True`` for LDAM).
COSINE_HEAD = MappingProxyType({"head": "cosine"})

register(Method("ldam", loss=ldam_mean, postprocess=ldam_probabilities, hparams={"max_margin": 0.5, "scale": 30.0},
                bounds={"max_margin": (0.0, math.inf), "scale": (1e-6, math.inf)}, model_kwargs=COSINE_HEAD,
                reference=f"{CAO}; LDAM without re-weighting, cosine classifier"))
register(Method("ldam_drw", loss=ldam_drw_mean, postprocess=ldam_probabilities,
                hparams={"max_margin": 0.5, "scale": 30.0, "drw_start": 0.8, "beta": 0.9999},
                bounds={"max_margin": (0.0, math.inf), "scale": (1e-6, math.inf), "drw_start": (0.0, 1.0),
                        "beta": (0.0, 1 - 1e-12)}, model_kwargs=COSINE_HEAD,
                reference=f"{CAO}; cosine classifier, class-balanced re-weighting from 80% of the steps "
                          "(epoch 160 of 200)"))
register(Method("logit_adjusted", loss=logit_adjusted_mean, hparams={"tau": 1.0},
                reference=f"{MENON}; logit-adjusted loss, plain softmax at test time"))
register(Method("logit_adjust_posthoc", loss=mean_ce, postprocess=logit_adjusted_probabilities,
                hparams={"tau": 1.0}, reference=f"{MENON}; CE training, post-hoc logit adjustment"))
register(Method("balanced_softmax", loss=balanced_softmax_mean, reference=f"{REN}; plain softmax at test time"))
