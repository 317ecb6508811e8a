"""Re-weighted and margin/logit-adjusted losses for long-tailed data.

* class-balanced loss (Cui et al. 2019): weight ``(1 - beta) / (1 - beta^{n_y})``;
* LDAM with deferred re-weighting (Cao et al. 2019): margin ``Delta_j ∝ n_j^{-1/4}`` on the true logit;
* logit adjustment (Menon et al. 2021) and balanced softmax (Ren et al. 2020): CE on ``z + tau log pi``.

``class_counts: [classes]`` are the training-subset sizes (may be traced). Everywhere in this module an
**empty class is treated as a class with one example** (``n_j -> max(n_j, 1)``): its class-balanced
weight and LDAM margin are those of a singleton class and its log prior is ``log(1 / N)``, so no
value is infinite. An empty class never occurs as a label, so this only affects normalisations and
the logits of post-hoc adjustment.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax.losses._checks import check_in_range
from imbjax.losses.classification import _class_weight, cross_entropy, focal_loss

#: The public kernels, exported by :mod:`imbjax.losses`.
__all__ = [
    "balanced_softmax_loss",
    "class_balanced_ce",
    "class_balanced_focal",
    "class_balanced_weights",
    "drw_weights",
    "ldam_loss",
    "ldam_margins",
    "log_class_prior",
    "logit_adjust_posthoc",
    "logit_adjusted_loss",
]


def _nonempty_counts(class_counts: jax.Array) -> jax.Array:
    return jnp.maximum(jnp.asarray(class_counts, jnp.float32), 1.0)


def class_balanced_weights(class_counts: jax.Array, *, beta) -> jax.Array:
    """Class-balanced weights of Cui et al. 2019, ``float32[classes]``.

    ``w_j = (1 - beta) / (1 - beta^{n_j})`` (the inverse effective number of samples), normalised so that
    ``sum_j w_j = classes``. ``beta = 0`` gives all ones; ``beta -> 1`` approaches inverse class
    frequency. ``n_j = 0`` is treated as 1.

    Args:
      class_counts: ``[classes]``.
      beta: scalar in [0, 1) (may be traced).
    """
    check_in_range("beta", beta, low=0.0, high=1.0)
    counts = _nonempty_counts(class_counts)
    beta = jnp.asarray(beta, jnp.float32)
    one_minus_beta_to_n = -jnp.expm1(counts * jnp.log(beta))  # 1 - beta^n, accurate for beta near 1
    weights = (1.0 - beta) / one_minus_beta_to_n
    return weights * (counts.shape[0] / jnp.sum(weights))


def class_balanced_ce(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array, beta=0.9999) -> jax.Array:
    """Class-balanced softmax CE (Cui et al. 2019): ``w_{y_i} CE_i`` with :func:`class_balanced_weights`.

    Args:
      logits: ``[batch, classes]``; labels: ``int[batch]``; class_counts: ``[classes]``; beta: in [0, 1).

    Returns:
      ``float[batch]``.
    """
    return class_balanced_weights(class_counts, beta=beta)[labels] * cross_entropy(logits, labels)


def class_balanced_focal(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array, beta=0.9999,
                         gamma=1.0) -> jax.Array:
    """Class-balanced focal loss (Cui et al. 2019), **softmax** form: :func:`focal_loss` with per-class
    ``alpha = class_balanced_weights(class_counts, beta)``.

    Cui et al. apply the weights to the *sigmoid* focal loss (one-vs-rest over classes, with ``gamma`` tuned
    over {0.5, 1, 2}); this softmax form keeps the single-label output of the other
    losses here. For the sigmoid form weight :func:`~imbjax.losses.sigmoid_focal_loss` yourself.

    Returns:
      ``float[batch]``.
    """
    return focal_loss(logits, labels, gamma=gamma, alpha=class_balanced_weights(class_counts, beta=beta))


def ldam_margins(class_counts: jax.Array, *, max_margin=0.5) -> jax.Array:
    """LDAM margins ``Delta_j = C / n_j^{1/4}`` with ``C`` chosen so that ``max_j Delta_j = max_margin``.

    Cao et al. 2019 and their code (``m_list * (max_m / max(m_list))``); ``n_j = 0`` is treated
    as 1. Returns ``float32[classes]``.
    """
    check_in_range("max_margin", max_margin, low=0.0, high=float("inf"))
    inverse_fourth_root = _nonempty_counts(class_counts) ** -0.25
    return max_margin * inverse_fourth_root / jnp.max(inverse_fourth_root)


def ldam_loss(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array, max_margin=0.5, scale=30.0,
              weights=1.0) -> jax.Array:
    """Label-distribution-aware margin loss (Cao et al. 2019), with their code's scale ``s``.

    ``loss_i = w_{y_i} CE(s (z_i - Delta_{y_i} e_{y_i}), y_i)``: the true-class logit is lowered by the
    class margin :func:`ldam_margins`, then all logits are multiplied by ``scale`` ``s``, and the example
    is weighted by ``weights`` (a scalar or ``[classes]``; pass :func:`drw_weights` for LDAM-DRW). This
    is the official ``LDAMLoss`` (kaidic/LDAM-DRW, losses.py: ``cross_entropy(s * where(index, x - m, x))``)
    per example. Cao et al. feed it **cosine similarities** ``z_ij = cos(h_i, w_j)`` from a normalised
    classifier (``imbjax.layers.NormedLinear``, a model's ``head="cosine"``), with ``s = 30``, so that the
    margin ``Delta_j <= max_margin`` is measured on the cosine scale ``[-1, 1]``; on unnormalised logits
    the margin has no fixed scale. ``max_margin = 0, scale = 1, weights = 1`` give plain CE. The weight
    multiplies each example's CE; PyTorch's weighted ``cross_entropy`` with mean reduction (the official
    code's batch loss) divides the batch's sum by the batch's summed weights instead.

    Args:
      logits: ``[batch, classes]``, cosines in ``[-1, 1]`` for the paper's method.
      labels: ``int[batch]``; class_counts: ``[classes]``.
      max_margin: largest margin (of the smallest class), >= 0.
      scale: logit scale ``s`` > 0.
      weights: scalar or ``[classes]``.

    Returns:
      ``float[batch]``.
    """
    margins = ldam_margins(class_counts, max_margin=max_margin)
    true_class = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    adjusted = scale * (logits - margins[labels][..., None] * true_class)
    return _class_weight(weights, labels) * cross_entropy(adjusted, labels)


def drw_weights(class_counts: jax.Array, step, *, start_step, beta=0.9999) -> jax.Array:
    """Deferred re-weighting (Cao et al. 2019): ones before ``start_step``, class-balanced weights from it on.

    ``step`` and ``start_step`` may be traced (e.g. the step counter inside a ``lax.scan``).
    Returns ``float32[classes]``.
    """
    balanced = class_balanced_weights(class_counts, beta=beta)
    return jnp.where(step >= start_step, balanced, jnp.ones_like(balanced))


def log_class_prior(class_counts: jax.Array) -> jax.Array:
    """``log pi_j = log(n_j / sum_k n_k)`` with empty classes counted as one example: ``float32[classes]``."""
    counts = _nonempty_counts(class_counts)
    return jnp.log(counts) - jnp.log(jnp.sum(counts))


def logit_adjusted_loss(logits: jax.Array, labels: jax.Array, *, log_prior: jax.Array, tau=1.0) -> jax.Array:
    """Logit-adjusted softmax CE (Menon et al. 2021): ``CE(z_i + tau log pi, y_i)``.

    ``tau = 0`` gives plain CE. Get ``log_prior`` from :func:`log_class_prior`.

    Args:
      logits: ``[batch, classes]``; labels: ``int[batch]``; log_prior: ``[classes]``; tau: scalar.

    Returns:
      ``float[batch]``.
    """
    return cross_entropy(logits + tau * log_prior, labels)


def logit_adjust_posthoc(logits: jax.Array, *, log_prior: jax.Array, tau=1.0) -> jax.Array:
    """Post-hoc logit adjustment (Menon et al. 2021): predict ``argmax_j z_j - tau log pi_j``.

    Args:
      logits: ``[batch, classes]``; log_prior: ``[classes]``; tau: scalar.

    Returns:
      adjusted logits ``[batch, classes]``.
    """
    return logits - tau * log_prior


def balanced_softmax_loss(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array) -> jax.Array:
    """Balanced softmax (Ren et al. 2020): ``CE(z_i + log n, y_i)``, i.e. softmax with
    ``n_j exp(z_j) / sum_k n_k exp(z_k)``.

    Equal to :func:`logit_adjusted_loss` with ``tau = 1`` (``log n`` and ``log pi`` differ by a constant).
    ``n_j = 0`` is treated as 1.

    Returns:
      ``float[batch]``.
    """
    return logit_adjusted_loss(logits, labels, log_prior=jnp.log(_nonempty_counts(class_counts)), tau=1.0)
