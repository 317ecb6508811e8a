"""SMOTE, Borderline-SMOTE and cluster-based over-sampling into fixed-size buffers.

Every sampler takes a feature matrix ``x: [N, D]`` (input space, or penultimate features for deep
over-sampling), ``labels: int[N]``, the training subset ``mask: bool[N]`` and the final per-class
counts ``target_counts: int[C]`` (see :func:`imbjax.sampling.strategy.target_counts` with
``kind="over"``); class c gets ``max(target_counts[c] - n_c, 0)`` synthetic points. Output is a
:class:`SyntheticSamples` buffer of ``max_new`` slots, classes laid out in label order; slots past
the total (or whose class has no eligible seed) are invalid. With concrete inputs a total above
``max_new`` raises; traced, the last classes' points are cut.

A synthetic point is (Chawla et al. 2002)

    x_new = x_seed + u * (x_neighbour - x_seed),   u ~ U[0, 1)

(Borderline-SMOTE-2 draws ``u ~ U[0, 0.5)`` towards an other-class neighbour); the seed is
uniform over the class's eligible examples and the neighbour uniform over the seed's k nearest
candidates (what imblearn does: it draws (seed, neighbour) pairs uniformly from the
``[n_class, k]`` neighbour table). A seed with no candidate neighbour is copied.
Cost: one k-NN query per slot, ``O(max_new * M * D)`` in ``[chunk_size, M]`` blocks, where M is N,
or ``max_candidates`` when the examples of the over-sampled classes are gathered first (the
scalable setting: ``scripts/bench_smote.py`` measures it on a 60,000 x 784 pool).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax.imbalance import masked_class_counts
from imbjax.sampling.neighbors import class_kmeans, knn
from imbjax.sampling.strategy import check_buffer_size, draw_group_members, first_true, slot_groups, uniform_below

BORDERLINE_KINDS = ("borderline-1", "borderline-2")
CLUSTER_METHODS = ("smote", "ros")


class SyntheticSamples(NamedTuple):
    """A fixed-size buffer of synthetic examples.

    points: ``float32[S, D]`` (zero in invalid slots); labels: ``int32[S]`` (-1 in invalid slots,
    so ``jax.nn.one_hot`` gives a zero row); valid: ``bool[S]``; seed, neighbor: ``int32[S]`` pool
    indices of the two end points of each segment (``neighbor == seed`` for a copy).
    """
    points: jax.Array
    labels: jax.Array
    valid: jax.Array
    seed: jax.Array
    neighbor: jax.Array


def _interpolate(key: jax.Array, x: jax.Array, labels: jax.Array, seed: jax.Array, neighbors: jax.Array,
                 slot_class: jax.Array, valid: jax.Array, *, other_class_gap: float = 1.0) -> SyntheticSamples:
    """``x_seed + u (x_nn - x_seed)`` with the neighbour uniform among the found ones of ``neighbors: int[S, k]``.

    ``u ~ U[0, 1)``, or ``U[0, other_class_gap)`` when the neighbour is of another class than the slot.
    """
    neighbor_key, step_key = jax.random.split(key)
    num_found = jnp.sum(neighbors >= 0, axis=1)
    column = uniform_below(neighbor_key, num_found)
    neighbor = jnp.where(num_found > 0, jnp.take_along_axis(neighbors, column[:, None], axis=1)[:, 0], seed)
    gap = jnp.where(labels[neighbor] == slot_class, 1.0, other_class_gap)
    step = jax.random.uniform(step_key, seed.shape) * gap
    start = x[seed].astype(jnp.float32)
    points = start + step[:, None] * (x[neighbor] - start)
    return SyntheticSamples(points=jnp.where(valid[:, None], points, 0.0),
                            labels=jnp.where(valid, slot_class, -1).astype(jnp.int32),
                            valid=valid, seed=jnp.where(valid, seed, 0), neighbor=jnp.where(valid, neighbor, 0))


def _new_per_class(labels: jax.Array, mask: jax.Array, target_counts: jax.Array) -> jax.Array:
    """``max(target_counts[c] - n_c, 0)``: synthetic points wanted per class, ``int32[C]``."""
    return jnp.maximum(target_counts - masked_class_counts(labels, mask, target_counts.shape[0]), 0)


def _new_slots(new: jax.Array, max_new: int) -> tuple[jax.Array, jax.Array]:
    """Per-slot group and validity for ``new[g]`` points of every group g, groups in order."""
    check_buffer_size(jnp.sum(new), max_new, "the synthetic buffer (sum of target_counts - class counts)")
    return slot_groups(new, jnp.arange(max_new))


def _candidates(x: jax.Array, eligible: jax.Array, max_candidates: int | None):
    """The examples SMOTE may use, optionally compacted: ``(index int32[M], usable bool[M], x[index])``.

    ``max_candidates=None`` keeps the whole pool (M = N, no copy); an int M gathers the eligible
    examples (pool order) into a buffer of M rows, so k-NN costs ``M`` instead of ``N`` per query.
    """
    if max_candidates is None:
        return jnp.arange(x.shape[0], dtype=jnp.int32), eligible, x
    check_buffer_size(jnp.sum(eligible), max_candidates, "the candidate set (examples of over-sampled classes)")
    index = first_true(eligible, max_candidates)
    return index, jnp.arange(max_candidates) < jnp.sum(eligible), x[index]


def _same_group_neighbors(x_candidates: jax.Array, index: jax.Array, usable: jax.Array, candidate_groups: jax.Array,
                          seed: jax.Array, seed_group: jax.Array, k: int, chunk_size: int) -> jax.Array:
    """Pool indices of the k nearest usable candidates of the same group as each seed (a candidate position):
    ``int32[S, k]``, -1 where missing."""
    neighbors, _ = knn(x_candidates[seed], x_candidates, k, candidate_mask=usable, query_index=seed,
                       query_group=seed_group, pool_group=candidate_groups, chunk_size=chunk_size)
    return jnp.where(neighbors >= 0, index[neighbors], -1)


def _grouped_smote(key: jax.Array, x: jax.Array, labels: jax.Array, mask: jax.Array, groups: jax.Array,
                   new: jax.Array, group_class: jax.Array, *, max_new: int, k_neighbors: int | None,
                   max_candidates: int | None, chunk_size: int) -> SyntheticSamples:
    """``new[g]`` SMOTE points inside every group g of ``groups: int[N]`` (seed and neighbour from the group);
    ``k_neighbors=None`` copies the seed instead (ROS). ``group_class: int[G]`` labels each group's points."""
    slot_group, valid = _new_slots(new, max_new)
    index, usable, x_candidates = _candidates(x, mask & (new[groups] > 0), max_candidates)
    candidate_groups = groups[index]
    seed_key, sample_key = jax.random.split(key)
    seed, found = draw_group_members(seed_key, candidate_groups, usable, slot_group, new.shape[0])
    if k_neighbors is None:
        neighbors = jnp.full((max_new, 1), -1, jnp.int32)
    else:
        neighbors = _same_group_neighbors(x_candidates, index, usable, candidate_groups, seed, slot_group,
                                          k_neighbors, chunk_size)
    return _interpolate(sample_key, x, labels, index[seed], neighbors, group_class[slot_group], valid & found)


def smote(key: jax.Array, x: jax.Array, labels: jax.Array, mask: jax.Array, target_counts: jax.Array, *,
          max_new: int, k_neighbors: int = 5, max_candidates: int | None = None,
          chunk_size: int = 256) -> SyntheticSamples:
    """SMOTE (Chawla et al. 2002): interpolate between a class member and one of its k nearest class neighbours.

    Seeds are uniform over the class's examples in ``mask``; neighbours are the ``k_neighbors``
    nearest examples of the same class in ``mask`` (the seed itself excluded), as in imblearn's
    ``SMOTE(k_neighbors=5)``. Shapes: ``x: [N, D]``, output buffer of ``max_new`` slots.

    ``max_candidates`` (static): a bound on the number of subset examples of the classes that get
    new points (e.g. the minority classes). Given, those examples are gathered first and each k-NN
    query scans ``max_candidates`` rows instead of N (same result for the same key; with concrete
    inputs a bound that is too small raises). Cost ``O(max_new * M * D)``, M = max_candidates or N.
    """
    return _grouped_smote(key, x, labels, mask, labels, _new_per_class(labels, mask, target_counts),
                          jnp.arange(target_counts.shape[0]), max_new=max_new, k_neighbors=k_neighbors,
                          max_candidates=max_candidates, chunk_size=chunk_size)


def _danger(x_queries: jax.Array, query_index: jax.Array, query_labels: jax.Array, x: jax.Array, labels: jax.Array,
            mask: jax.Array, m_neighbors: int, chunk_size: int) -> jax.Array:
    """Borderline-SMOTE's danger test for the given queries against the subset ``mask``: ``bool[Q]``."""
    neighbors, _ = knn(x_queries, x, m_neighbors, candidate_mask=mask, query_index=query_index, chunk_size=chunk_size)
    num_other = jnp.sum((neighbors >= 0) & (labels[neighbors] != query_labels[:, None]), axis=1)
    return (2 * num_other >= m_neighbors) & (num_other < m_neighbors)


def borderline_danger(x: jax.Array, labels: jax.Array, mask: jax.Array, *, m_neighbors: int = 10,
                      chunk_size: int = 256) -> jax.Array:
    """Borderline-SMOTE's DANGER set (Han et al. 2005), imblearn's definition: ``bool[N]``.

    Example i of the subset is in danger when, among its ``m`` nearest neighbours in the subset
    (itself excluded, any class), the number ``m'`` of other-class neighbours satisfies
    ``m / 2 <= m' < m`` (``m' = m`` is noise, ``m' < m / 2`` safe). Computed for every example in
    ``mask`` (one k-NN query per pool example: ``O(N^2 D)``).
    """
    index = jnp.arange(labels.shape[0])
    return mask & _danger(x, index, labels, x, labels, mask, m_neighbors, chunk_size)


def borderline_smote(key: jax.Array, x: jax.Array, labels: jax.Array, mask: jax.Array, target_counts: jax.Array,
                     *, max_new: int, kind: str = "borderline-1", k_neighbors: int = 5, m_neighbors: int = 10,
                     max_candidates: int | None = None, chunk_size: int = 256) -> SyntheticSamples:
    """Borderline-SMOTE (Han et al. 2005): SMOTE seeded only from the DANGER examples of each class.

    * ``"borderline-1"``: neighbours are the k nearest examples of the seed's class (imblearn).
    * ``"borderline-2"``: neighbours are the k nearest examples of any class (imblearn); the gap is
      ``u ~ U[0, 1)`` towards a same-class neighbour and ``u ~ U[0, 0.5)`` towards an other-class
      one (Han et al.; imblearn instead multiplies ``U[0, 1)`` by ``U[0, 0.5)``).

    A class with no danger example gets no points (its slots are invalid), as in imblearn.
    Danger set: :func:`borderline_danger` (``m_neighbors=10`` like imblearn), evaluated for the
    examples of the classes that get new points. ``max_candidates``: as in :func:`smote` (the
    danger test then costs ``O(M * N * D)`` instead of ``O(N^2 D)``).
    """
    if kind not in BORDERLINE_KINDS:
        raise ValueError(f"unknown Borderline-SMOTE kind {kind!r}; choose one of {list(BORDERLINE_KINDS)}")
    new = _new_per_class(labels, mask, target_counts)
    slot_class, valid = _new_slots(new, max_new)
    index, usable, x_candidates = _candidates(x, mask & (new[labels] > 0), max_candidates)
    candidate_labels = labels[index]
    danger = usable & _danger(x_candidates, index, candidate_labels, x, labels, mask, m_neighbors, chunk_size)
    seed_key, sample_key = jax.random.split(key)
    seed, found = draw_group_members(seed_key, candidate_labels, danger, slot_class, target_counts.shape[0])
    if kind == "borderline-1":
        neighbors = _same_group_neighbors(x_candidates, index, usable, candidate_labels, seed, slot_class,
                                          k_neighbors, chunk_size)
    else:
        neighbors, _ = knn(x_candidates[seed], x, k_neighbors, candidate_mask=mask, query_index=index[seed],
                           chunk_size=chunk_size)
    return _interpolate(sample_key, x, labels, index[seed], neighbors, slot_class, valid & found,
                        other_class_gap=1.0 if kind == "borderline-1" else 0.5)


def equalize_cluster_counts(sizes: jax.Array, extra: jax.Array) -> jax.Array:
    """Share ``extra[c]`` new examples among class c's non-empty clusters, smallest first (water-filling).

    The new counts ``a[c, k] >= 0`` sum to ``extra[c]`` and make the largest final size
    ``max_k (sizes + a)`` as small as possible: the smallest clusters are raised to a common level,
    the remainder goes one each to the smallest of them. Empty clusters get nothing.
    ``sizes: int[C, K]``, ``extra: int[C]`` -> ``int32[C, K]``.
    """
    num_clusters = sizes.shape[1]
    active = sizes > 0
    order = jnp.argsort(jnp.where(active, sizes, jnp.iinfo(jnp.int32).max), axis=1, stable=True)
    sorted_sizes = jnp.take_along_axis(sizes, order, axis=1)
    sorted_active = jnp.take_along_axis(active, order, axis=1)
    prefix = jnp.cumsum(jnp.where(sorted_active, sorted_sizes, 0), axis=1)
    rank = jnp.arange(1, num_clusters + 1)
    # Cluster j (1-based, ascending) is raised iff lifting clusters 1..j to s_j costs at most extra.
    raised = sorted_active & (sorted_sizes * rank <= extra[:, None] + prefix)
    num_raised = jnp.sum(raised, axis=1)
    total = extra + jnp.sum(jnp.where(raised, sorted_sizes, 0), axis=1)
    level = total // jnp.maximum(num_raised, 1)
    remainder = total - level * num_raised
    final = level[:, None] + (rank - 1 < remainder[:, None])
    sorted_new = jnp.where(raised, final - sorted_sizes, 0)
    inverse = jnp.argsort(order, axis=1)
    return jnp.take_along_axis(sorted_new, inverse, axis=1).astype(jnp.int32)


def cluster_oversample(key: jax.Array, x: jax.Array, labels: jax.Array, mask: jax.Array, target_counts: jax.Array,
                       *, num_clusters: int, max_new: int, method: str = "smote", k_neighbors: int = 5,
                       num_iters: int = 10, max_candidates: int | None = None,
                       chunk_size: int = 256) -> tuple[SyntheticSamples, jax.Array]:
    """Cluster-based over-sampling (Jo & Japkowicz 2004), for small disjuncts: ``(samples, cluster int32[N])``.

    Each class of the subset is clustered by k-means (:func:`class_kmeans`, ``num_clusters``
    clusters, ``num_iters`` Lloyd iterations). Variant implemented: the number of new points of
    class c comes from ``target_counts`` (Jo & Japkowicz instead over-sample every class up to
    ``K x`` its largest cluster); within the class they go to the smallest clusters first so that
    cluster sizes become as equal as possible (:func:`equalize_cluster_counts`, the paper's
    within-class equalisation). Inside a cluster, new points are SMOTE interpolations between a
    member and one of its ``k_neighbors`` nearest members of the same cluster (``method="smote"``)
    or copies of random members (``method="ros"``, the paper's random over-sampling).
    ``cluster`` is every example's cluster within its class. ``max_candidates``: as in :func:`smote`.
    """
    if method not in CLUSTER_METHODS:
        raise ValueError(f"unknown cluster over-sampling method {method!r}; choose one of {list(CLUSTER_METHODS)}")
    num_classes = target_counts.shape[0]
    kmeans_key, sample_key = jax.random.split(key)
    cluster, _, sizes = class_kmeans(kmeans_key, x, labels, mask, num_classes, num_clusters, num_iters=num_iters)
    new = equalize_cluster_counts(sizes, _new_per_class(labels, mask, target_counts)).reshape(-1)
    group_class = jnp.arange(num_classes * num_clusters) // num_clusters
    samples = _grouped_smote(sample_key, x, labels, mask, labels * num_clusters + cluster, new, group_class,
                             max_new=max_new, k_neighbors=k_neighbors if method == "smote" else None,
                             max_candidates=max_candidates, chunk_size=chunk_size)
    return samples, cluster
