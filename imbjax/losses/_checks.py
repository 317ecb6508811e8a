"""Validation of concrete hyper-parameter values (traced values cannot be checked and pass through)."""
from __future__ import annotations

import jax
import numpy as np


def check_in_range(name: str, value, *, low: float, high: float, high_inclusive: bool = False) -> None:
    """Raise a ``ValueError`` if a concrete ``value`` has an entry outside ``[low, high)`` (or ``[low, high]``).

    Traced values (inside ``jit``/``vmap``) are not checked: validate a sweep's grid before compiling it.
    """
    if value is None or isinstance(value, jax.core.Tracer):
        return
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    upper_ok = values <= high if high_inclusive else values < high
    bad = values[~((values >= low) & upper_ok)]
    if bad.size:
        interval = f"[{low}, {high}]" if high_inclusive else f"[{low}, {high})"
        raise ValueError(f"{name} must lie in {interval}, got {bad[0].item()!r}")
