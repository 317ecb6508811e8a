"""The run axis's padding (imbjax.run_axis), shared by the sweep runner and compute_all_runs."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from imbjax.run_axis import pad_runs, padded_size


@given(runs=st.integers(1, 200), devices=st.integers(1, 16), max_parallel=st.integers(0, 64))
def test_parts_cover_the_runs_in_equal_device_multiples(runs, devices, max_parallel):
    width, num_parts = padded_size(runs, devices, max_parallel)
    assert width % devices == 0 and width >= devices
    assert (num_parts - 1) * width < runs <= num_parts * width  # no part of padding only
    limit = runs if max_parallel == 0 else min(runs, max_parallel)
    assert width == -(-limit // devices) * devices  # the limit, rounded up to whole devices


@given(runs=st.integers(1, 20), extra=st.integers(0, 20), run_shape=st.sampled_from([(), (3,), (2, 3)]))
def test_padding_repeats_the_first_run_and_keeps_the_rest(runs, extra, run_shape):
    array = np.arange(runs * int(np.prod(run_shape))).reshape(runs, *run_shape)
    padded = pad_runs(array, runs + extra)
    assert padded.shape == (runs + extra, *array.shape[1:]) and padded.dtype == array.dtype
    np.testing.assert_array_equal(padded[:runs], array)
    np.testing.assert_array_equal(padded[runs:], np.repeat(array[:1], extra, axis=0))
    assert pad_runs(array, runs) is array  # nothing to pad: the array itself
