"""Large Margin Local Embedding, LMLE (Huang, Li, Loy & Tang 2016, CVPR; survey "LMLE").

The network learns an embedding ``f(x)`` on the unit sphere (features L2-normalised) in which the
k-means clusters of every class are compact and separated, by a hinge loss on *quintuplets*, and
classifies by a cluster-wise kNN rule. ``D(a, b) = ||f(a) - f(b)||^2`` (squared Euclidean distance
of normalised features, in [0, 4]).

Clusters: every class of the run's training subset is split into ``num_clusters`` k-means clusters
(:func:`imbjax.sampling.class_kmeans`, 10 Lloyd iterations, Forgy start) of the normalised pool
features; a class with fewer examples than clusters leaves the extra clusters empty. Clusters and
the stored features are computed at ``init`` and refreshed every ``refresh_steps`` steps inside the
run's ``lax.scan`` (Huang et al. re-cluster periodically during training; ``refresh_steps = 0``,
the default, is one epoch of the training subset), and once more with the trained network for the
test-time classifier.

Quintuplet sampling: a batch draws ``batch_size`` anchors class-balanced (Huang et al. take equal
numbers of quintuplets from minority and majority classes), and for each anchor ``x_i`` picks, by
the stored features of the training subset:

* ``x_i^{p+}``: its farthest neighbour in its own cluster;
* ``x_i^{p-}``: its nearest neighbour of its class in another cluster;
* ``x_i^{p--}``: its farthest neighbour of its class;
* ``x_i^{n}``: its nearest neighbour of another class.

Where a member does not exist (the anchor alone in its cluster or class, a class with one
non-empty cluster, a single class) the anchor itself stands in for it (distance 0); the terms
that compare with a missing ``x^{p-}`` or ``x^{n}`` are dropped (see below).

Triple-header hinge loss (Huang et al.'s constrained objective with its slack variables at their
optimum), averaged over the batch's anchors::

    eps_i = max(0, g1 + D(x_i, x_i^{p+})  - D(x_i, x_i^{p-}))     (dropped without x^{p-})
    tau_i = max(0, g2 + D(x_i, x_i^{p-})  - D(x_i, x_i^{p--}))    (dropped without x^{p-})
    sig_i = max(0, g3 + D(x_i, x_i^{p--}) - D(x_i, x_i^{n}))      (dropped without x^{n})
    loss  = mean_i (eps_i + tau_i + sig_i)

with the five members' *current* features (quintuplets are chosen with the stored ones). Weight
decay (the paper's ``lambda ||W||^2``) is the optimizer's (``adamw``), not part of the loss. The
output layer is not trained (LMLE predicts with its kNN rule).

Cluster-wise kNN classification (Huang et al.): for a query q, find its ``knn_neighbors``
nearest cluster centroids (non-empty clusters of all classes); if they all belong to one class,
that class; otherwise ``argmax_c [min_{m_j in kNN, y_j != c} D(q, m_j) - max_{m_i in kNN, y_i = c}
D(q, m_i)]``. For class probabilities (ranking metrics) every class gets the finite score::

    s_c(q) = min_{m: y_m != c} D(q, m) - max(min_{m: y_m = c} D(q, m), max_{m in kNN(q), y_m = c} D(q, m))

over all non-empty centroids m (the first term is 4, the largest squared distance within the unit
ball, when no other class has a centroid). Where class c and another class both have centroids in
the kNN, s_c is the paper's margin; the arg-max of s is the paper's label in every case
(single-class neighbourhoods included, ties aside); classes absent from the kNN get lower, graded
scores. ``p_c = softmax_c(s_c / knn_temperature)``; a class without training examples has
probability 0.

Choices where the paper leaves the setting open (all documented parameters): ``num_clusters`` = 4
per class and ``knn_neighbors`` = 5 (static: they fix shapes; register a variant with
:func:`lmle_method`); margins ``g1 = margin_cluster``, ``g2 = margin_class``, ``g3 = margin_negative``
(default 0.2 each, in squared unit-sphere distance), ``knn_temperature`` (default 0.1), all sweepable.
Centroids are the means of the normalised member features (not re-normalised).
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax.engine.blocks import (
    apply_in_batches,
    context,
    forward,
    gradient_step,
    initial_state,
    model_of,
    refresh_interval,
    round_update,
    test_outputs,
)
from imbjax.engine.method import Method
from imbjax.engine.program import Family, Program, ProgramSpec, branches, choose
from imbjax.engine.streams import stream_key
from imbjax.methods.standard import ros_sampler
from imbjax.sampling import class_kmeans, draw_batch

Array = jax.Array

HUANG = "Huang, Li, Loy & Tang 2016 (CVPR), large margin local embedding (LMLE)"
KMEANS_ITERS = 10
ANCHOR, CLUSTER_FARTHEST, OTHER_CLUSTER_NEAREST, CLASS_FARTHEST, NEGATIVE_NEAREST = range(5)


class Clusters(NamedTuple):
    """Per-class k-means of the normalised pool features.

    Attributes:
      embeddings: ``float32[N, D]`` the normalised pool features they were computed from.
      cluster: ``int32[N]`` each example's cluster within its class.
      centroids: ``float32[C, K, D]``; sizes: ``int32[C, K]`` training members per cluster.
    """

    embeddings: Array
    cluster: Array
    centroids: Array
    sizes: Array


class LMLEState(NamedTuple):
    """The method state of an LMLE run: the training subset ``mask: bool[N]``, the current
    :class:`Clusters`, ``refresh_steps: int32`` and the k-means key ``cluster_key``."""

    mask: Array
    clusters: Clusters
    refresh_steps: Array
    cluster_key: Array


class Quintuplets(NamedTuple):
    """``indices: int32[B, 5]`` pool indices (anchor, p+, p-, p--, n); ``has_other_cluster: bool[B]``
    (p- exists) and ``has_negative: bool[B]`` (n exists)."""

    indices: Array
    has_other_cluster: Array
    has_negative: Array


# --- Kernels ---------------------------------------------------------------------------------

def normalise(features: Array) -> Array:
    """``f / ||f||_2`` along the last axis (0 stays 0)."""
    norm = jnp.sqrt(jnp.sum(features**2, axis=-1, keepdims=True))
    return features / jnp.maximum(norm, 1e-12)


def squared_distances(a: Array, b: Array) -> Array:
    """``||a_i - b_j||^2``: ``[n, m]`` for ``a: [n, D]``, ``b: [m, D]`` (clipped at 0)."""
    cross = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
    return jnp.maximum(jnp.sum(a**2, -1)[:, None] - 2.0 * cross + jnp.sum(b**2, -1)[None, :], 0.0)


def first_extreme_index(values: Array, *, largest: bool) -> Array:
    """``jnp.argmax`` (``largest``) or ``jnp.argmin`` over the last axis, with their ties (the first
    index) and NaNs (the first NaN), as two single-operand reductions: the extreme, then the lowest
    index holding it. XLA:CPU runs argmax's (value, index) reduction several times slower, and
    quintuplet selection takes four of them every step (docs/performance.md)."""
    extreme = (jnp.max if largest else jnp.min)(values, axis=-1, keepdims=True)
    hit = (values == extreme) | jnp.isnan(values)
    index = jax.lax.broadcasted_iota(jnp.int32, values.shape, values.ndim - 1)
    return jnp.min(jnp.where(hit, index, values.shape[-1]), axis=-1)


def select_quintuplets(anchors: Array, embeddings: Array, labels: Array, cluster: Array, mask: Array
                       ) -> Quintuplets:
    """The quintuplet of every anchor (module docstring) among the ``mask`` members.

    Args:
      anchors: ``int[B]`` pool indices of the anchors.
      embeddings: ``float[N, D]`` stored features; labels, cluster: ``int[N]``; mask: ``bool[N]``.

    Ties go to the lower pool index; a missing member is the anchor itself.
    """
    distances = squared_distances(embeddings[anchors], embeddings)                    # [B, N]
    others = mask[None, :] & (jnp.arange(labels.shape[0])[None, :] != anchors[:, None])
    same_class = others & (labels[None, :] == labels[anchors][:, None])
    same_cluster = same_class & (cluster[None, :] == cluster[anchors][:, None])
    other_cluster = same_class & ~same_cluster
    other_class = mask[None, :] & (labels[None, :] != labels[anchors][:, None])

    def farthest(allowed):
        return jnp.where(jnp.any(allowed, 1), first_extreme_index(jnp.where(allowed, distances, -1.0), largest=True),
                         anchors)

    def nearest(allowed):
        return jnp.where(jnp.any(allowed, 1), first_extreme_index(jnp.where(allowed, distances, jnp.inf), largest=False),
                         anchors)

    indices = jnp.stack([anchors, farthest(same_cluster), nearest(other_cluster), farthest(same_class),
                         nearest(other_class)], axis=1).astype(jnp.int32)
    return Quintuplets(indices, jnp.any(other_cluster, 1), jnp.any(other_class, 1))


def triple_header_hinge(features: Array, has_other_cluster: Array, has_negative: Array, margins) -> Array:
    """``eps_i + tau_i + sig_i`` per anchor (module docstring), ``float32[B]``.

    Args:
      features: ``[B, 5, D]`` the (normalised) features of anchor, p+, p-, p--, n.
      has_other_cluster, has_negative: ``bool[B]`` (:class:`Quintuplets`).
      margins: ``(g1, g2, g3)`` scalars.
    """
    g1, g2, g3 = margins
    distance = jnp.sum((features - features[:, ANCHOR:ANCHOR + 1]) ** 2, axis=-1)    # [B, 5]
    eps = jax.nn.relu(g1 + distance[:, CLUSTER_FARTHEST] - distance[:, OTHER_CLUSTER_NEAREST])
    tau = jax.nn.relu(g2 + distance[:, OTHER_CLUSTER_NEAREST] - distance[:, CLASS_FARTHEST])
    sig = jax.nn.relu(g3 + distance[:, CLASS_FARTHEST] - distance[:, NEGATIVE_NEAREST])
    return jnp.where(has_other_cluster, eps + tau, 0.0) + jnp.where(has_negative, sig, 0.0)


def cluster_knn_scores(queries: Array, centroids: Array, sizes: Array, k: int) -> Array:
    """The cluster-wise kNN scores ``s_c(q)`` of the module docstring, ``float32[n, C]``.

    Args:
      queries: ``[n, D]`` normalised query features.
      centroids: ``[C, K, D]``; sizes: ``[C, K]`` (clusters with size 0 are ignored).
      k: centroids in the neighbourhood, static (at most ``C * K``).

    A class without non-empty clusters scores ``-inf``.
    """
    num_classes, num_clusters = sizes.shape
    used = (sizes > 0).reshape(-1)
    owner = jnp.repeat(jnp.arange(num_classes), num_clusters)
    distances = jnp.where(used, squared_distances(queries, centroids.reshape(num_classes * num_clusters, -1)),
                          jnp.inf)                                                    # [n, C K]
    kth = -jax.lax.top_k(-distances, min(k, num_classes * num_clusters))[0][:, -1:]  # k-th smallest
    in_knn = used & (distances <= kth)
    of_class = owner[None, None, :] == jnp.arange(num_classes)[None, :, None]       # [1, C, C K]
    d = distances[:, None, :]
    nearest_other = jnp.minimum(jnp.min(jnp.where(of_class, jnp.inf, d), axis=-1), 4.0)
    nearest_own = jnp.min(jnp.where(of_class, d, jnp.inf), axis=-1)
    farthest_own_in_knn = jnp.max(jnp.where(of_class & in_knn[:, None, :], d, -jnp.inf), axis=-1)
    scores = nearest_other - jnp.maximum(nearest_own, farthest_own_in_knn)
    return jnp.where(jnp.isfinite(nearest_own), scores, -jnp.inf)


def cluster_knn_postprocess(logits, ctx, *, knn_neighbors):
    """``softmax(s_c / knn_temperature)`` of the test examples: ``ctx.features`` are their
    normalised features ``[n, D]``, ``ctx.extra`` the final :class:`Clusters` (set by evaluate)."""
    del logits
    clusters = ctx.extra
    scores = cluster_knn_scores(ctx.features, clusters.centroids, clusters.sizes, knn_neighbors)
    return jax.nn.softmax(scores / ctx.hparams["knn_temperature"], axis=-1)


def lmle_loss(logits, labels, ctx):
    """The batch mean of the triple-header hinge loss: ``ctx.features`` are the quintuplets'
    normalised features ``[B, 5, D]``, ``ctx.extra`` their :class:`Quintuplets`."""
    del logits, labels
    margins = (ctx.hparams["margin_cluster"], ctx.hparams["margin_class"], ctx.hparams["margin_negative"])
    return jnp.mean(triple_header_hinge(ctx.features, ctx.extra.has_other_cluster, ctx.extra.has_negative, margins))


# --- The training program ------------------------------------------------------------------------

def lmle_program(spec: ProgramSpec, *, num_clusters: int) -> Program:
    """Class-balanced anchors, quintuplets from the stored clusters, the method's loss (the
    triple-header hinge) on the quintuplets' current features; clusters refreshed every
    ``refresh_steps``; prediction by the method's post-processing (cluster-wise kNN).
    ``num_clusters`` k-means clusters per class (static)."""
    model = model_of(spec)
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")
    postprocessors = branches(spec.methods, "postprocess")

    def recluster(carry, inputs):
        """New :class:`Clusters` from the network's current (normalised) features of the pool."""
        del carry
        params, x, labels, mask, key = inputs
        embeddings = normalise(apply_in_batches(model, params, x, spec.eval_batch_size)[1])
        cluster, centroids, sizes = class_kmeans(key, embeddings, labels, mask, spec.num_classes, num_clusters,
                                                 num_iters=KMEANS_ITERS)
        return Clusters(embeddings, cluster, centroids, sizes)

    maybe_recluster = round_update(recluster)

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        cluster_key = stream_key(key, "lmle_clusters")
        clusters = recluster(None, (state.params, data.x_train, data.y_train, mask, jax.random.fold_in(cluster_key, 0)))
        steps = refresh_interval(hparams["refresh_steps"], jnp.sum(state.class_counts), spec.batch_size)
        return state._replace(extra=LMLEState(mask, clusters, steps, cluster_key))

    def train_step(data, hparams, state):
        extra = state.extra
        due = (state.step > 0) & (state.step % extra.refresh_steps == 0)
        clusters = maybe_recluster(due, extra.clusters, (state.params, data.x_train, data.y_train, extra.mask,
                                                         jax.random.fold_in(extra.cluster_key, state.step)))
        state = state._replace(extra=extra._replace(clusters=clusters))
        key, batch_key = jax.random.split(state.key)  # the key stream of train.draw_training_batch
        anchors = draw_batch(batch_key, state.weights, spec.batch_size)
        state = state._replace(key=key)
        quintuplets = select_quintuplets(anchors, clusters.embeddings, data.y_train, clusters.cluster, extra.mask)
        x = data.x_train[quintuplets.indices.reshape(-1)]
        y = data.y_train[anchors]

        def batch_loss(params):
            logits, features, after = forward(model, params, x)
            features = normalise(features).reshape(spec.batch_size, 5, -1)
            ctx = context(spec, state, hparams, features)._replace(extra=quintuplets)
            anchor_logits = logits.reshape(spec.batch_size, 5, -1)[:, ANCHOR]
            return choose(loss_fns, hparams["method_index"], anchor_logits, y, ctx), after

        return gradient_step(spec, state, hparams, batch_loss)

    def evaluate(data, state, hparams):
        extra = state.extra
        clusters = recluster(None, (state.params, data.x_train, data.y_train, extra.mask,
                                    jax.random.fold_in(extra.cluster_key, spec.num_steps)))

        def predict(x):
            logits, features = apply_in_batches(model, state.params, x, spec.eval_batch_size)
            ctx = context(spec, state._replace(extra=clusters), hparams, normalise(features))
            return choose(postprocessors, hparams["method_index"], logits, ctx)

        return test_outputs(spec, data, state, predict(data.x_test), predict)

    return Program(init, train_step, evaluate)


def lmle_family(num_clusters: int) -> Family:
    """The family (training program) of LMLE with ``num_clusters`` clusters per class."""
    return Family(f"lmle_{num_clusters}_clusters", functools.partial(lmle_program, num_clusters=num_clusters),
                  epoch_sampling=False, augmentation=False)


HPARAMS = {"margin_cluster": 0.2, "margin_class": 0.2, "margin_negative": 0.2, "refresh_steps": 0.0,
           "knn_temperature": 0.1}
BOUNDS = {"margin_cluster": (0.0, 4.0), "margin_class": (0.0, 4.0), "margin_negative": (0.0, 4.0),
          "refresh_steps": (0.0, math.inf), "knn_temperature": (1e-6, math.inf)}


def lmle_method(name: str, *, num_clusters: int, knn_neighbors: int, reference: str) -> Method:
    """An LMLE method with ``num_clusters`` k-means clusters per class and ``knn_neighbors``
    centroids in its cluster-wise kNN (both static); its family is ``lmle_family(num_clusters)``, which
    :data:`FAMILIES` must hold."""
    return Method(name, loss=lmle_loss, sampler=ros_sampler,
                  postprocess=functools.partial(cluster_knn_postprocess, knn_neighbors=knn_neighbors),
                  hparams=dict(HPARAMS), bounds=dict(BOUNDS), family=lmle_family(num_clusters).name,
                  reference=reference)


FAMILIES = (lmle_family(4),)

METHODS = (
    lmle_method("lmle", num_clusters=4, knn_neighbors=5,
                reference=f"{HUANG}: quintuplets from 4 k-means clusters per class, triple-header hinge "
                          "loss, cluster-wise kNN over 5 centroids; re-clustered every epoch"),
)
