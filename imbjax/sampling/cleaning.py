"""Under-sampling by neighbourhood: NearMiss-1, Tomek links, edited nearest neighbours.

Each returns a boolean keep-mask over the pool, a subset of the training-subset ``mask``, and
removes the same examples as imbalanced-learn 0.14 (for data without distance ties). Which classes
are cleaned comes from the caller: ``target_counts: int[C]`` for NearMiss (an under-sampler,
:func:`imbjax.sampling.strategy.target_counts` with ``kind="under"``) and ``clean_classes: bool[C]``
for Tomek links and ENN (cleaning samplers, :func:`~imbjax.sampling.strategy.targeted_classes`
with ``kind="clean"``; imblearn's default ``"auto"`` cleans every class but the minority).
Neighbours are searched among the examples in ``mask`` (:func:`imbjax.sampling.neighbors.knn`);
every method makes one k-NN query per pool example, ``O(N^2 D)`` in ``[chunk_size, N]`` blocks.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax.imbalance import masked_class_counts
from imbjax.sampling.neighbors import knn
from imbjax.sampling.strategy import check_under_targets

ENN_KINDS = ("all", "mode")


def _rank_within_class(labels: jax.Array, mask: jax.Array, score: jax.Array, num_classes: int) -> jax.Array:
    """Rank of every ``mask`` example among its class by ascending ``score`` (ties: lower index first): ``int32[N]``."""
    sort_label = jnp.where(mask, labels, num_classes)
    by_score = jnp.argsort(score, stable=True)
    order = by_score[jnp.argsort(sort_label[by_score], stable=True)]
    sizes = jnp.bincount(sort_label, length=num_classes + 1)
    starts = jnp.cumsum(sizes) - sizes
    position = jnp.empty_like(order).at[order].set(jnp.arange(order.shape[0], dtype=order.dtype))
    return (position - starts[sort_label]).astype(jnp.int32)


def nearmiss1_mask(x: jax.Array, labels: jax.Array, mask: jax.Array, target_counts: jax.Array, *,
                   n_neighbors: int = 3, chunk_size: int = 256) -> jax.Array:
    """NearMiss-1 (Mani & Zhang 2003; imblearn ``NearMiss(version=1)``): ``bool[N]`` keep-mask.

    Every example of class c scores ``sum_{j=1..n} ||x - m_j||``, its summed Euclidean distance to
    its ``n_neighbors`` nearest minority-class examples (the minority class is the smallest class
    of the subset, lowest label on ties; its own members count themselves, as in imblearn); the
    ``target_counts[c]`` examples with the smallest scores are kept (ties: lower pool index).
    Classes whose target equals their count keep everything.
    """
    num_classes = target_counts.shape[0]
    counts = masked_class_counts(labels, mask, num_classes)
    check_under_targets(counts, target_counts)
    minority = jnp.argmin(jnp.where(counts > 0, counts, jnp.iinfo(jnp.int32).max))
    _, distances = knn(x, x, n_neighbors, candidate_mask=mask & (labels == minority), chunk_size=chunk_size)
    rank = _rank_within_class(labels, mask, jnp.sum(distances, axis=1), num_classes)
    return mask & (rank < target_counts[labels])


def _nearest_neighbors_in_mask(x: jax.Array, mask: jax.Array, k: int, chunk_size: int) -> jax.Array:
    """Each pool example's k nearest other examples in ``mask``: ``int32[N, k]`` (-1 when missing)."""
    neighbors, _ = knn(x, x, k, candidate_mask=mask, query_index=jnp.arange(x.shape[0]), chunk_size=chunk_size)
    return neighbors


def tomek_mask(x: jax.Array, labels: jax.Array, mask: jax.Array, clean_classes: jax.Array, *,
               chunk_size: int = 256) -> jax.Array:
    """Tomek links (Tomek 1976; imblearn ``TomekLinks``): ``bool[N]`` keep-mask.

    Examples i and j of different classes form a Tomek link when each is the other's nearest
    neighbour in the subset. The member of a link whose class is in ``clean_classes: bool[C]`` is
    removed (with imblearn's default "auto", the non-minority side).
    """
    nearest = _nearest_neighbors_in_mask(x, mask, 1, chunk_size)[:, 0]
    found = nearest >= 0
    partner = jnp.where(found, nearest, 0)
    mutual = nearest[partner] == jnp.arange(labels.shape[0])
    link = found & mutual & (labels[partner] != labels)
    return mask & ~(link & clean_classes[labels])


def enn_mask(x: jax.Array, labels: jax.Array, mask: jax.Array, clean_classes: jax.Array, *,
             n_neighbors: int = 3, kind_sel: str = "all", chunk_size: int = 256) -> jax.Array:
    """Edited nearest neighbours (Wilson 1972; imblearn ``EditedNearestNeighbours``): ``bool[N]`` keep-mask.

    An example of a class in ``clean_classes: bool[C]`` is removed unless its ``n_neighbors``
    nearest neighbours in the subset agree with its label: all of them (``kind_sel="all"``,
    imblearn's default) or their most common label, lowest label on ties (``kind_sel="mode"``).
    """
    if kind_sel not in ENN_KINDS:
        raise ValueError(f"unknown ENN kind_sel {kind_sel!r}; choose one of {list(ENN_KINDS)}")
    neighbors = _nearest_neighbors_in_mask(x, mask, n_neighbors, chunk_size)
    found = neighbors >= 0
    neighbor_labels = labels[jnp.where(found, neighbors, 0)]
    if kind_sel == "all":
        agrees = jnp.all(~found | (neighbor_labels == labels[:, None]), axis=1)
    else:
        votes = jnp.sum(jax.nn.one_hot(neighbor_labels, clean_classes.shape[0]) * found[..., None], axis=1)
        agrees = jnp.argmax(votes, axis=1) == labels
    return mask & (agrees | ~clean_classes[labels])
