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
        raise ValueError(f"{name} must hold class indices in [0, {num_classes}), got {bad[0]!r}")


def check_probabilities(name: str, probs, num_classes: int | None = None) -> None:
    """``probs`` must be ``[n, num_classes]`` (shape only: values may be traced)."""
    shape = np.shape(probs)
    if len(shape) != 2 or (num_classes is not None and shape[1] != num_classes):
        expected = f"[n, {num_classes}]" if num_classes is not None else "[n, classes]"
        raise ValueError(f"{name} must have shape {expected}, got {shape}")
