"""Epoch sampling: each epoch visits the run's training examples in a random order, without replacement.

:func:`epoch_order` fills the ``size`` slots of one epoch by *systematic resampling* of the run's
sampling weights: with ``W_i`` the cumulative weights and ``u ~ U[0, 1)``, example i takes
``floor(size W_i / W + u) - floor(size W_{i-1} / W + u)`` slots, i.e. ``floor`` or ``ceil`` of its
expected share ``size w_i / W``; the slots are then shuffled. Uniform weights over a subset of ``size``
examples give every example exactly one slot (a permutation: PyTorch's ``shuffle=True`` epoch);
class-balanced weights (ROS, ``1 / n_y``) give every example of class y ``floor`` or ``ceil`` of
``size / (C n_y)`` slots: a class-balanced epoch of the same length, each class ``size / C`` slots in
expectation. A class's realised count is off by its examples' roundings: within one of ``size / C`` when
its examples are contiguous in the pool (cumulative weights run class by class), else spread about it
(digits' pool interleaves the classes: at rho 10, 660 slots for an expected 66 a class, 200 epochs gave
56-78 slots a class, 60-72 for 90% of them); a class-aware sampler's counts (Shen et al. 2016) vary too. Fixed shapes: an order has the pool's
length ``N``; slots ``>= size`` repeat valid ones and are never read by :func:`epoch_batch`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def epoch_order(key: jax.Array, weights: jax.Array, size) -> jax.Array:
    """One epoch's example indices, ``int32[N]``: the first ``size`` (may be traced, ``<= N``) are the
    epoch, in random order.

    Args:
      key: PRNG key. weights: ``float32[N]`` non-negative sampling weights over the pool (zero outside
        the run's training subset). size: slots of the epoch (the number of examples with weight > 0,
        for an epoch of the subset's length).
    """
    n = weights.shape[0]
    offset_key, shuffle_key = jax.random.split(key)
    cumulative = jnp.cumsum(weights)
    size_f = jnp.asarray(size, jnp.float32)
    ends = jnp.floor(size_f * cumulative / cumulative[-1] + jax.random.uniform(offset_key)).astype(jnp.int32)
    slot = jnp.arange(n, dtype=jnp.int32)
    example = jnp.minimum(jnp.searchsorted(ends, slot, side="right"), n - 1).astype(jnp.int32)
    valid = slot < size
    shuffled = jnp.argsort(jnp.where(valid, jax.random.uniform(shuffle_key, (n,)), 2.0))
    return jnp.where(valid, example[shuffled], example[shuffled[0]])


def steps_per_epoch(size, batch_size: int) -> jax.Array:
    """``max(size // batch_size, 1)``: full batches per epoch (a last partial batch is dropped, as
    PyTorch's ``drop_last=True``; a subset smaller than a batch is one wrapped batch)."""
    return jnp.maximum(jnp.asarray(size, jnp.int32) // batch_size, 1)


def epoch_batch(order: jax.Array, step_in_epoch, size, batch_size: int) -> jax.Array:
    """The ``step_in_epoch``-th batch of an epoch's ``order``: slots ``[s B, (s + 1) B)`` modulo ``size``,
    ``int32[batch_size]``."""
    slots = (step_in_epoch * batch_size + jnp.arange(batch_size)) % jnp.maximum(size, 1)
    return order[slots]
