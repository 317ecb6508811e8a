"""The loss-based methods (``METHODS``): focal, MSE/MFE/MSFE, class-balanced, LDAM(-DRW), logit
adjustment, balanced softmax, and the long-tail losses of the 2020s: VS, IB, LADE and GCL.

Every method here trains with the standard loop (family ``"standard"``); only the loss and, for the
post-hoc, the squared-error, the LDAM and the GCL methods, the prediction probabilities differ. LDAM,
LDAM-DRW and GCL also replace the model's output layer by a cosine classifier (``model_kwargs``:
``head="cosine"``), so they train in a program of their own. Each loss is the batch
mean of the per-example kernel in :mod:`imbjax.losses` (MFE, MSFE and LADE are batch losses themselves;
LDAM-DRW's is the weighted mean of the official code). Hyper-parameters are read from
``ctx.hparams`` (scalars, sweepable) with the papers' defaults, except focal's ``alpha = 1`` (no
class weighting; :func:`focal_mean` says how Lin et al.'s ``alpha = 0.25`` maps onto it). A paper's
epoch-based switch (DRW's, IB's warm-up) is the same fraction of the run's steps.
"""
from __future__ import annotations

import math
from types import MappingProxyType

import jax
import jax.numpy as jnp

from imbjax import losses
from imbjax.engine.method import Method, mean_ce
from imbjax.engine.streams import stream_key

LIN = "Lin et al. 2017 (RetinaNet focal loss), survey Eq. 16"
WANG_2016 = "Wang et al. 2016 (IJCNN), survey Eqs. 12-15"
CUI = "Cui et al. 2019 (class-balanced loss, CVPR)"
CAO = "Cao et al. 2019 (LDAM-DRW, NeurIPS)"
MENON = "Menon et al. 2021 (logit adjustment, ICLR)"
REN = "Ren et al. 2020 (balanced softmax, NeurIPS)"
KINI = "Kini et al. 2021 (VS loss, NeurIPS)"
PARK = "Park et al. 2021 (influence-balanced loss, ICCV)"
HONG = "Hong et al. 2021 (LADE, CVPR)"
LI_2022 = "Li et al. 2022 (Gaussian clouded logit adjustment, CVPR)"


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
    """``softmax(s cos)``, ``s = hparams["scale"]``: the probabilities of the classifier LDAM (and GCL)
    trains (its loss is the CE of the scaled, margin-shifted (clouded) cosines; no margin or cloud at
    test time). Same argmax as the cosines, which the official codes predict with."""
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


def vs_mean(logits, labels, ctx):
    """Kini et al.'s VS loss, ``mean_i CE(Delta * z_i + iota, y_i)`` with ``Delta_j = (n_j / n_max)^gamma``
    and ``iota_j = tau log pi_j`` (:func:`imbjax.losses.vs_loss`); predictions are ``softmax(z)``."""
    return jnp.mean(losses.vs_loss(logits, labels, class_counts=ctx.class_counts, gamma=ctx.hparams["gamma"],
                                   tau=ctx.hparams["tau"]))


def ib_has_started(ctx) -> jax.Array:
    """Whether IB's balancing phase has begun: ``step >= ib_start * num_steps``."""
    return ctx.step >= ctx.hparams["ib_start"] * ctx.num_steps


def ib_mean(logits, labels, ctx):
    """Park et al.'s two phases: plain CE (``mean_i CE_i``) before step ``ib_start * num_steps``, then the
    IB loss ``mean_i w_{y_i} CE_i * alpha / (||p_i - e_{y_i}||_1 ||h_i||_1 + 0.001)``
    (:func:`imbjax.losses.ib_loss`, ``h`` = ``ctx.features``, the penultimate features). The official
    script switches at epoch 100 of 200 (``ib_start = 0.5``), with ``alpha = 1000`` and the
    inverse-frequency weights of its README's ``IBReweight``, and trains the IB phase at 0.01 x the
    learning rate (:func:`ib_learning_rate`)."""
    balancing = jnp.mean(losses.ib_loss(logits, labels, features=ctx.features, class_counts=ctx.class_counts,
                                        alpha=ctx.hparams["ib_alpha"]))
    return jnp.where(ib_has_started(ctx), balancing, jnp.mean(losses.cross_entropy(logits, labels)))


def ib_learning_rate(ctx) -> jax.Array:
    """The learning-rate factor of IB's two phases: 1 before ``ib_start``, then ``ib_lr_factor``. The
    official ``cifar_train.py`` (``adjust_learning_rate``) trains the IB phase at ``0.01 x`` the rate the
    schedule gives (``lr * 0.01`` after epoch 100, ``* 1e-4`` after 160, ``* 1e-6`` after 180, against CE's
    ``lr``, ``* 0.01``, ``* 1e-4``): the balancing loss, ``alpha = 1000`` times CE over the influence, is a
    fine-tuning at a small rate, not a loss at the run's rate."""
    return jnp.where(ib_has_started(ctx), ctx.hparams["ib_lr_factor"], 1.0).astype(jnp.float32)


def lade_batch_loss(logits, labels, ctx):
    """Hong et al.'s LADE: ``mean_i CE(z_i + log pi, y_i) + lade_weight * LADER``
    (:func:`imbjax.losses.lade_loss`); predictions are ``softmax(z)`` (a uniform test distribution)."""
    return losses.lade_loss(logits, labels, class_counts=ctx.class_counts, weight=ctx.hparams["lade_weight"],
                            remine_lambda=ctx.hparams["remine_lambda"])


def gcl_mean(logits, labels, ctx):
    """GCL's stage-1 loss on the cosine classifier's outputs: the batch mean of
    :func:`imbjax.losses.gcl_loss` with margin 0 and ``gamma = 0`` (the official backbone stage's
    ``m = 0``, CE), ``s = hparams["scale"]``, ``noise_mul = hparams["noise_mul"]``. The step's noise
    ``delta`` is drawn from the run's key at this step (``ctx.key``), so every run and step draws its own."""
    key = stream_key(ctx.key, "gcl_noise")
    return jnp.mean(losses.gcl_loss(logits, labels, class_counts=ctx.class_counts, key=key,
                                    noise_mul=ctx.hparams["noise_mul"], scale=ctx.hparams["scale"]))


#: LDAM's model: the cosine classifier of Cao et al.'s code (``NormedLinear``, ``use_norm=True`` for LDAM).
COSINE_HEAD = MappingProxyType({"head": "cosine"})


METHODS = (
    Method("focal", loss=focal_mean, hparams={"gamma": 2.0, "alpha": 1.0},
           bounds={"gamma": (0.0, math.inf), "alpha": (1e-6, math.inf)},
           reference=f"{LIN}; softmax form, weight alpha on minority classes and 1 on the others "
                     "(alpha = 1: no weighting; Lin et al.'s alpha = 0.25 is alpha = 1/3 here)"),
    Method("mse", loss=mse_mean, postprocess=sigmoid_probabilities,
           reference=f"{WANG_2016}: the MSE baseline, sigmoid outputs"),
    Method("mfe", loss=mfe, postprocess=sigmoid_probabilities, reference=f"{WANG_2016}: MFE, Eq. 14"),
    Method("msfe", loss=msfe, postprocess=sigmoid_probabilities, reference=f"{WANG_2016}: MSFE, Eq. 15"),
    Method("cb_ce", loss=class_balanced_ce_mean, hparams={"beta": 0.9999}, bounds={"beta": (0.0, 1 - 1e-12)},
           reference=f"{CUI}; softmax CE"),
    Method("cb_focal", loss=class_balanced_focal_mean, hparams={"beta": 0.9999, "gamma": 1.0},
           bounds={"beta": (0.0, 1 - 1e-12), "gamma": (0.0, math.inf)},
           reference=f"{CUI}; softmax focal (the paper's is sigmoid), gamma from its grid {{0.5, 1, 2}}"),
    Method("ldam", loss=ldam_mean, postprocess=ldam_probabilities, hparams={"max_margin": 0.5, "scale": 30.0},
           bounds={"max_margin": (0.0, math.inf), "scale": (1e-6, math.inf)}, model_kwargs=COSINE_HEAD,
           reference=f"{CAO}; LDAM without re-weighting, cosine classifier"),
    Method("ldam_drw", loss=ldam_drw_mean, postprocess=ldam_probabilities,
           hparams={"max_margin": 0.5, "scale": 30.0, "drw_start": 0.8, "beta": 0.9999},
           bounds={"max_margin": (0.0, math.inf), "scale": (1e-6, math.inf), "drw_start": (0.0, 1.0),
                   "beta": (0.0, 1 - 1e-12)}, model_kwargs=COSINE_HEAD,
           reference=f"{CAO}; cosine classifier, class-balanced re-weighting from 80% of the steps "
                     "(epoch 160 of 200)"),
    Method("logit_adjusted", loss=logit_adjusted_mean, hparams={"tau": 1.0},
           reference=f"{MENON}; logit-adjusted loss, plain softmax at test time"),
    Method("logit_adjust_posthoc", loss=mean_ce, postprocess=logit_adjusted_probabilities,
           hparams={"tau": 1.0}, reference=f"{MENON}; CE training, post-hoc logit adjustment"),
    Method("balanced_softmax", loss=balanced_softmax_mean, reference=f"{REN}; plain softmax at test time"),
    Method("vs", loss=vs_mean, hparams={"gamma": 0.2, "tau": 1.0},
           bounds={"gamma": (0.0, math.inf), "tau": (0.0, math.inf)},
           reference=f"{KINI}; gamma 0.2, tau 1 (issue 18's defaults; the official script's CLI defaults are "
                     "gamma 0.3, tau 1); plain softmax at test time"),
    Method("ib", loss=ib_mean, learning_rate_factor=ib_learning_rate,
           hparams={"ib_alpha": 1000.0, "ib_start": 0.5, "ib_lr_factor": 0.01},
           bounds={"ib_alpha": (1e-6, math.inf), "ib_start": (0.0, 1.0), "ib_lr_factor": (0.0, math.inf)},
           reference=f"{PARK}; plain CE, then the IB loss with inverse-frequency weights from 50% of the "
                     "steps (epoch 100 of 200) at 0.01 x the run's learning rate (the official script's "
                     "adjust_learning_rate)"),
    Method("lade", loss=lade_batch_loss, hparams={"lade_weight": 0.1, "remine_lambda": 0.1},
           bounds={"lade_weight": (0.0, math.inf), "remine_lambda": (0.0, math.inf)},
           reference=f"{HONG}; LADE-CE + 0.1 LADER, remine_lambda 0.1 (official CIFAR-100-LT config); "
                     "plain softmax at test time"),
    Method("gcl", loss=gcl_mean, postprocess=ldam_probabilities, hparams={"noise_mul": 0.5, "scale": 30.0},
           bounds={"noise_mul": (0.0, math.inf), "scale": (1e-6, math.inf)}, model_kwargs=COSINE_HEAD,
           reference=f"{LI_2022}; our variant: stage 1 only (GCL loss on a cosine classifier, m 0, s 30, "
                     "noise_mul 0.5), without its mixup and without stage 2 (classifier re-training "
                     "with class-balanced sampling and the GCL focal loss); noise shared across runs "
                     "step by step"),
)
