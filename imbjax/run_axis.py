"""The run axis: a stack of runs split over devices, shared by the sweep runner and the metrics.

A sweep stacks its runs on a leading axis named :data:`RUN_AXIS` and shards it over devices; the
stack is padded to a multiple of the device count (and of a part's width) by repeating its first
run, and the padding's results are dropped. Padding runs are real runs, so they cannot produce
NaN or take slow paths. NumPy only: importing it costs nothing.
"""
from __future__ import annotations

import numpy as np

#: Name of the mesh axis the runs are sharded over.
RUN_AXIS = "runs"


def padded_size(runs: int, devices: int, max_parallel: int = 0) -> tuple[int, int]:
    """``(part_width, num_parts)``: the fewest parts of at most ``max_parallel`` runs (0: no limit; the
    limit rounded up to whole devices) covering ``runs``, each as narrow as those parts allow, a
    multiple of ``devices``: 40 runs at a limit of 16 on 2 devices train in 3 parts of 14 (2 padding
    runs), not of 16 (8)."""
    limit = runs if max_parallel <= 0 else min(runs, max_parallel)
    limit = -(-limit // devices) * devices
    num_parts = -(-runs // limit)
    width = -(-runs // num_parts)
    width = -(-width // devices) * devices
    return width, -(-runs // width)


def pad_runs(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` with its leading (run) axis padded to ``size`` by repeating its first entry."""
    extra = size - array.shape[0]
    return np.concatenate([array, np.repeat(array[:1], extra, axis=0)]) if extra else array
