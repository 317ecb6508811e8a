"""Cross-entropy-family losses: CE, cost-sensitive CE (CSDNN) and focal loss.

optax style: ``loss(logits, labels, *, hyper-parameters)`` returns one value per example
(``float[batch]``); reduce it yourself. Hyper-parameters may be traced arrays (sweep axes).

Cost matrices follow the survey's Table 2 (Elkan 2001): ``cost_matrix[i, j]`` is the cost of
*predicting* class ``i`` when the *true* class is ``j``; for binary data class 1 is the positive
(minority) class, so ``C[1, 0]`` is the false-positive cost and ``C[0, 1]`` the false-negative cost.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from imbjax.losses._checks import check_in_range


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


def _num_classes_of(cost_matrix: jax.Array) -> int:
    shape = jnp.shape(cost_matrix)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
        raise ValueError(f"cost_matrix must be square [classes, classes] with classes >= 2, got shape {shape}")
    return shape[0]


def misclassification_costs(cost_matrix: jax.Array) -> jax.Array:
    """Mean cost of misclassifying an example of each true class: ``float[classes]``.

    ``w_j = sum_{i != j} C[i, j] / (K - 1)`` (column ``j`` of the cost matrix without its diagonal).
    """
    num_classes = _num_classes_of(cost_matrix)
    cost_matrix = jnp.asarray(cost_matrix, jnp.float32)
    off_diagonal = jnp.sum(cost_matrix, axis=0) - jnp.diagonal(cost_matrix)
    return off_diagonal / (num_classes - 1)


def cost_sensitive_ce(logits: jax.Array, labels: jax.Array, *, cost_matrix: jax.Array) -> jax.Array:
    """Cost-sensitive cross-entropy with a fixed cost matrix (CSDNN, Wang et al. 2018; survey Table 2).

    ``loss_i = w_{y_i} * CE_i`` with ``w_j = sum_{i != j} C[i, j] / (K - 1)``: every example is weighted
    by the mean cost of misclassifying its true class. For binary data ``w_1 = C[0, 1]`` (false-negative
    cost) and ``w_0 = C[1, 0]`` (false-positive cost), which is exactly the cost-weighted CE; a cost
    matrix with all off-diagonal costs 1 gives plain CE. The diagonal (cost of a correct prediction)
    is ignored.

    Args:
      logits: ``[batch, classes]``.
      labels: ``int[batch]``.
      cost_matrix: ``[classes, classes]``, ``C[i, j]`` = cost of predicting ``i`` when the truth is ``j``.

    Returns:
      ``float[batch]``.
    """
    if _num_classes_of(cost_matrix) != logits.shape[-1]:
        raise ValueError(f"cost_matrix has shape {jnp.shape(cost_matrix)} but logits have {logits.shape[-1]} classes")
    return misclassification_costs(cost_matrix)[labels] * cross_entropy(logits, labels)


def cost_threshold(cost_matrix: jax.Array) -> jax.Array:
    """Bayes-optimal probability threshold for the positive class of a binary cost matrix (Elkan 2001).

    Predict positive (class 1) iff ``P(y = 1 | x) >= p*`` with

        ``p* = (C[1, 0] - C[0, 0]) / (C[1, 0] - C[0, 0] + C[0, 1] - C[1, 1])``,

    which is survey Eq. 10, ``p* = c_10 / (c_10 + c_01)``, when the diagonal is zero (the survey's usual
    case). The survey's Table 2 writes ``C(i, j)`` for predicting ``i`` when the truth is ``j`` -- the same
    orientation as ``cost_matrix[i, j]`` here -- so ``c_10`` is the false-positive cost and ``c_01`` the
    false-negative cost. Equal costs give ``p* = 1/2``; a false negative ``r`` times as costly as a false
    positive gives ``p* = 1 / (1 + r)``.

    Args:
      cost_matrix: ``[2, 2]``.

    Returns:
      scalar ``float32``.
    """
    if _num_classes_of(cost_matrix) != 2:
        raise ValueError(f"cost_threshold needs a binary [2, 2] cost_matrix, got shape {jnp.shape(cost_matrix)}")
    c = jnp.asarray(cost_matrix, jnp.float32)
    false_positive = c[1, 0] - c[0, 0]
    false_negative = c[0, 1] - c[1, 1]
    return false_positive / (false_positive + false_negative)


def minority_classes(class_counts: jax.Array) -> jax.Array:
    """``bool[classes]``: the classes with fewer examples than the largest class (empty ones included)."""
    counts = jnp.asarray(class_counts)
    return counts < jnp.max(counts)


def minority_cost_matrix(class_counts: jax.Array, *, cost_ratio) -> jax.Array:
    """Cost matrix in which misclassifying a minority-class example costs ``cost_ratio``, others 1.

    A minority class is one with fewer examples than the largest class (an empty class counts as
    minority). ``C[i, j] = 0`` for ``i == j``, ``cost_ratio`` if class ``j`` is minority, else 1.
    With :func:`cost_sensitive_ce` this weights minority examples by ``cost_ratio``.

    Args:
      class_counts: ``[classes]`` examples per class (may be traced).
      cost_ratio: scalar >= 0 (may be traced).

    Returns:
      ``float32[classes, classes]``.
    """
    check_in_range("cost_ratio", cost_ratio, low=0.0, high=float("inf"))
    minority = minority_classes(class_counts)
    column_cost = jnp.where(minority, jnp.asarray(cost_ratio, jnp.float32), 1.0)
    return jnp.where(jnp.eye(minority.shape[0], dtype=bool), 0.0, column_cost[None, :])


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
