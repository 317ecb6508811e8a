"""Ranking metrics: exact, sort-based ROC AUC, average precision and their curves.

Conventions (scikit-learn's):

* Binary functions take ``(y_true, y_score, *, pos_label=1)``: ``y_true: int[n]`` labels, the positive
  examples being ``y_true == pos_label``; ``y_score: float[n]`` finite scores, higher = more positive.
* Examples are sorted by decreasing score once; equal scores form one *tie group*, i.e. one
  threshold (scikit-learn's ``_binary_clf_curve``). Ties therefore count half in the ROC AUC, which
  equals the Mann-Whitney ``P(s+ > s-) + P(s+ = s-) / 2``, and average precision steps once per
  tie group.
* One sort per problem; cumulative counts per tie group come from scans (no scatter). Sorting is on
  ``uint32`` keys (order-preserving float32 bits), a single-operand sort with the label packed into
  the key for the multi-class ``ovr_*`` functions, whose scores are probabilities (negative entries
  count as 0 there).
* ``roc_auc`` is computed from integer counts (the trapezoid area times ``2 P N``), summed exactly in
  ``int32`` halves and rounded to ``float32`` once, so it stays exact to float32 rounding for
  ``n < 2**19``. Average precision is a float32 sum over the positives.
* Undefined cases follow scikit-learn: ROC AUC with only one class present in ``y_true`` is NaN (so
  the macro OvR AUC is NaN when a class is absent from ``y_true``, while the weighted one gives that
  class weight 0); average precision with no positive is 0.0; ROC curves without positives
  (negatives) have NaN TPR (FPR).
* Curves have fixed sizes so they can be vmapped: each returns a ``length`` (int32 scalar) and the
  entries from ``length`` on repeat the last valid point (so plotting or integrating the padded
  arrays gives the same result as the valid part).
* Multi-class ``ovr_*`` functions take ``(y_true, probs, *, num_classes, average="macro")`` with
  ``probs: float[n, num_classes]``: class ``k``'s binary problem is ``y_true == k`` scored by
  ``probs[:, k]`` (one-vs-rest, Buda et al. 2018's multi-class ROC AUC). ``average``: ``None`` (per
  class), ``"macro"`` (unweighted mean) or ``"weighted"`` (by support, i.e. prevalence).
"""
from __future__ import annotations


from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from imbjax.metrics._validation import (
    check_choice,
    check_labels,
    check_num_classes,
    check_probabilities,
)
from imbjax.metrics.confusion import safe_divide

OVR_AVERAGES = (None, "macro", "weighted")


class RankedExamples(NamedTuple):
    """Examples sorted by decreasing score, positives first within a tie group, with cumulative counts.

    A tie group is a run of equal scores (one threshold). For the ``i``-th example in that order,
    ``true_positives[i]`` = #positives among examples ``0..i`` and ``tp_before_group[i]`` = #positives
    scoring ``> score[i]``. Because positives lead their group, ``true_positives[i]`` is the group's
    #positives scoring ``>= score[i]`` wherever ``i`` is a negative or a group's last example, and
    ``i + 1`` is the group's #examples scoring ``>= score[i]`` at a group's last example.
    """

    scores: jax.Array           # float32[n], decreasing
    is_positive: jax.Array      # int32[n], 0/1
    is_group_end: jax.Array     # bool[n]: last example of its tie group
    true_positives: jax.Array   # int32[n]
    tp_before_group: jax.Array  # int32[n]

    @property
    def num_positives(self) -> jax.Array:
        """``int32[...]`` (leading batch axes allowed)."""
        return self.true_positives[..., -1]

    @property
    def num_negatives(self) -> jax.Array:
        """``int32[...]``."""
        return self.true_positives.shape[-1] - self.num_positives


class RocCurve(NamedTuple):
    """``sklearn.metrics.roc_curve(..., drop_intermediate=False)`` padded to ``n + 1`` points."""

    fpr: jax.Array         # float32[n + 1], increasing
    tpr: jax.Array         # float32[n + 1], increasing
    thresholds: jax.Array  # float32[n + 1], decreasing, thresholds[0] = inf
    length: jax.Array      # int32[]: number of valid points, num_groups + 1


class PrCurve(NamedTuple):
    """``sklearn.metrics.precision_recall_curve(...)`` padded: precision/recall ``[n + 1]``, thresholds ``[n]``."""

    precision: jax.Array   # float32[n + 1], ends with 1
    recall: jax.Array      # float32[n + 1], decreasing, ends with 0
    thresholds: jax.Array  # float32[n], increasing
    length: jax.Array      # int32[]: valid precision/recall points (num_groups + 1); thresholds: length - 1


_SIGN_BIT = np.uint32(0x80000000)


def _descending_order_key(scores: jax.Array) -> jax.Array:
    """``uint32`` keys whose increasing order is the decreasing order of the finite ``scores``.

    Maps float32 bits to an order-preserving unsigned integer (negatives: all bits flipped,
    non-negatives: sign bit set), then complements it. ``-0.0`` is made ``+0.0`` so they tie.
    """
    bits = jax.lax.bitcast_convert_type(jnp.where(scores == 0, 0.0, scores), jnp.uint32)
    return ~jnp.where(bits >= _SIGN_BIT, ~bits, bits | _SIGN_BIT)


def _scores_of_order_key(keys: jax.Array) -> jax.Array:
    """Inverse of ``_descending_order_key``."""
    ascending = ~keys
    bits = jnp.where(ascending >= _SIGN_BIT, ascending & ~_SIGN_BIT, ~ascending)
    return jax.lax.bitcast_convert_type(bits, jnp.float32)


def _sort_by_decreasing_score(is_positive: jax.Array, scores: jax.Array, probabilities: bool):
    """``(sorted scores, sorted 0/1 labels, bool "same score as the next example")``, by decreasing
    score and positives first within ties.

    ``probabilities=True`` packs the label into the sort key: non-negative float32 bits fit in 31
    bits, so ``(bits << 1) | label`` sorts as (score, label) in one single-operand integer sort,
    several times faster than a key/value sort on CPU. It clamps negative scores to 0.
    """
    is_positive = jnp.asarray(is_positive, jnp.uint32)
    if probabilities:
        bits = jax.lax.bitcast_convert_type(jnp.where(scores > 0, scores, 0.0), jnp.uint32)
        packed = jnp.sort(~((bits << 1) | is_positive))
        sorted_bits = ~packed >> 1
        sorted_positive = ~packed & 1
        sorted_scores = jax.lax.bitcast_convert_type(sorted_bits, jnp.float32)
        same_as_next = sorted_bits[1:] == sorted_bits[:-1]
    else:
        keys, negative_first_key = jax.lax.sort((_descending_order_key(scores), 1 - is_positive), num_keys=2)
        sorted_positive = 1 - negative_first_key
        sorted_scores = _scores_of_order_key(keys)
        same_as_next = keys[1:] == keys[:-1]
    return sorted_scores, sorted_positive.astype(jnp.int32), same_as_next


def rank_examples(is_positive: jax.Array, scores: jax.Array, *, probabilities: bool = False) -> RankedExamples:
    """Sort ``scores: float[n]`` decreasingly with their labels ``is_positive: bool[n]`` and annotate ties.

    Two scans, no scatter: a running sum of positives, and a running maximum over group starts of
    the positives before them. ``probabilities=True``: scores are known to be ``>= 0`` (see
    ``_sort_by_decreasing_score``).
    """
    scores = jnp.asarray(scores, jnp.float32)
    sorted_scores, sorted_positive, same_as_next = _sort_by_decreasing_score(is_positive, scores, probabilities)
    is_group_end = jnp.concatenate([~same_as_next, jnp.ones(1, bool)])
    is_group_start = jnp.concatenate([jnp.ones(1, bool), ~same_as_next])
    true_positives = jnp.cumsum(sorted_positive)
    tp_before_group = jax.lax.cummax(jnp.where(is_group_start, true_positives - sorted_positive, 0))
    return RankedExamples(sorted_scores, sorted_positive, is_group_end, true_positives, tp_before_group)


def _sum_counts(counts: jax.Array) -> jax.Array:
    """Exact-then-rounded sum of ``int32`` counts in ``[0, 2**24)``: ``float32``, for ``n < 2**19`` terms.

    Summing the high and low 12 bits separately keeps both ``int32`` sums from overflowing.
    """
    high, low = counts >> 12, counts & 0xFFF
    return jnp.sum(high).astype(jnp.float32) * 4096.0 + jnp.sum(low).astype(jnp.float32)


def roc_auc_from_ranking(ranked: RankedExamples) -> jax.Array:
    """Area under the ROC curve (trapezoids, ties counted half); NaN if there are no positives or negatives.

    A negative in tie group ``g`` widens the curve by one FP step under the trapezoid of height
    ``TP_{g-1} + TP_g`` (counts, twice the mean height), so ``AUC = sum / (2 P N)``: the
    Mann-Whitney ``P(s+ > s-) + P(s+ = s-) / 2``. (At a negative, ``true_positives`` is ``TP_g``.)
    """
    num_pos, num_neg = ranked.num_positives, ranked.num_negatives
    heights = ranked.tp_before_group + ranked.true_positives
    area = _sum_counts(heights * (1 - ranked.is_positive))
    scale = 2.0 * num_pos.astype(jnp.float32) * num_neg.astype(jnp.float32)
    return jnp.where((num_pos > 0) & (num_neg > 0), area / jnp.where(scale > 0, scale, 1.0), jnp.nan)


def average_precision_from_ranking(ranked: RankedExamples) -> jax.Array:
    """Step-wise ``AP = sum_g (R_g - R_{g-1}) P_g``: the mean over positives of the precision at their
    tie group's threshold, summed at group ends (``TP_g - TP_{g-1}`` positives, precision
    ``TP_g / (i + 1)``); 0.0 without positives."""
    count_through = jnp.arange(1, ranked.true_positives.shape[-1] + 1, dtype=jnp.float32)
    group_positives = ranked.true_positives - ranked.tp_before_group
    precision_mass = jnp.where(ranked.is_group_end, group_positives * (ranked.true_positives / count_through), 0.0)
    return safe_divide(jnp.sum(precision_mass), ranked.num_positives, 0.0)


def _binary_ranking(y_true, y_score, pos_label) -> RankedExamples:
    if jnp.ndim(y_score) != 1 or jnp.shape(y_true) != jnp.shape(y_score):
        raise ValueError(f"y_true and y_score must both have shape [n], got {jnp.shape(y_true)} "
                         f"and {jnp.shape(y_score)}")
    return rank_examples(jnp.asarray(y_true) == pos_label, y_score)


def roc_auc(y_true: jax.Array, y_score: jax.Array, *, pos_label: int = 1) -> jax.Array:
    """Binary ROC AUC, exact with ties (``sklearn.metrics.roc_auc_score``); NaN if one class only.

    Args:
      y_true: ``int[n]``; positives are ``y_true == pos_label``.
      y_score: ``float[n]``.

    Returns:
      ``float32[]``.
    """
    return roc_auc_from_ranking(_binary_ranking(y_true, y_score, pos_label))


def average_precision(y_true: jax.Array, y_score: jax.Array, *, pos_label: int = 1) -> jax.Array:
    """Binary average precision, ``AP = sum_g (R_g - R_{g-1}) P_g`` over thresholds (no interpolation).

    Same as ``sklearn.metrics.average_precision_score``; 0.0 if there is no positive.
    ``y_true: int[n]``, ``y_score: float[n]``; returns ``float32[]``.
    """
    return average_precision_from_ranking(_binary_ranking(y_true, y_score, pos_label))


def _tie_group_ends(ranked: RankedExamples):
    """Per tie group (highest score first, ``n`` slots): ``(TP, FP, threshold, num_groups)``.

    Slots past ``num_groups`` repeat the last group.
    """
    num_examples = ranked.scores.shape[0]
    (ends,) = jnp.nonzero(ranked.is_group_end, size=num_examples, fill_value=num_examples - 1)
    true_positives = ranked.true_positives[ends]
    return (true_positives, ends + 1 - true_positives, ranked.scores[ends],
            jnp.sum(ranked.is_group_end).astype(jnp.int32))


def roc_curve_from_ranking(ranked: RankedExamples) -> RocCurve:
    """``RocCurve`` of ``ranked`` (see ``roc_curve``)."""
    true_positives, false_positives, thresholds, num_groups = _tie_group_ends(ranked)
    zero = jnp.zeros(1, jnp.int32)
    true_positives = jnp.concatenate([zero, true_positives])
    false_positives = jnp.concatenate([zero, false_positives])
    fpr = safe_divide(false_positives, false_positives[-1], jnp.nan)
    tpr = safe_divide(true_positives, true_positives[-1], jnp.nan)
    return RocCurve(fpr, tpr, jnp.concatenate([jnp.full(1, jnp.inf), thresholds]), num_groups + 1)


def roc_curve(y_true: jax.Array, y_score: jax.Array, *, pos_label: int = 1) -> RocCurve:
    """ROC curve at every distinct score, padded to ``n + 1`` points.

    ``fpr[:length], tpr[:length], thresholds[:length]`` equal
    ``sklearn.metrics.roc_curve(y_true, y_score, pos_label=pos_label, drop_intermediate=False)``
    (first point ``(0, 0)`` at threshold ``inf``); later entries repeat the last point.
    ``y_true: int[n]``, ``y_score: float[n]``.
    """
    return roc_curve_from_ranking(_binary_ranking(y_true, y_score, pos_label))


def pr_curve_from_ranking(ranked: RankedExamples) -> PrCurve:
    """``PrCurve`` of ``ranked`` (see ``pr_curve``)."""
    true_positives, false_positives, thresholds, num_groups = _tie_group_ends(ranked)
    group_precision = safe_divide(true_positives, true_positives + false_positives)
    group_recall = safe_divide(true_positives, ranked.num_positives, 1.0)
    # scikit-learn lists thresholds increasingly: output slot j holds group num_groups - 1 - j.
    slot = num_groups - 1 - jnp.arange(true_positives.shape[0] + 1)
    in_curve = slot >= 0
    group = jnp.maximum(slot, 0)
    precision_ = jnp.where(in_curve, group_precision[group], 1.0)
    recall_ = jnp.where(in_curve, group_recall[group], 0.0)
    return PrCurve(precision_, recall_, thresholds[group[:-1]], num_groups + 1)


def pr_curve(y_true: jax.Array, y_score: jax.Array, *, pos_label: int = 1) -> PrCurve:
    """Precision-recall curve at every distinct score, padded.

    ``precision[:length], recall[:length], thresholds[:length - 1]`` equal
    ``sklearn.metrics.precision_recall_curve(y_true, y_score, pos_label=pos_label)``: thresholds
    increase, the last point is ``(recall 0, precision 1)``; later entries repeat that last point
    (thresholds repeat the highest score). Without positives recall is 1 at every threshold.
    ``y_true: int[n]``, ``y_score: float[n]``.
    """
    return pr_curve_from_ranking(_binary_ranking(y_true, y_score, pos_label))


def ovr_rankings(y_true: jax.Array, probs: jax.Array, *, num_classes: int) -> RankedExamples:
    """``RankedExamples`` of every one-vs-rest problem, each field with a leading ``[num_classes]`` axis.

    ``probs`` are probabilities: negative entries are ranked as 0 (see ``_sort_by_decreasing_score``).
    """
    num_classes = check_num_classes(num_classes)
    check_probabilities("probs", probs, num_classes)
    check_labels("y_true", y_true, num_classes)
    y_true = jnp.asarray(y_true)

    def one_vs_rest(k, scores):
        return rank_examples(y_true == k, scores, probabilities=True)

    return jax.vmap(one_vs_rest, in_axes=(0, 1))(jnp.arange(num_classes), probs)


def average_ovr(scores: jax.Array, support: jax.Array, average: str | None) -> jax.Array:
    """Reduce class-wise ranking ``scores`` as scikit-learn's ``_average_binary_score``.

    ``"macro"``: plain mean (NaN if any class score is NaN); ``"weighted"``: support-weighted mean,
    classes with support 0 (whose score may be NaN) entering with weight 0.
    """
    if average is None:
        return scores
    if average == "macro":
        return jnp.mean(scores)
    weights = support.astype(jnp.float32)
    return safe_divide(jnp.sum(jnp.where(weights > 0, scores * weights, 0.0)), jnp.sum(weights), jnp.nan)


def ovr_roc_auc(y_true: jax.Array, probs: jax.Array, *, num_classes: int, average: str | None = "macro") -> jax.Array:
    """Multi-class one-vs-rest ROC AUC (Buda et al. 2018: mean of one-vs-all AUCs).

    ``sklearn.metrics.roc_auc_score(y_true, probs, multi_class="ovr", labels=range(num_classes),
    average=average)``; a class absent from ``y_true`` has AUC NaN (so the macro average is NaN, the
    weighted one ignores it).

    Args:
      y_true: ``int[n]`` in ``[0, num_classes)``.
      probs: ``float[n, num_classes]``.

    Returns:
      ``float32[num_classes]`` if ``average is None`` else ``float32[]``.
    """
    check_choice("average", average, OVR_AVERAGES)
    ranked = ovr_rankings(y_true, probs, num_classes=num_classes)
    return average_ovr(jax.vmap(roc_auc_from_ranking)(ranked), ranked.num_positives, average)


def ovr_average_precision(y_true: jax.Array, probs: jax.Array, *, num_classes: int,
                          average: str | None = "macro") -> jax.Array:
    """Multi-class one-vs-rest average precision.

    ``sklearn.metrics.average_precision_score(label_binarize(y_true, classes=range(num_classes)),
    probs, average=average)``; a class absent from ``y_true`` scores 0.0 (scikit-learn's binary value)
    and has weight 0 in ``"weighted"``. Shapes as ``ovr_roc_auc``.
    """
    check_choice("average", average, OVR_AVERAGES)
    ranked = ovr_rankings(y_true, probs, num_classes=num_classes)
    return average_ovr(jax.vmap(average_precision_from_ranking)(ranked), ranked.num_positives, average)
