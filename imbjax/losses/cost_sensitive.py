"""Cost-sensitive losses: a fixed cost matrix (CSDNN), Khan et al.'s cost-sensitive softmax and hinge (CoSen).

optax style: ``loss(logits, labels, *, costs)`` returns one value per example (``float[batch]``); reduce
it yourself. Costs may be traced arrays (sweep axes, or costs learned during training).

Cost matrices follow the package convention (:mod:`imbjax.losses`): ``costs[t, q]`` is the cost of
predicting class ``q`` for an example of **true class** ``t`` (row = true class, column = predicted
class, the layout of :func:`imbjax.metrics.confusion.confusion_matrix`). The survey's Table 2 (Elkan 2001)
writes the transpose, ``C(i, j)`` for predicting ``i`` when the truth is ``j``. Every function here
takes the matrix as the keyword ``costs``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax.losses._checks import check_in_range
from imbjax.losses.classification import cross_entropy, minority_classes

#: The public kernels, exported by :mod:`imbjax.losses`.
__all__ = [
    "cost_sensitive_ce",
    "cost_sensitive_hinge",
    "cost_sensitive_softmax_ce",
    "cost_threshold",
    "mean_misclassification_costs",
    "minority_cost_matrix",
]


def _num_classes_of(costs: jax.Array) -> int:
    shape = jnp.shape(costs)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
        raise ValueError(f"costs must be a square [classes, classes] matrix with classes >= 2, got shape {shape}")
    return shape[0]


def _check_classes(costs: jax.Array, logits: jax.Array) -> None:
    if _num_classes_of(costs) != logits.shape[-1]:
        raise ValueError(f"costs has shape {jnp.shape(costs)} but logits have {logits.shape[-1]} classes")


def mean_misclassification_costs(*, costs: jax.Array) -> jax.Array:
    """Mean cost of misclassifying an example of each true class: ``float32[classes]``.

    ``w_t = sum_{q != t} costs[t, q] / (K - 1)`` (row ``t`` of the cost matrix without its diagonal).
    """
    num_classes = _num_classes_of(costs)
    costs = jnp.asarray(costs, jnp.float32)
    off_diagonal = jnp.sum(costs, axis=1) - jnp.diagonal(costs)
    return off_diagonal / (num_classes - 1)


def cost_sensitive_ce(logits: jax.Array, labels: jax.Array, *, costs: jax.Array) -> jax.Array:
    """Cost-sensitive cross-entropy with a fixed cost matrix (CSDNN, Wang et al. 2018; survey Table 2).

    ``loss_i = w_{y_i} * CE_i`` with ``w_t = sum_{q != t} costs[t, q] / (K - 1)``
    (:func:`mean_misclassification_costs`): every example is weighted by the mean cost of misclassifying
    its true class. For binary data ``w_1 = costs[1, 0]`` (the false-negative cost, class 1 being the
    positive class) and ``w_0 = costs[0, 1]`` (the false-positive cost), which is exactly the
    cost-weighted CE; a cost matrix with all off-diagonal costs 1 gives plain CE. The diagonal (cost of
    a correct prediction) is ignored.

    Args:
      logits: ``[batch, classes]``.
      labels: ``int[batch]``.
      costs: ``[classes, classes]``, ``costs[t, q]`` = cost of predicting ``q`` when the truth is ``t``.

    Returns:
      ``float[batch]``.
    """
    _check_classes(costs, logits)
    return mean_misclassification_costs(costs=costs)[labels] * cross_entropy(logits, labels)


def cost_threshold(*, costs: jax.Array) -> jax.Array:
    """Bayes-optimal probability threshold for the positive class of a binary cost matrix (Elkan 2001).

    Predict positive (class 1) iff ``P(y = 1 | x) >= p*`` with

        ``p* = (costs[0, 1] - costs[0, 0]) / (costs[0, 1] - costs[0, 0] + costs[1, 0] - costs[1, 1])``,

    which is survey Eq. 10, ``p* = c_10 / (c_10 + c_01)``, when the diagonal is zero (the survey's usual
    case). The survey's Table 2 writes ``C(i, j)`` for predicting ``i`` when the truth is ``j``, the
    transpose of ``costs`` here, so its ``c_10 = costs[0, 1]`` is the false-positive cost and its
    ``c_01 = costs[1, 0]`` the false-negative cost. Equal costs give ``p* = 1/2``; a false negative
    ``r`` times as costly as a false positive gives ``p* = 1 / (1 + r)``.

    Args:
      costs: ``[2, 2]``, ``costs[t, q]`` = cost of predicting ``q`` when the truth is ``t``.

    Returns:
      scalar ``float32``.
    """
    if _num_classes_of(costs) != 2:
        raise ValueError(f"cost_threshold needs a binary [2, 2] cost matrix, got shape {jnp.shape(costs)}")
    c = jnp.asarray(costs, jnp.float32)
    false_positive = c[0, 1] - c[0, 0]
    false_negative = c[1, 0] - c[1, 1]
    return false_positive / (false_positive + false_negative)


def minority_cost_matrix(class_counts: jax.Array, *, cost_ratio) -> jax.Array:
    """Cost matrix in which misclassifying a minority-class example costs ``cost_ratio``, others 1.

    A minority class is one with fewer examples than the largest class (an empty class counts as
    minority; :func:`imbjax.losses.minority_classes`). ``costs[t, q] = 0`` for ``t == q``,
    ``cost_ratio`` if the true class ``t`` is a minority class, else 1. With :func:`cost_sensitive_ce`
    this weights minority examples by ``cost_ratio``.

    Args:
      class_counts: ``[classes]`` examples per class (may be traced).
      cost_ratio: scalar >= 0 (may be traced).

    Returns:
      ``float32[classes, classes]``, row = true class.
    """
    check_in_range("cost_ratio", cost_ratio, low=0.0, high=float("inf"))
    minority = minority_classes(class_counts)
    row_cost = jnp.where(minority, jnp.asarray(cost_ratio, jnp.float32), 1.0)
    return jnp.where(jnp.eye(minority.shape[0], dtype=bool), 0.0, row_cost[:, None])


def cost_sensitive_softmax_ce(logits: jax.Array, labels: jax.Array, *, costs: jax.Array) -> jax.Array:
    """Khan et al.'s cost-sensitive softmax cross-entropy (CoSen; Khan, Hayat, Bennamoun, Sohel & Togneri
    2018, IEEE TNNLS 29). With ``o`` the logits and ``p`` the true class::

        y_q = costs[p, q] exp(o_q) / sum_k costs[p, k] exp(o_k),      loss = -log y_p,

    i.e. the cross-entropy of the logits ``o + log costs[p]``. Only ratios within a row matter (scaling a
    row leaves the loss unchanged), so ``costs[p, p] = 1`` and an off-diagonal ``costs[p, q] > 1`` asks for
    a margin of ``log costs[p, q]`` between class p and class q on class-p examples. All ones: plain CE.

    Args:
      logits: ``[batch, classes]`` network outputs ``o``.
      labels: ``int[batch]`` true classes ``p``.
      costs: ``[classes, classes]`` positive costs, ``costs[p, q]`` for true class p and predicted class q.

    Returns:
      ``float[batch]``.
    """
    _check_classes(costs, logits)
    return cross_entropy(logits + jnp.log(costs)[labels], labels)


def cost_sensitive_hinge(logits: jax.Array, labels: jax.Array, *, costs: jax.Array) -> jax.Array:
    """Multi-class (Weston-Watkins) hinge loss of the cost-modified outputs ``a = o + log costs[p]``
    (Khan et al. 2018's CoSen, costs as log-margins)::

        loss = sum_{q != p} max(0, 1 + a_q - a_p),    a_q - a_p = o_q - o_p + log(costs[p, q] / costs[p, p]),

    a margin ``1 + log(costs[p, q] / costs[p, p])`` between the true class p and class q. Khan et al. also
    give an SVM hinge variant with costs scaling the outputs; here the costs enter the hinge the way they
    enter :func:`cost_sensitive_softmax_ce` (as log-margins), so one learned matrix means the same for both.

    Args:
      logits: ``[batch, classes]`` network outputs ``o``.
      labels: ``int[batch]`` true classes ``p``.
      costs: ``[classes, classes]`` positive costs, ``costs[p, q]`` for true class p and predicted class q.

    Returns:
      ``float[batch]``.
    """
    _check_classes(costs, logits)
    adjusted = logits + jnp.log(costs)[labels]
    true_score = jnp.take_along_axis(adjusted, labels[:, None], axis=1)
    violations = jnp.maximum(0.0, 1.0 + adjusted - true_score)
    return jnp.sum(jnp.where(jax.nn.one_hot(labels, logits.shape[-1], dtype=bool), 0.0, violations), axis=1)
