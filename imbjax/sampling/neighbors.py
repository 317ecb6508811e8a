"""Exact k-nearest neighbours and per-class k-means inside jit, with bounded memory.

Both work on any feature matrix (input space, or penultimate-layer features for deep
over-sampling). Squared Euclidean distances use ``||a||^2 - 2 a.b + ||b||^2`` with the matrix
product at full float32 precision (``Precision.HIGHEST``: no TF32/bfloat16 passes on GPU/TPU).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_HIGHEST = lax.Precision.HIGHEST


def _squared_norms(x: jax.Array) -> jax.Array:
    return jnp.sum(x * x, axis=-1)


def knn(queries: jax.Array, pool: jax.Array, k: int, *, candidate_mask: jax.Array | None = None,
        query_index: jax.Array | None = None, query_group: jax.Array | None = None,
        pool_group: jax.Array | None = None, chunk_size: int = 256) -> tuple[jax.Array, jax.Array]:
    """The ``k`` nearest candidates of every query, nearest first (exact, brute force).

    A pool example j is a candidate for query q when ``candidate_mask[j]``, ``j != query_index[q]``
    (so a query taken from the pool is not its own neighbour) and ``pool_group[j] == query_group[q]``
    (e.g. same class; both or neither must be given).

    Queries are processed ``chunk_size`` at a time with ``lax.map``: peak memory is one
    ``[chunk_size, N]`` distance block (times any vmap axes), never ``[Q, N]``.

    Args:
      queries: ``float[Q, D]``.
      pool: ``float[N, D]``.
      k: neighbours per query, static, ``1 <= k <= N``.
      candidate_mask: ``bool[N]`` (default: all).
      query_index: ``int[Q]`` pool index of each query, excluded from its own neighbours.
      query_group, pool_group: ``int[Q]`` and ``int[N]`` group ids.
      chunk_size: queries per distance block, static.

    Returns:
      ``(indices int32[Q, k], distances float32[Q, k])``: pool indices and Euclidean distances
      (like ``sklearn.neighbors.NearestNeighbors.kneighbors``). Where a query has fewer than k
      candidates the missing entries have index -1 and distance ``inf``. Ties: lower index first.
    """
    num_queries, num_pool = queries.shape[0], pool.shape[0]
    if not 1 <= k <= num_pool:
        raise ValueError(f"k must lie in [1, {num_pool}] (the pool size), got {k!r}")
    if (query_group is None) != (pool_group is None):
        raise ValueError("give both query_group and pool_group, or neither")
    candidates = jnp.ones(num_pool, bool) if candidate_mask is None else candidate_mask
    query_index = jnp.full(num_queries, -1) if query_index is None else query_index
    query_group = jnp.zeros(num_queries, jnp.int32) if query_group is None else query_group
    pool_group = jnp.zeros(num_pool, jnp.int32) if pool_group is None else pool_group
    pool_norms = _squared_norms(pool)
    positions = jnp.arange(num_pool)

    def nearest(args):
        query, index, group = args
        squared = pool_norms - 2.0 * jnp.matmul(pool, query, precision=_HIGHEST) + _squared_norms(query)
        allowed = candidates & (positions != index) & (pool_group == group)
        negative, nearest_index = lax.top_k(jnp.where(allowed, -jnp.maximum(squared, 0.0), -jnp.inf), k)
        found = negative > -jnp.inf
        return jnp.where(found, nearest_index, -1).astype(jnp.int32), jnp.sqrt(-negative)

    return lax.map(nearest, (queries, query_index, query_group), batch_size=min(chunk_size, num_queries))


def class_kmeans(key: jax.Array, x: jax.Array, labels: jax.Array, mask: jax.Array, num_classes: int,
                 num_clusters: int, *, num_iters: int = 10) -> tuple[jax.Array, jax.Array, jax.Array]:
    """k-means (Lloyd's algorithm, fixed ``num_iters``) run separately inside every class.

    Class c's ``num_clusters`` centroids start at distinct random members of class c within
    ``mask`` (Forgy initialisation); a class with fewer members than clusters leaves the rest
    unused. Every iteration assigns each example to the nearest centroid of its own class and
    moves each centroid to the mean of its members; a centroid that loses all members stays put.

    Args:
      key: PRNG key for the initialisation.
      x: ``float[N, D]``; labels: ``int[N]``; mask: ``bool[N]`` the examples that are clustered.
      num_classes, num_clusters: C and K, static.
      num_iters: Lloyd iterations, static.

    Returns:
      ``(cluster int32[N], centroids float32[C, K, D], sizes int32[C, K])``: each example's cluster
      within its class (also given for examples outside ``mask``: nearest centroid of its class),
      the centroids, and the number of ``mask`` members per cluster.
    """
    num_pool = labels.shape[0]
    sort_key = jnp.where(mask, labels, num_classes)
    order = jnp.lexsort((jax.random.uniform(key, (num_pool,)), sort_key))  # random order within each class
    class_sizes = jnp.bincount(sort_key, length=num_classes + 1)[:num_classes]
    starts = jnp.cumsum(class_sizes) - class_sizes
    rank = jnp.arange(num_clusters)
    used = rank[None, :] < class_sizes[:, None]                                   # [C, K]
    first_members = order[jnp.minimum(starts[:, None] + rank[None, :], num_pool - 1)]
    centroids = x[first_members].astype(jnp.float32)                              # [C, K, D]
    x_norms = _squared_norms(x)
    groups = num_classes * num_clusters
    weights = mask.astype(jnp.float32)

    def assign(centroids):
        flat = centroids.reshape(groups, -1)
        squared = x_norms[:, None] - 2.0 * jnp.matmul(x, flat.T, precision=_HIGHEST) + _squared_norms(flat)
        own_class = squared.reshape(num_pool, num_classes, num_clusters)[jnp.arange(num_pool), labels]
        return jnp.argmin(jnp.where(used[labels], own_class, jnp.inf), axis=1).astype(jnp.int32)

    def member_stats(cluster):
        group = labels * num_clusters + cluster
        sums = jax.ops.segment_sum(x * weights[:, None], group, groups)
        sizes = jax.ops.segment_sum(weights, group, groups)
        return sums.reshape(centroids.shape), sizes.reshape(num_classes, num_clusters)

    def lloyd_step(_, centroids):
        sums, sizes = member_stats(assign(centroids))
        return jnp.where(sizes[..., None] > 0, sums / jnp.maximum(sizes, 1.0)[..., None], centroids)

    centroids = lax.fori_loop(0, num_iters, lloyd_step, centroids)
    cluster = assign(centroids)
    _, sizes = member_stats(cluster)
    return cluster, centroids, sizes.astype(jnp.int32)
