"""Mixing kernels shared by mixup (Zhang et al. 2018), manifold mixup (Verma et al. 2019) and Remix (Chou et
al. 2020).

A mixed example is ``x~_i = lam_i x_i + (1 - lam_i) x_{pi(i)}`` with ``lam_i ~ Beta(alpha, alpha)`` drawn
per example and ``pi`` a random permutation of the batch (its partner); mixup mixes inputs, manifold
mixup a hidden layer's activations (the same :func:`mix_inputs` on them). The mixed label is
``w_i e_{y_i} + (1 - w_i) e_{y_pi(i)}``, trained with :func:`mixed_cross_entropy`; mixup's label weight
is ``w = lam``, Remix's :func:`remix_label_weight` leans to the minority class. The official mixup code
(and MiSLAS's, GCL's) draws one ``lam`` per batch; a per-example draw is this module's (the issue's)
choice, and a per-batch ``lam`` is a ``[batch]`` vector of equal entries.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from imbjax.losses._checks import check_in_range
from imbjax.losses.classification import cross_entropy


def mixing_weights(key: jax.Array, batch_size: int, alpha) -> jax.Array:
    """``lam_i ~ Beta(alpha, alpha)``, ``float32[batch_size]``; ``alpha = 0`` gives ``lam = 1`` (no mixing),
    as the official ``mixup_data`` for ``alpha <= 0``. ``alpha`` >= 0 may be traced."""
    check_in_range("alpha", alpha, low=0.0, high=math.inf)
    alpha = jnp.asarray(alpha, jnp.float32)
    usable = jnp.where(alpha > 0, alpha, 1.0)
    draws = jax.random.beta(key, usable, usable, (batch_size,), jnp.float32)
    return jnp.where(alpha > 0, draws, 1.0)


def mixing_partners(key: jax.Array, batch_size: int) -> jax.Array:
    """The partner ``pi(i)`` of every example: a random permutation of the batch, ``int32[batch_size]``
    (the official ``torch.randperm(batch_size)``)."""
    return jax.random.permutation(key, batch_size).astype(jnp.int32)


def mix_inputs(x: jax.Array, partners: jax.Array, lam: jax.Array) -> jax.Array:
    """``lam_i x_i + (1 - lam_i) x_{partners[i]}`` for inputs or hidden activations ``x: [batch, ...]``;
    ``partners: int[batch]``, ``lam: float[batch]`` (broadcast over the trailing axes)."""
    weight = jnp.reshape(lam, lam.shape + (1,) * (x.ndim - 1)).astype(x.dtype)
    return weight * x + (1.0 - weight) * x[partners]


def mixed_cross_entropy(logits: jax.Array, labels: jax.Array, partner_labels: jax.Array, label_weight: jax.Array
                        ) -> jax.Array:
    """CE against the mixed label: ``w_i CE(z_i, y_i) + (1 - w_i) CE(z_i, y'_i)``, ``float[batch]`` (the
    official ``mixup_criterion`` per example). ``label_weight``: ``w``, ``float[batch]`` or a scalar
    (``lam`` for mixup, :func:`remix_label_weight` for Remix)."""
    return label_weight * cross_entropy(logits, labels) + (1.0 - label_weight) * cross_entropy(logits, partner_labels)


def remix_label_weight(lam: jax.Array, count_a: jax.Array, count_b: jax.Array, *, kappa=3.0, tau=0.5) -> jax.Array:
    """Remix's weight of example ``a``'s label in ``x = lam x_a + (1 - lam) x_b`` (Chou et al. 2020):

    ``0`` if ``n_a / n_b >= kappa`` and ``lam < tau`` (``a`` is much the larger class and ``b``'s input
    dominates: the label is ``b``'s); ``1`` if ``n_a / n_b <= 1 / kappa`` and ``1 - lam < tau``; ``lam``
    otherwise (mixup). The ratios are compared as ``n_a >= kappa n_b`` and ``kappa n_a <= n_b``, so a count of 0
    needs no division (``n_b = 0``: the ratio is infinite). When both conditions hold (``kappa = 1`` and
    equal counts, or two empty classes) the first wins.

    Args:
      lam: ``float[...]`` input mixing weights; count_a, count_b: the class sizes of ``a``'s and ``b``'s
        labels, broadcastable to ``lam``.
      kappa: >= 1; tau: in [0, 1] (both may be traced).

    Returns:
      ``float[...]``, the shape of ``lam``.
    """
    check_in_range("kappa", kappa, low=1.0, high=math.inf)
    check_in_range("tau", tau, low=0.0, high=1.0, high_inclusive=True)
    lam = jnp.asarray(lam, jnp.float32)
    count_a, count_b = jnp.asarray(count_a, jnp.float32), jnp.asarray(count_b, jnp.float32)
    to_b = (count_a >= kappa * count_b) & (lam < tau)
    to_a = (kappa * count_a <= count_b) & (1.0 - lam < tau)
    return jnp.where(to_b, 0.0, jnp.where(to_a, 1.0, lam))
