"""Validation of the static (Python) arguments of the metrics and of concrete label arrays.

Traced arrays (inside ``jit``/``vmap``) cannot be inspected and pass through unchecked.
"""
from __future__ import annotations

import jax
import numpy as np


def check_choice(name: str, value, choices) -> None:
    """Raise a ``ValueError`` naming ``value`` and ``choices`` unless ``value in choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)!r}, got {value!r}")


def check_num_classes(num_classes, *, minimum: int = 1) -> int:
    """``num_classes`` must be a Python integer ``>= minimum`` (it fixes array shapes, so it is static)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < minimum:
        raise ValueError(f"num_classes must be a Python int >= {minimum}, got {num_classes!r}")
    return int(num_classes)


def check_pos_label(pos_label, num_classes: int) -> int:
    """``pos_label`` must be a class index in ``[0, num_classes)``."""
    if isinstance(pos_label, bool) or not isinstance(pos_label, (int, np.integer)) \
            or not 0 <= pos_label < num_classes:
        raise ValueError(f"pos_label must be an int in [0, {num_classes}), got {pos_label!r}")
    return int(pos_label)


def check_labels(name: str, labels, num_classes: int) -> None:
    """Raise a ``ValueError`` if a concrete ``labels`` array has an entry outside ``[0, num_classes)``."""
    if isinstance(labels, jax.core.Tracer):
        return
    values = np.asarray(labels)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional [n], got shape {values.shape}")
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        raise ValueError(f"{name} must hold class indices in [0, {num_classes}), got {bad[0].item()!r}")


def check_probabilities(name: str, probs, num_classes: int | None = None) -> None:
    """``probs`` must be ``[n, num_classes]`` (shape only: values may be traced)."""
    shape = np.shape(probs)
    if len(shape) != 2 or (num_classes is not None and shape[1] != num_classes):
        expected = f"[n, {num_classes}]" if num_classes is not None else "[n, classes]"
        raise ValueError(f"{name} must have shape {expected}, got {shape}")


#: How far from 1 a row of ``probs`` may sum (float32 softmax rows are within ~1e-6 of 1).
ROW_SUM_TOLERANCE = 1e-3


def check_scored_examples(y_true, probs) -> None:
    """``y_true: int[n]`` and ``probs: float[n, C]`` describe the same ``n >= 1`` examples; concrete
    ``y_true`` holds integers and concrete ``probs`` finite probabilities in [0, 1] whose rows sum
    to 1 within :data:`ROW_SUM_TOLERANCE`. Shapes are checked always (they are static); the values
    of traced arrays (under ``jit``/``vmap``) cannot be and are not."""
    labels_shape, probs_shape = np.shape(y_true), np.shape(probs)
    if len(labels_shape) != 1 or labels_shape[0] != probs_shape[0]:
        raise ValueError(f"y_true must have shape [n] with n = {probs_shape[0]} (the rows of probs), "
                         f"got shape {labels_shape}")
    if labels_shape[0] == 0:
        raise ValueError("y_true and probs hold no examples (n = 0); metrics need at least one")
    if not isinstance(y_true, jax.core.Tracer):
        labels = np.asarray(y_true)
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"y_true must hold integer class indices, got {labels.dtype} values such as "
                             f"y_true[0] = {labels[0].item()!r}")
    if not isinstance(probs, jax.core.Tracer):
        values = np.asarray(probs, np.float64)
        bad = np.argwhere(~((values >= 0.0) & (values <= 1.0)))  # NaN fails both comparisons
        if bad.size:
            row, column = bad[0]
            raise ValueError(f"probs must be finite probabilities in [0, 1], got probs[{row}, {column}] = "
                             f"{float(values[row, column])!r}")
        sums = values.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
        if off.size:
            raise ValueError(f"each row of probs must sum to 1 (within {ROW_SUM_TOLERANCE}), got row {off[0]} "
                             f"summing to {float(sums[off[0]])!r}")
