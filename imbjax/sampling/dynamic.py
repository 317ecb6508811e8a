"""Dynamic sampling (Pouyanfar et al. 2018): per-class sample sizes from last round's class-wise F1.

Survey Eq. 11 (Johnson & Khoshgoftaar 2019):

    size_j = (1 - f1_j) / sum_k (1 - f1_k) * N*,

with ``f1_j`` the one-vs-rest F1 score of class j after the previous round and ``N*`` the average
class size: classes the model already gets right are under-sampled, the others over-sampled.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax.imbalance import masked_class_counts


def dynamic_sample_sizes(f1_per_class: jax.Array, n_star) -> jax.Array:
    """Eq. 11 sample sizes ``float32[C]`` from ``f1_per_class: float[C]`` in [0, 1] and ``N*`` (may be traced).

    When every F1 is 1 (the denominator is 0) the sizes fall back to uniform ``N* / C``.
    The sizes are real numbers; round them (``jnp.round(...).astype(jnp.int32)``) where counts are needed.
    """
    miss = 1.0 - jnp.asarray(f1_per_class, jnp.float32)
    total = jnp.sum(miss)
    share = jnp.where(total > 0, miss / jnp.where(total > 0, total, 1.0), 1.0 / miss.shape[0])
    return share * jnp.asarray(n_star, jnp.float32)


def class_size_weights(labels: jax.Array, mask: jax.Array, class_sizes: jax.Array) -> jax.Array:
    """Per-example sampling weights giving class c a total weight ``class_sizes[c]``: ``float32[N]``.

    ``w_i = class_sizes[y_i] / n_{y_i}`` on ``mask`` (0 elsewhere), so batches drawn with
    :func:`imbjax.sampling.draw_batch` contain class c with probability ``class_sizes[c] / sum``
    over the classes present in ``mask`` (a class with no example in ``mask`` cannot be drawn and
    its share goes to the others).
    """
    counts = masked_class_counts(labels, mask, class_sizes.shape[0])
    per_example = jnp.asarray(class_sizes, jnp.float32) / jnp.maximum(counts, 1)
    return jnp.where(mask, per_example[labels], 0.0)
