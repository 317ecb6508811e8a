"""Cross-entropy-family losses: CE and focal loss (the cost-sensitive ones are in
:mod:`imbjax.losses.cost_sensitive`).

optax style: ``loss(logits, labels, *, hyper-parameters)`` returns one value per example
(``float[batch]``); reduce it yourself. Hyper-parameters may be traced arrays (sweep axes).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from imbjax.losses._checks import check_in_range

#: The public kernels, exported by :mod:`imbjax.losses`.
__all__ = ["cross_entropy", "focal_loss", "minority_classes", "sigmoid_focal_loss"]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Softmax cross-entropy with integer labels, ``CE_i = logsumexp(z_i) - z_{i, y_i}``.

    Same as ``optax.losses.softmax_cross_entropy_with_integer_labels``.

    Args:
      logits: ``[batch, classes]``.
      labels: ``int[batch]`` in ``[0, classes)``.

    Returns:
      ``float[batch]``.
    """
    return optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels)


def minority_classes(class_counts: jax.Array) -> jax.Array:
    """``bool[classes]``: the classes with fewer examples than the largest class (empty ones included)."""
    counts = jnp.asarray(class_counts)
    return counts < jnp.max(counts)


def _focal(log_p_true: jax.Array, log_one_minus_p_true: jax.Array, gamma) -> jax.Array:
    """``-(1 - p_t)^gamma log p_t`` from ``log p_t`` and ``log(1 - p_t)`` (Lin et al. 2017; survey Eq. 16 without alpha)."""
    check_in_range("gamma", gamma, low=0.0, high=float("inf"))
    return -jnp.exp(gamma * log_one_minus_p_true) * log_p_true


def _class_weight(weights, labels: jax.Array) -> jax.Array:
    """A scalar weight, or a per-class ``[classes]`` weight looked up at ``labels``."""
    weights = jnp.asarray(weights, jnp.float32)
    return weights if weights.ndim == 0 else weights[labels]


def focal_loss(logits: jax.Array, labels: jax.Array, *, gamma=2.0, alpha=1.0) -> jax.Array:
    """Softmax (multi-class) focal loss, ``FL_i = -alpha_t (1 - p_t)^gamma log p_t`` (Lin et al. 2017; survey Eq. 16).

    ``p_t = softmax(z_i)[y_i]``, ``log p_t = -CE_i`` (:func:`cross_entropy`) and ``1 - p_t = -expm1(log p_t)``;
    ``1 - p_t`` is clipped below at the smallest normal float so that ``log(1 - p_t)`` is finite when
    ``p_t`` rounds to 1 (the modulating factor is then ~0 and its gradient exactly 0, which is the limit).
    ``gamma = 0`` and ``alpha = 1`` give plain CE, with finite gradients.

    The alpha convention: ``alpha_t`` is the weight of example ``i``'s **true class**. A scalar
    ``alpha`` weights every example alike (``alpha = 1``, the default: no weighting, the unweighted
    focal loss); a vector ``alpha: [classes]`` gives ``alpha_t = alpha[y_i]``. Lin et al.'s
    ``alpha_t`` is defined for two classes: ``alpha`` for the positive (rare, foreground) class 1 and
    ``1 - alpha`` for the negative class 0, i.e. the vector ``[1 - alpha, alpha]`` here (and
    :func:`sigmoid_focal_loss`'s ``alpha``); their RetinaNet setting ``alpha = 0.25`` weights the rare
    class one third as much as the frequent one.

    Args:
      logits: ``[batch, classes]``.
      labels: ``int[batch]``.
      gamma: focusing parameter >= 0, scalar.
      alpha: a scalar (a weight for every example) or a per-class weight ``[classes]``; ``alpha_t = alpha[y_i]``.

    Returns:
      ``float[batch]``.
    """
    log_p_true = -cross_entropy(logits, labels)
    smallest = jnp.finfo(log_p_true.dtype).tiny
    log_one_minus_p_true = jnp.log(jnp.maximum(-jnp.expm1(log_p_true), smallest))
    return _class_weight(alpha, labels) * _focal(log_p_true, log_one_minus_p_true, gamma)


def sigmoid_focal_loss(logits: jax.Array, labels: jax.Array, *, alpha=None, gamma=2.0) -> jax.Array:
    """Sigmoid (binary, element-wise) focal loss of Lin et al. 2017 (RetinaNet), survey Eq. 16.

    ``FL = -alpha_t (1 - p_t)^gamma log p_t`` with ``p = sigmoid(z)``, ``p_t = p`` if ``y = 1`` else
    ``1 - p``, and ``alpha_t = alpha`` if ``y = 1`` else ``1 - alpha``. Computed in log space:
    ``log p_t = log_sigmoid(s z)``, ``log(1 - p_t) = log_sigmoid(-s z)``, ``s = 2y - 1``.

    Equals ``optax.losses.sigmoid_focal_loss(logits, labels, alpha=alpha, gamma=gamma)`` for labels in
    {0, 1} (optax also accepts soft labels in [0, 1]; this function does not). The default
    ``alpha=None`` means no alpha weighting, as in optax (checked in optax 0.2.8's source); torchvision's
    ``sigmoid_focal_loss`` defaults to ``alpha=0.25``, RetinaNet's published setting.

    Args:
      logits: ``[...]``, e.g. ``[batch]`` or ``[batch, classes]`` (one-vs-rest).
      labels: ``{0, 1}``, broadcastable to ``logits``.
      alpha: ``None`` (no weighting) or a weight in [0, 1] for positives (negatives get ``1 - alpha``):
        ``alpha = 0.5`` halves every term, ``alpha = 1`` drops the negatives' terms.
      gamma: focusing parameter >= 0.

    Returns:
      same shape as ``logits``.
    """
    check_in_range("alpha", alpha, low=0.0, high=1.0, high_inclusive=True)
    labels = jnp.asarray(labels, logits.dtype)
    signed_logits = (2.0 * labels - 1.0) * logits
    loss = _focal(jax.nn.log_sigmoid(signed_logits), jax.nn.log_sigmoid(-signed_logits), gamma)
    if alpha is None:
        return loss
    return (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss
