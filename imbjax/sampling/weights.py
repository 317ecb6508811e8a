"""Per-example sampling weights over a training-subset mask, and batch drawing.

A sampling method is a weight vector over the fixed pool (zero outside the training subset);
a batch is ``batch_size`` draws with replacement proportional to the weights. Fixed shapes,
jit/vmap-able, so a sampler is vmapped over seeds and ratios like any loss.

* baseline: uniform over the subset.
* ROS, random over-sampling to balance (Buda et al. 2018; Hensman & Masko 2015): each class
  gets the same total weight, so draws are class-balanced in expectation. Drawing with
  replacement at class-balanced weights is ROS in the limit of many steps, without
  materialising duplicated examples.
* RUS, random under-sampling to balance: a fixed random subset of ``min_c n_c`` examples of every
  class (chosen once per run from ``key``) is kept, and batches are drawn uniformly from it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax.imbalance import masked_class_counts, subset_mask


def uniform_weights(labels: jax.Array, mask: jax.Array) -> jax.Array:
    """Baseline: weight 1 for every example of the subset, ``float32[N]``."""
    del labels
    return mask.astype(jnp.float32)


def ros_weights(labels: jax.Array, mask: jax.Array, num_classes: int) -> jax.Array:
    """Class-balanced weights ``1 / n_{y_i}`` over the subset (ROS to balance), ``float32[N]``."""
    counts = masked_class_counts(labels, mask, num_classes)
    return jnp.where(mask, 1.0 / jnp.maximum(counts, 1)[labels], 0.0)


def rus_mask(key: jax.Array, labels: jax.Array, mask: jax.Array, num_classes: int) -> jax.Array:
    """RUS to balance: keep ``min_c n_c`` random examples of every non-empty class, ``bool[N]``."""
    counts = masked_class_counts(labels, mask, num_classes)
    smallest = jnp.min(jnp.where(counts > 0, counts, jnp.iinfo(jnp.int32).max))
    return subset_mask(key, labels, jnp.full(num_classes, smallest, jnp.int32), pool=mask)


def rus_weights(key: jax.Array, labels: jax.Array, mask: jax.Array, num_classes: int) -> jax.Array:
    """Uniform weights over the RUS subset (see :func:`rus_mask`), ``float32[N]``."""
    return rus_mask(key, labels, mask, num_classes).astype(jnp.float32)


def draw_batch(key: jax.Array, weights: jax.Array, batch_size: int) -> jax.Array:
    """``batch_size`` pool indices drawn with replacement, ``P(i) = w_i / sum(w)``: ``int32[batch]``.

    Inverse-CDF sampling (``searchsorted`` on the cumulative weights): O(N + B log N) per batch.
    Examples with zero weight are never drawn.
    """
    cumulative = jnp.cumsum(weights)
    targets = jax.random.uniform(key, (batch_size,), maxval=cumulative[-1])
    return jnp.searchsorted(cumulative, targets, side="right").astype(jnp.int32)
