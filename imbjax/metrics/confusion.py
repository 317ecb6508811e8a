"""Confusion-matrix metrics (survey Eqs. 2-9), binary and multi-class, as jit/vmap-able kernels.

Conventions (scikit-learn's, with ``labels=range(num_classes)``):

* Arguments are ``(y_true, y_pred, *, num_classes, ...)``: ``y_true, y_pred: int[n]`` class indices
  in ``[0, num_classes)`` (checked when concrete; traced out-of-range labels give meaningless counts).
  ``num_classes``, ``average`` and ``pos_label`` are static Python values, e.g.
  ``jax.jit(functools.partial(f, num_classes=K, average="macro"))``; ``zero_division``, ``beta``,
  ``correction`` may be traced.
* ``confusion_matrix[i, j]`` counts examples of true class ``i`` predicted as ``j``. Class ``k``'s
  one-vs-rest counts are ``tp = C[k, k]``, ``fp = sum_i C[i, k] - tp``, ``fn = sum_j C[k, j] - tp``,
  ``tn = n - tp - fp - fn``.
* ``average``: ``None`` gives the class-wise array ``[num_classes]``; ``"binary"`` the score of class
  ``pos_label`` (``num_classes`` must be 2); ``"macro"`` the unweighted mean over **all**
  ``num_classes`` classes (as scikit-learn with ``labels=range(num_classes)``: a class absent from both
  ``y_true`` and ``y_pred`` counts with its ``zero_division`` value); ``"weighted"`` the mean weighted
  by support (number of true examples); ``"micro"`` the ratio of the summed numerators and
  denominators over classes (for single-label data micro precision = recall = F1 = accuracy).
* ``zero_division``: the value of a ratio whose denominator is 0 (scikit-learn's, as a number; its
  default ``"warn"`` acts as 0.0, our default). ``jnp.nan`` is allowed: as in scikit-learn, NaN
  class scores are then left out of macro/weighted averages.
* Counts are ``int32``; ratios ``float32``.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax.metrics._validation import (
    check_choice,
    check_labels,
    check_num_classes,
    check_pos_label,
)

AVERAGES = (None, "binary", "macro", "weighted", "micro")
G_MEAN_AVERAGES = ("multiclass",) + AVERAGES


class ClassCounts(NamedTuple):
    """One-vs-rest counts per class, each ``int32[num_classes]``."""

    tp: jax.Array
    fp: jax.Array
    fn: jax.Array
    tn: jax.Array

    @property
    def support(self) -> jax.Array:
        """True examples per class, ``tp + fn``."""
        return self.tp + self.fn

    @property
    def predicted(self) -> jax.Array:
        """Predicted examples per class, ``tp + fp``."""
        return self.tp + self.fp


def confusion_matrix(y_true: jax.Array, y_pred: jax.Array, *, num_classes: int,
                     where: jax.Array | None = None) -> jax.Array:
    """Confusion matrix ``C[i, j]`` = #examples of true class ``i`` predicted as class ``j``.

    Same as ``sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(num_classes))``
    (with ``sample_weight=where`` when ``where`` is given).

    Args:
      y_true, y_pred: ``int[n]`` in ``[0, num_classes)``.
      where: optional ``bool[n]``: count only these examples (a fixed-shape subset, e.g. a run's
        validation part of the pool).

    Returns:
      ``int32[num_classes, num_classes]``.
    """
    num_classes = check_num_classes(num_classes)
    check_labels("y_true", y_true, num_classes)
    check_labels("y_pred", y_pred, num_classes)
    flat = jnp.asarray(y_true, jnp.int32) * num_classes + jnp.asarray(y_pred, jnp.int32)
    weights = None if where is None else jnp.asarray(where, jnp.int32)
    matrix = jnp.bincount(flat, weights=weights, length=num_classes * num_classes)
    return matrix.astype(jnp.int32).reshape(num_classes, num_classes)


def class_counts(y_true: jax.Array, y_pred: jax.Array, *, num_classes: int,
                 where: jax.Array | None = None) -> ClassCounts:
    """One-vs-rest ``tp, fp, fn, tn`` per class from the confusion matrix (see module docstring)."""
    return counts_from_confusion(confusion_matrix(y_true, y_pred, num_classes=num_classes, where=where))


def counts_from_confusion(matrix: jax.Array) -> ClassCounts:
    """``ClassCounts`` of a confusion matrix ``matrix: int[classes, classes]`` (rows: true class)."""
    tp = jnp.diagonal(matrix)
    fp = jnp.sum(matrix, axis=0) - tp
    fn = jnp.sum(matrix, axis=1) - tp
    return ClassCounts(tp, fp, fn, jnp.sum(matrix) - tp - fp - fn)


def safe_divide(numerator: jax.Array, denominator: jax.Array, zero_division: float = 0.0) -> jax.Array:
    """``numerator / denominator`` in float32, ``zero_division`` where ``denominator == 0``."""
    numerator = jnp.asarray(numerator, jnp.float32)
    denominator = jnp.asarray(denominator, jnp.float32)
    ratio = numerator / jnp.where(denominator == 0, 1.0, denominator)
    return jnp.where(denominator == 0, jnp.asarray(zero_division, jnp.float32), ratio)


def average_scores(scores: jax.Array, support: jax.Array, average: str | None, pos_label: int = 1) -> jax.Array:
    """Reduce class-wise ``scores: [classes]`` as scikit-learn's ``_nanaverage`` does.

    ``None``: ``scores``; ``"binary"``: ``scores[pos_label]``; ``"macro"``: mean of the non-NaN scores;
    ``"weighted"``: support-weighted mean of the non-NaN scores (unweighted if all their supports are 0).
    All scores NaN gives NaN. (``"micro"`` is not an average of class scores: see ``ratio_metric``.)
    """
    if average is None:
        return scores
    if average == "binary":
        return scores[pos_label]
    valid = ~jnp.isnan(scores)
    values = jnp.where(valid, scores, 0.0)
    count = jnp.sum(valid)
    macro = jnp.where(count > 0, jnp.sum(values) / jnp.maximum(count, 1), jnp.nan)
    if average == "macro":
        return macro
    weights = jnp.where(valid, support, 0).astype(jnp.float32)
    total = jnp.sum(weights)
    return jnp.where(total > 0, jnp.sum(weights * values) / jnp.where(total > 0, total, 1.0), macro)


def _check_average(average, num_classes: int, pos_label, choices=AVERAGES) -> None:
    check_choice("average", average, choices)
    if average == "binary":
        if num_classes != 2:
            raise ValueError(f"average='binary' needs num_classes=2, got num_classes={num_classes}; "
                             f"choose average from {tuple(choices)!r}")
        check_pos_label(pos_label, num_classes)


def ratio_metric(numerator: jax.Array, denominator: jax.Array, support: jax.Array, *, average: str | None,
                 pos_label: int = 1, zero_division: float = 0.0) -> jax.Array:
    """Class-wise ratio ``numerator / denominator`` reduced by ``average`` (``"micro"``: ratio of sums)."""
    if average == "micro":
        return safe_divide(jnp.sum(numerator), jnp.sum(denominator), zero_division)
    return average_scores(safe_divide(numerator, denominator, zero_division), support, average, pos_label)


def _prepare(y_true, y_pred, num_classes, average, pos_label, choices=AVERAGES) -> ClassCounts:
    num_classes = check_num_classes(num_classes)
    _check_average(average, num_classes, pos_label, choices)
    return class_counts(y_true, y_pred, num_classes=num_classes)


def accuracy(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """Accuracy (survey Eq. 2), ``(TP + TN) / (P + N)``: the fraction of correct predictions.

    Same as ``sklearn.metrics.accuracy_score``. ``y_true, y_pred: int[n]``; returns ``float32[]``.
    """
    return jnp.mean((jnp.asarray(y_true) == jnp.asarray(y_pred)).astype(jnp.float32))


def error_rate(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """Error rate (survey Eq. 3), ``1 - accuracy`` (``sklearn.metrics.zero_one_loss``)."""
    return 1.0 - accuracy(y_true, y_pred)


def precision(y_true, y_pred, *, num_classes: int, average: str | None = "binary", pos_label: int = 1,
              zero_division: float = 0.0) -> jax.Array:
    """Precision (survey Eq. 4), ``TP / (TP + FP)`` per class; ``sklearn.metrics.precision_score``.

    Returns ``float32[num_classes]`` if ``average is None`` else ``float32[]``.
    """
    counts = _prepare(y_true, y_pred, num_classes, average, pos_label)
    return ratio_metric(counts.tp, counts.predicted, counts.support, average=average, pos_label=pos_label,
                        zero_division=zero_division)


def recall(y_true, y_pred, *, num_classes: int, average: str | None = "binary", pos_label: int = 1,
           zero_division: float = 0.0) -> jax.Array:
    """Recall = sensitivity = TPR (survey Eq. 5), ``TP / (TP + FN)``; ``sklearn.metrics.recall_score``."""
    counts = _prepare(y_true, y_pred, num_classes, average, pos_label)
    return ratio_metric(counts.tp, counts.support, counts.support, average=average, pos_label=pos_label,
                        zero_division=zero_division)


def specificity(y_true, y_pred, *, num_classes: int, average: str | None = "binary", pos_label: int = 1,
                zero_division: float = 0.0) -> jax.Array:
    """Specificity = selectivity = TNR (survey Eq. 6), ``TN / (TN + FP)`` of each class one-vs-rest.

    Same as ``imblearn.metrics.specificity_score`` (which has no ``zero_division``; it uses 0.0),
    except that with ``average="binary"`` and no example of class ``pos_label`` in ``y_true`` or
    ``y_pred`` imbalanced-learn short-cuts to 0.0 while we return ``TN / (TN + FP) = 1``.
    """
    counts = _prepare(y_true, y_pred, num_classes, average, pos_label)
    return ratio_metric(counts.tn, counts.tn + counts.fp, counts.support, average=average,
                        pos_label=pos_label, zero_division=zero_division)


def npv(y_true, y_pred, *, num_classes: int, average: str | None = "binary", pos_label: int = 1,
        zero_division: float = 0.0) -> jax.Array:
    """Negative predictive value, ``TN / (TN + FN)`` of each class one-vs-rest (no scikit-learn twin)."""
    counts = _prepare(y_true, y_pred, num_classes, average, pos_label)
    return ratio_metric(counts.tn, counts.tn + counts.fn, counts.support, average=average,
                        pos_label=pos_label, zero_division=zero_division)


def f_beta_from_counts(counts: ClassCounts, beta, *, average: str | None, pos_label: int = 1,
                       zero_division: float = 0.0) -> jax.Array:
    """F-beta from ``ClassCounts`` (see ``f_beta``)."""
    beta2 = jnp.square(jnp.asarray(beta, jnp.float32))
    return ratio_metric((1 + beta2) * counts.tp, beta2 * counts.support + counts.predicted, counts.support,
                        average=average, pos_label=pos_label, zero_division=zero_division)


def f_beta(y_true, y_pred, *, beta, num_classes: int, average: str | None = "binary", pos_label: int = 1,
           zero_division: float = 0.0) -> jax.Array:
    """F-beta score (survey Eq. 7), ``(1 + b^2) P R / (b^2 P + R) = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)``.

    Same as ``sklearn.metrics.fbeta_score`` (zero denominator, i.e. no true and no predicted example,
    gives ``zero_division``). ``beta >= 0`` finite, may be traced; ``beta = 0`` is precision.
    """
    counts = _prepare(y_true, y_pred, num_classes, average, pos_label)
    return f_beta_from_counts(counts, beta, average=average, pos_label=pos_label, zero_division=zero_division)


def f1(y_true, y_pred, *, num_classes: int, average: str | None = "binary", pos_label: int = 1,
       zero_division: float = 0.0) -> jax.Array:
    """F1 = harmonic mean of precision and recall (``f_beta`` with ``beta = 1``); ``sklearn.metrics.f1_score``."""
    return f_beta(y_true, y_pred, beta=1.0, num_classes=num_classes, average=average, pos_label=pos_label,
                  zero_division=zero_division)


def balanced_accuracy_from_counts(counts: ClassCounts, *, adjusted: bool = False) -> jax.Array:
    """Balanced accuracy from ``ClassCounts`` (see ``balanced_accuracy``)."""
    present = counts.support > 0
    num_present = jnp.sum(present)
    recalls = safe_divide(counts.tp, counts.support)
    score = jnp.sum(jnp.where(present, recalls, 0.0)) / jnp.maximum(num_present, 1)
    if adjusted:
        chance = 1.0 / jnp.maximum(num_present, 1)
        score = (score - chance) / (1.0 - chance)
    return score


def balanced_accuracy(y_true, y_pred, *, num_classes: int, adjusted: bool = False) -> jax.Array:
    """Balanced accuracy (survey Eq. 9): mean recall over the classes present in ``y_true``.

    For two classes it is ``(TPR + TNR) / 2``. Same as ``sklearn.metrics.balanced_accuracy_score``:
    classes absent from ``y_true`` are left out (even if predicted). ``adjusted=True`` rescales so
    chance is 0 and perfect is 1 (``(score - 1/C) / (1 - 1/C)``, ``C`` = number of present classes;
    NaN if ``C = 1``, where scikit-learn divides by zero too).
    """
    num_classes = check_num_classes(num_classes)
    return balanced_accuracy_from_counts(class_counts(y_true, y_pred, num_classes=num_classes),
                                         adjusted=adjusted)


def g_mean_from_counts(counts: ClassCounts, *, average: str | None = "multiclass", pos_label: int = 1,
                       correction: float = 0.0) -> jax.Array:
    """G-mean from ``ClassCounts`` (see ``g_mean``)."""
    sensitivity = safe_divide(counts.tp, counts.support)
    if average == "multiclass":
        corrected = jnp.where(sensitivity == 0, jnp.asarray(correction, jnp.float32), sensitivity)
        return jnp.exp(jnp.mean(jnp.log(corrected)))
    specificity_ = safe_divide(counts.tn, counts.tn + counts.fp)
    if average == "micro":
        micro_sensitivity = safe_divide(jnp.sum(counts.tp), jnp.sum(counts.support))
        micro_specificity = safe_divide(jnp.sum(counts.tn), jnp.sum(counts.tn + counts.fp))
        return jnp.sqrt(micro_sensitivity * micro_specificity)
    return jnp.sqrt(average_scores(sensitivity, counts.support, average, pos_label)
                    * average_scores(specificity_, counts.support, average, pos_label))


def g_mean(y_true, y_pred, *, num_classes: int, average: str | None = "multiclass", pos_label: int = 1,
           correction: float = 0.0) -> jax.Array:
    """Geometric mean of sensitivities (survey Eq. 8, binary: ``sqrt(TPR * TNR)``; Kubat & Matwin 1997).

    Matches ``imblearn.metrics.geometric_mean_score(y_true, y_pred, labels=range(num_classes), ...)``,
    whose conventions differ by ``average``:

    * ``"multiclass"`` (default; imbalanced-learn's default): ``(prod_k recall_k)^(1/K)`` over all
      ``K = num_classes`` classes, the higher-root generalisation of Eq. 8 (for two classes it equals
      ``sqrt(TPR * TNR)``). A class with recall 0 (including a class absent from ``y_true``, whose
      recall 0/0 is set to 0) makes it 0 unless ``correction > 0`` replaces such recalls.
    * ``None``: class-wise one-vs-rest ``sqrt(sensitivity_k * specificity_k)``, ``[num_classes]``.
    * ``"binary"``: that of class ``pos_label``.
    * ``"macro"``: ``sqrt(mean_k sensitivity_k * mean_k specificity_k)`` -- **not** the mean of the
      class-wise G-means; this is what imbalanced-learn's ``average='macro'`` returns (its open issue
      #1096) and we keep it for comparability.
    * ``"weighted"``: as ``"macro"`` with support-weighted means; ``"micro"``: ``sqrt`` of the micro
      sensitivity times the micro specificity.

    ``correction`` (may be traced) applies to ``"multiclass"`` only, as in imbalanced-learn.
    """
    counts = _prepare(y_true, y_pred, num_classes, average, pos_label, G_MEAN_AVERAGES)
    return g_mean_from_counts(counts, average=average, pos_label=pos_label, correction=correction)


def index_balanced_accuracy_from_counts(counts: ClassCounts, *, alpha: float = 0.1) -> jax.Array:
    """Class-wise index balanced accuracy of the squared G-mean (García et al. 2009), ``[classes]``.

    ``IBA_k = (1 + alpha * (sensitivity_k - specificity_k)) * sensitivity_k * specificity_k``, i.e.
    imbalanced-learn's ``make_index_balanced_accuracy(alpha=alpha, squared=True)(geometric_mean_score)``
    with ``average=None``, as used in ``classification_report_imbalanced``.
    """
    sensitivity = safe_divide(counts.tp, counts.support)
    specificity_ = safe_divide(counts.tn, counts.tn + counts.fp)
    return (1.0 + alpha * (sensitivity - specificity_)) * sensitivity * specificity_
