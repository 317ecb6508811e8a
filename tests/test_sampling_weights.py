"""Baseline / ROS / RUS sampling weights and batch drawing."""
import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imbjax import sampling


def _labels_and_mask(seed, num_classes=4, n=400):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    mask = rng.random(n) < rng.uniform(0.05, 1.0, num_classes)[labels]
    mask[np.unique(labels, return_index=True)[1]] = True  # every class keeps >= 1 example
    return jnp.asarray(labels), jnp.asarray(mask)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_ros_gives_every_class_equal_total_weight(seed):
    labels, mask = _labels_and_mask(seed)
    weights = np.asarray(sampling.ros_weights(labels, mask, 4))
    per_class = np.bincount(np.asarray(labels), weights=weights, minlength=4)
    np.testing.assert_allclose(per_class, 1.0, rtol=1e-5)
    assert np.all(weights[~np.asarray(mask)] == 0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_rus_keeps_the_smallest_class_size_of_every_class(seed):
    labels, mask = _labels_and_mask(seed)
    kept = np.asarray(sampling.rus_mask(jax.random.PRNGKey(seed), labels, mask, 4))
    smallest = np.bincount(np.asarray(labels)[np.asarray(mask)], minlength=4).min()
    np.testing.assert_array_equal(np.bincount(np.asarray(labels)[kept], minlength=4), smallest)
    assert not np.any(kept & ~np.asarray(mask))


def test_uniform_weights_are_the_mask():
    labels, mask = _labels_and_mask(0)
    np.testing.assert_array_equal(sampling.uniform_weights(labels, mask), np.asarray(mask, np.float32))


def test_draw_batch_reaches_the_requested_proportions():
    weights = jnp.array([0.0, 1.0, 3.0, 0.0, 6.0])
    draws = np.asarray(sampling.draw_batch(jax.random.PRNGKey(0), weights, 60_000))
    frequency = np.bincount(draws, minlength=5) / draws.size
    expected = np.asarray(weights) / 10.0
    tolerance = 5 * np.sqrt(expected * (1 - expected) / draws.size)  # 5 standard errors
    assert np.all(np.abs(frequency - expected) <= tolerance + 1e-12)
    assert frequency[0] == 0 and frequency[3] == 0


def test_ros_draws_are_class_balanced():
    labels, mask = _labels_and_mask(7)
    weights = sampling.ros_weights(labels, mask, 4)
    draws = np.asarray(sampling.draw_batch(jax.random.PRNGKey(1), weights, 40_000))
    frequency = np.bincount(np.asarray(labels)[draws], minlength=4) / draws.size
    np.testing.assert_allclose(frequency, 0.25, atol=5 * math.sqrt(0.25 * 0.75 / draws.size))
    assert np.all(np.asarray(mask)[draws])
