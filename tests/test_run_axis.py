"""The run axis's padding (imbjax.run_axis), shared by the sweep runner and compute_all_runs."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from imbjax.run_axis import pad_runs, padded_size


@given(runs=st.integers(1, 200), devices=st.integers(1, 16), max_parallel=st.integers(0, 64))
def test_the_fewest_parts_of_equal_device_multiples_with_the_least_padding(runs, devices, max_parallel):
    width, num_parts = padded_size(runs, devices, max_parallel)
    limit = runs if max_parallel == 0 else min(runs, max_parallel)
    limit = -(-limit // devices) * devices  # the limit, rounded up to whole devices
    assert width % devices == 0 and devices <= width <= limit
    assert num_parts == -(-runs // limit)  # as few parts as the limit allows
    assert (num_parts - 1) * width < runs <= num_parts * width  # no part of padding only
    assert num_parts * width - runs < num_parts * devices  # less than one device row of padding a part
    if width > devices:  # a part one device row narrower would not cover the runs
        assert num_parts * (width - devices) < runs


def test_forty_runs_at_a_limit_of_sixteen_on_two_devices_are_three_parts_of_fourteen():
    assert padded_size(40, 2, 16) == (14, 3)
    assert padded_size(8, 2, 3) == (4, 2) and padded_size(8, 1, 0) == (8, 1)
    assert padded_size(1000, 2, 16) == (16, 63)


@given(runs=st.integers(1, 20), extra=st.integers(0, 20), run_shape=st.sampled_from([(), (3,), (2, 3)]))
def test_padding_repeats_the_first_run_and_keeps_the_rest(runs, extra, run_shape):
    array = np.arange(runs * int(np.prod(run_shape))).reshape(runs, *run_shape)
    padded = pad_runs(array, runs + extra)
    assert padded.shape == (runs + extra, *array.shape[1:]) and padded.dtype == array.dtype
    np.testing.assert_array_equal(padded[:runs], array)
    np.testing.assert_array_equal(padded[runs:], np.repeat(array[:1], extra, axis=0))
    assert pad_runs(array, runs) is array  # nothing to pad: the array itself
