"""Probabilistic metrics: Brier score, log loss and expected calibration error.

``y_true: int[n]`` class indices; ``probs: float[n, classes]`` rows summing to 1, or ``float[n]``
the probability of class 1 (binary). Computed in float32; scikit-learn computes in the dtype of the
probabilities it is given.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax.metrics._validation import check_labels


def _as_class_probabilities(probs: jax.Array) -> jax.Array:
    """``[n]`` positive-class probabilities become ``[n, 2]``; ``[n, classes]`` passes through."""
    probs = jnp.asarray(probs, jnp.float32)
    if probs.ndim == 1:
        return jnp.stack([1.0 - probs, probs], axis=1)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape [n] or [n, classes], got {probs.shape}")
    return probs


def brier_score(y_true: jax.Array, probs: jax.Array) -> jax.Array:
    """Brier score (Brier 1950), ``mean_i sum_k (onehot(y_i)_k - p_ik)^2``, halved for two classes.

    Same as ``sklearn.metrics.brier_score_loss`` (``scale_by_half="auto"``): with two classes (``probs``
    ``[n]`` or ``[n, 2]``) it is the usual binary ``mean_i (y_i - p_i)^2``; with more it is the sum over
    classes of the squared error to the one-hot target, averaged over examples (range ``[0, 2]``).

    Args:
      y_true: ``int[n]`` in ``[0, classes)``.
      probs: ``float[n, classes]`` or ``float[n]`` (probability of class 1).

    Returns:
      ``float32[]``.
    """
    probs = _as_class_probabilities(probs)
    num_classes = probs.shape[1]
    check_labels("y_true", y_true, num_classes)
    squared_error = jnp.sum(jnp.square(jax.nn.one_hot(y_true, num_classes) - probs), axis=1)
    return jnp.mean(squared_error) * (0.5 if num_classes < 3 else 1.0)


def log_loss(y_true: jax.Array, probs: jax.Array) -> jax.Array:
    """Mean negative log-likelihood of the true class, ``-mean_i log p_{i, y_i}``.

    As ``sklearn.metrics.log_loss``: probabilities are clipped to ``[eps, 1 - eps]`` with
    ``eps = finfo(float32).eps`` (scikit-learn uses the eps of the dtype it is given, so pass it
    float32 probabilities to compare) and are not renormalised.

    Args:
      y_true: ``int[n]``; probs: ``float[n, classes]`` or ``float[n]`` (probability of class 1).

    Returns:
      ``float32[]``.
    """
    probs = _as_class_probabilities(probs)
    check_labels("y_true", y_true, probs.shape[1])
    eps = jnp.finfo(jnp.float32).eps
    true_class_prob = jnp.take_along_axis(probs, jnp.asarray(y_true)[:, None], axis=1)[:, 0]
    return -jnp.mean(jnp.log(jnp.clip(true_class_prob, eps, 1.0 - eps)))


def expected_calibration_error(y_true: jax.Array, probs: jax.Array, *, num_bins: int = 15) -> jax.Array:
    """Top-label expected calibration error with equal-width bins (Naeini et al. 2015; Guo et al. 2017).

    ``ECE = sum_b |B_b| / n * |accuracy(B_b) - mean confidence(B_b)|`` where the confidence of an
    example is its largest probability, its prediction the argmax (first on ties), and bin ``b``
    (``b = 0..num_bins-1``) holds confidences in ``(b / num_bins, (b + 1) / num_bins]`` (bin 0 also
    holds confidence 0). Empty bins add nothing.

    Args:
      y_true: ``int[n]``; probs: ``float[n, classes]``; num_bins: static int >= 1.

    Returns:
      ``float32[]`` in ``[0, 1]``.
    """
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"num_bins must be a Python int >= 1, got {num_bins!r}")
    probs = _as_class_probabilities(probs)
    check_labels("y_true", y_true, probs.shape[1])
    confidence = jnp.max(probs, axis=1)
    correct = (jnp.argmax(probs, axis=1) == jnp.asarray(y_true)).astype(jnp.float32)
    bins = jnp.clip(jnp.ceil(confidence * num_bins).astype(jnp.int32) - 1, 0, num_bins - 1)
    gap_per_bin = jax.ops.segment_sum(correct - confidence, bins, num_segments=num_bins)
    return jnp.sum(jnp.abs(gap_per_bin)) / confidence.shape[0]
