"""Deep over-sampling, DOS (Ando & Huang 2017, ECML-PKDD; survey "Deep over-sampling (DOS)").

The network is split into lower layers ``f`` (the deep feature, our models' penultimate features)
and upper layers ``g`` (the output layer). Every training example ``x_i`` of class ``y_i`` is
*overloaded*: paired with its ``k = k_{y_i}`` in-class nearest neighbours in the deep feature space,
``N_i = (v_i1 .. v_ik)`` (features ``f(x_j)`` of other training examples of class ``y_i``, taken at
the last refresh and held constant in between), and with ``r = r_{y_i}`` weight vectors
``w_i^(1) .. w_i^(r)`` on the simplex over ``N_i`` (the over-sampling rate: a minority example is
presented ``r`` times, each time with another weight vector). Each overloaded instance
``(x_i, y_i, N_i, w_i^(l))`` has the losses::

    l_f(l) = sum_j w_ij^(l) ||f(x_i) - v_ij||^2                          (micro-cluster loss: lower layers)
    rho_ij^(l) = exp(-w_ij^(l) ||f(x_i) - v_ij||) / sum_j' exp(-w_ij'^(l) ||f(x_i) - v_ij'||)
    l_g(l) = sum_j rho_ij^(l) CE(g(v_ij), y_i)                            (targets' CE: upper layers)

``l_f`` is smallest at ``f(x_i) = sum_j w_ij v_ij``: each weight vector is a synthetic embedding
target in the linear subspace of the in-class neighbours (the paper's abstract), and the pull
towards it shrinks the in-class variance. ``l_g`` trains the output layer on the neighbours'
features, weighted by ``rho``. Our per-example loss sums the example's ``r`` overloaded instances::

    L_i = sum_{l=1..r} [ CE(g(f(x_i)), y_i) + target_weight * l_g(l) + micro_cluster_weight * l_f(l) ]
        = r CE(g(f(x_i)), y_i) + sum_l [ target_weight * l_g(l) + micro_cluster_weight * l_f(l) ]

and the batch loss is the mean of ``L_i`` over a batch drawn uniformly from the training subset
(the baseline's batches). An example without neighbours (``k = 0``: the majority classes by
default) has ``L_i = r CE``, a majority example ``r = 1``: plain CE. With ``micro_cluster_weight =
target_weight = 0`` and ``oversampling_rate = 1`` the loss is the baseline's CE.

Where the equations come from: the split into ``l_f`` for the lower and a weighted sum of the
targets' CE for the upper layers, the per-class ``k`` and the alternation of training and target
updates are the survey's account and the paper's abstract; ``rho``, the ``r`` weight vectors per
example drawn at each target update and normalised to sum 1, and ``l_f`` as the ``w``-weighted
distances follow the public re-implementation in ``MaxDietsch/master-thesis`` (mmpretrain
``DOSLoss`` / ``DOSTrainLoop``). The paper's own method section could not be consulted here; the
choices below are ours and each is a parameter or named:

* **Own CE** (our variant): ``CE(g(f(x_i)), y_i)`` is in every overloaded instance (weight 1), so
  the example's own features are classified too and ``k = 0`` is plain CE; the re-implementation
  presents an overloaded example to the output layer through its neighbours only.
* **Squared distance in l_f** (our reading): the re-implementation sums unsquared distances;
  squared ones make the minimiser the weighted mean of the neighbours (the abstract's "linear
  subspace"). ``rho`` uses the unsquared distance, as the re-implementation.
* **Gradients**: the targets ``v_ij`` are constants and ``rho`` is held constant
  (``stop_gradient``), so ``l_g`` moves only the output layer and ``l_f`` only the lower layers
  (the survey: "optimizing the lower layer and upper layer parameters separately"); the own CE
  moves both.
* **Weight vectors**: ``w^(l) ~ U(0, 1)^k`` normalised to sum 1 over the example's neighbours (the
  re-implementation draws ``|N(0, 1)|``), drawn per example and refresh round (fixed within a
  round) from the run's own key stream. At most :data:`MAX_WEIGHT_VECTORS` distinct vectors per
  example (static shape): a rate ``r`` above it presents copies ``l`` and ``l +
  MAX_WEIGHT_VECTORS`` with the same vector (our variant; exact up to that rate).
* **Replication as multiplicity** (our variant): the ``r`` instances of an example enter its loss
  together instead of as ``r`` entries of a larger epoch; in expectation the same, and batches are
  the baseline's (:func:`imbjax.engine.blocks.draw_training_indices`, the same key stream, epoch sampling and
  augmentation as configured), so runs of one seed see the same examples.
* **Over-sampling rate** ``oversampling_rate`` (``r`` of every minority class; majority classes
  ``r = 1``): a whole number ``>= 1``, or 0 (the default, our choice) for the class-balancing rate
  ``r_c = round(n_max / n_c)`` at which the minority classes' overloaded instances match the
  largest class in number (as SMOTE "to balance").
* **normalise** (0 or 1, default 0 = the paper's raw features; our variant): 1 measures every
  distance (neighbour search, ``l_f``, ``rho``) between L2-normalised features ``f / ||f||``, so
  ``l_f <= 4 sum_j w_ij`` and the micro-cluster term cannot grow with the feature scale.
* **Initial targets** from the initialised network (no pre-training phase).

Neighbours per class (``k_c``): the survey gives ``k = 3`` for the minority class and ``k = 0`` for
the majority as an example; the paper's Table 14 uses ``k = 5``. A class is a *minority* class when
it has fewer training examples than the largest class of the run's subset; ``k_c = k_minority``
(default 5) for minority classes and ``k_majority`` (default 0) for the others, rounded and at most
:data:`MAX_NEIGHBORS` (static). A class with fewer than ``k_c + 1`` examples uses all its other
examples; a class with one example has none (its loss is ``r`` CE).

Refresh: the features of the whole pool are recomputed and the in-class neighbours re-found (exact
kNN within each class of the training subset, :func:`neighbor_targets`), and new weight vectors
drawn, at ``init`` and then every ``refresh_steps`` steps inside the run's ``lax.scan``
(``refresh_steps = 0``, the default, is one epoch of the training subset, ``ceil(n / batch_size)``
steps: the paper alternates training and target updates). Under ``vmap`` the refresh runs only at steps where some run refreshes
(:func:`imbjax.engine.blocks.round_update`). Prediction is the network's softmax.

Hyper-parameters (sweepable; refused before compiling outside ``Method.bounds`` or, for
``oversampling_rate`` and ``normalise``, when not whole / not 0 or 1): ``k_minority``,
``k_majority`` in [0, MAX_NEIGHBORS], ``oversampling_rate`` >= 0, ``micro_cluster_weight`` >= 0
(lambda, default 1: the losses added unweighted), ``target_weight`` >= 0 (default 1), ``normalise``
in {0, 1}, ``refresh_steps`` >= 0.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax import losses, models
from imbjax.engine.blocks import (
    apply_in_batches,
    augment_batch,
    context,
    draw_training_indices,
    forward,
    gradient_step,
    initial_state,
    model_of,
    refresh_interval,
    round_update,
)
from imbjax.engine.method import Method, uniform_sampler
from imbjax.engine.program import Family, Program, ProgramSpec, branches, choose
from imbjax.engine.streams import stream_key
from imbjax.methods.standard import standard_program

Array = jax.Array

ANDO = "Ando & Huang 2017 (ECML-PKDD), deep over-sampling (DOS)"
FAMILY = "dos"
#: Largest number of in-class neighbours per example (static: the neighbour table's width).
MAX_NEIGHBORS = 10
#: Distinct weight vectors per example (static); higher over-sampling rates reuse them cyclically.
MAX_WEIGHT_VECTORS = 10


class DOSState(NamedTuple):
    """The method state of a DOS run.

    Attributes:
      members: ``int32[C, W]`` the run's training subset by class (:func:`class_members`).
      embeddings: ``float32[N, D]`` the pool's features at the last refresh.
      neighbors: ``int32[N, MAX_NEIGHBORS]`` each example's in-class neighbours (pool indices,
        nearest first), -1 beyond its class's ``k_c`` or its class's size.
      refresh_steps: ``int32`` steps between refreshes (the epoch length when ``refresh_steps = 0``).
      weight_key: the key of the run's weight vectors (folded with the refresh step and the example).
    """

    members: Array
    embeddings: Array
    neighbors: Array
    refresh_steps: Array
    weight_key: Array


class DOSTargets(NamedTuple):
    """What the DOS loss reads from ``ctx.extra`` for a batch of ``B`` examples: the neighbour
    targets ``embeddings: [B, K, D]``, their logits ``g(v): [B, K, C]``, which are real
    ``valid: bool[B, K]`` and the raw weight draws ``weights: [B, R, K]`` in (0, 1)."""

    embeddings: Array
    logits: Array
    valid: Array
    weights: Array


# --- Kernels ---------------------------------------------------------------------------------

def minority_classes(class_counts: Array) -> Array:
    """``bool[C]``: classes with fewer training examples than the largest."""
    counts = jnp.asarray(class_counts, jnp.float32)
    return counts < jnp.max(counts)


def neighbors_per_class(class_counts: Array, k_minority, k_majority, max_neighbors: int) -> Array:
    """``k_c``: ``k_minority`` for classes smaller than the largest, ``k_majority`` for the others,
    rounded and clipped to ``[0, max_neighbors]``; ``int32[C]``."""
    k = jnp.where(minority_classes(class_counts), k_minority, k_majority)
    return jnp.clip(jnp.round(k), 0, max_neighbors).astype(jnp.int32)


def oversampling_rates(class_counts: Array, oversampling_rate) -> Array:
    """``r_c``, the overloaded instances per example of class c: ``round(oversampling_rate)`` for
    minority classes (``round(n_max / n_c)`` when it is 0), 1 for the largest; ``float32[C]``, >= 1."""
    counts = jnp.asarray(class_counts, jnp.float32)
    balancing = jnp.round(jnp.max(counts) / jnp.maximum(counts, 1.0))
    rate = jnp.where(jnp.round(oversampling_rate) > 0, jnp.round(oversampling_rate), balancing)
    return jnp.where(minority_classes(counts), jnp.maximum(rate, 1.0), 1.0)


def copies_per_weight_vector(rates: Array, num_vectors: int) -> Array:
    """How many of an example's ``r`` overloaded instances use each of its ``num_vectors`` weight
    vectors (instance ``l`` uses vector ``l mod num_vectors``): ``float32[B, num_vectors]``, rows
    summing to ``r``. ``rates: [B]`` whole numbers >= 1."""
    vector = jnp.arange(num_vectors, dtype=jnp.float32)[None, :]
    rates = jnp.asarray(rates, jnp.float32)[:, None]
    return jnp.where(vector < rates, jnp.floor((rates - 1.0 - vector) / num_vectors) + 1.0, 0.0)


def simplex_weights(draws: Array, valid: Array) -> Array:
    """Weight vectors on the simplex over each example's real neighbours: ``draws`` zeroed where
    ``valid`` is False and divided by their sum (all 0 without neighbours).

    Args:
      draws: ``[B, R, K]`` positive draws.
      valid: ``bool[B, K]``.
    """
    kept = jnp.where(valid[:, None, :], draws, 0.0)
    return kept / jnp.maximum(jnp.sum(kept, axis=-1, keepdims=True), 1e-12)


def unit_rows(features: Array) -> Array:
    """``f / ||f||_2`` along the last axis; 0 stays 0, with a finite gradient there."""
    return features * jax.lax.rsqrt(jnp.maximum(jnp.sum(features**2, axis=-1, keepdims=True), 1e-24))


def feature_space(features: Array, normalise) -> Array:
    """The features distances are measured in: L2-normalised where ``normalise`` (> 0.5), else as given."""
    return jnp.where(normalise > 0.5, unit_rows(features), features)


def class_members(labels: Array, mask: Array, num_classes: int, width: int) -> Array:
    """The ``mask`` members of every class by pool index, ascending: ``int32[C, width]``, -1 past the
    class's count (``width`` must be at least the largest class of ``mask``)."""
    num_pool = labels.shape[0]
    sort_key = jnp.where(mask, labels, num_classes)
    order = jnp.argsort(sort_key, stable=True)
    counts = jnp.bincount(sort_key, length=num_classes + 1)[:num_classes]
    slot = jnp.arange(width)
    members = order[jnp.minimum((jnp.cumsum(counts) - counts)[:, None] + slot[None, :], num_pool - 1)]
    return jnp.where(slot[None, :] < counts[:, None], members, -1).astype(jnp.int32)


def neighbor_targets(embeddings: Array, members: Array, k_per_class: Array, max_neighbors: int) -> Array:
    """Every training example's ``k_c`` nearest other members of its class (Euclidean, in
    ``embeddings: [N, D]``), nearest first, ties to the lower pool index: ``int32[N, max_neighbors]``,
    -1 past ``k_c``, past the class's other members and for pool examples outside the training subset.

    Distances are computed within each class only (``members: int[C, W]`` from :func:`class_members`,
    ``C W^2 D`` multiply-adds instead of the pool's ``N^2 D``). ``k_per_class: int[C]``.
    """
    num_pool, width = embeddings.shape[0], members.shape[1]
    real = members >= 0
    features = embeddings[jnp.maximum(members, 0)]                                        # [C, W, D]
    norms = jnp.sum(features**2, axis=-1)
    squared = (norms[:, :, None] + norms[:, None, :]
               - 2.0 * jnp.einsum("cwd,cvd->cwv", features, features, precision=jax.lax.Precision.HIGHEST))
    allowed = real[:, None, :] & ~jnp.eye(width, dtype=bool)[None]
    found = min(max_neighbors, width)
    score, slot = jax.lax.top_k(jnp.where(allowed, -jnp.maximum(squared, 0.0), -jnp.inf), found)
    nearest = jnp.take_along_axis(members[:, None, :], slot, axis=-1)                       # [C, W, found]
    wanted = jnp.arange(found)[None, None, :] < k_per_class[:, None, None]
    nearest = jnp.where(wanted & (score > -jnp.inf), nearest, -1)
    nearest = jnp.pad(nearest, ((0, 0), (0, 0), (0, max_neighbors - found)), constant_values=-1)
    rows = jnp.where(real, members, num_pool).reshape(-1)                                   # num_pool: dropped
    return jnp.full((num_pool, max_neighbors), -1, jnp.int32).at[rows].set(
        nearest.reshape(-1, max_neighbors), mode="drop")


def draw_weight_vectors(round_key: Array, index: Array, num_vectors: int, max_neighbors: int) -> Array:
    """Raw weight draws ``U(0, 1): [B, num_vectors, max_neighbors]`` of the pool examples ``index:
    int[B]``, a function of ``(round_key, example)`` only (the same within a refresh round)."""
    def one(i):
        return jax.random.uniform(jax.random.fold_in(round_key, i), (num_vectors, max_neighbors),
                                  minval=1e-6, maxval=1.0)

    return jax.vmap(one)(index)


def dos_example_loss(logits: Array, features: Array, labels: Array, targets: DOSTargets, rates: Array,
                     micro_cluster_weight, target_weight, normalise) -> Array:
    """``L_i`` of the module docstring per example, ``float32[B]``.

    Args:
      logits: ``[B, C]`` ``g(f(x_i))``; features: ``[B, D]`` ``f(x_i)``; labels: ``int[B]``.
      targets: the batch's :class:`DOSTargets` (``K`` neighbours, ``R`` weight draws each).
      rates: ``[B]`` the examples' over-sampling rates ``r_{y_i}`` (whole numbers >= 1).
      micro_cluster_weight, target_weight: ``lambda`` and the targets' CE weight.
      normalise: > 0.5 measures distances between L2-normalised features.
    """
    weights = simplex_weights(targets.weights, targets.valid)                       # [B, R, K]
    copies = copies_per_weight_vector(rates, weights.shape[1])                       # [B, R]
    squared = jnp.sum((feature_space(features, normalise)[:, None, :]
                       - feature_space(targets.embeddings, normalise)) ** 2, axis=-1)  # [B, K]
    micro_cluster = jnp.einsum("brk,bk->br", weights, squared)                      # l_f per vector
    distance = jnp.sqrt(jax.lax.stop_gradient(squared))
    scores = jnp.where(targets.valid[:, None, :], -weights * distance[:, None, :], -1e30)
    rho = jnp.where(targets.valid[:, None, :], jax.nn.softmax(scores, axis=-1), 0.0)
    target_ce = losses.cross_entropy(targets.logits, jnp.broadcast_to(labels[:, None], targets.valid.shape))
    target_loss = jnp.einsum("brk,bk->br", rho, jnp.where(targets.valid, target_ce, 0.0))  # l_g per vector
    per_vector = target_weight * target_loss + micro_cluster_weight * micro_cluster
    return rates * losses.cross_entropy(logits, labels) + jnp.sum(copies * per_vector, axis=1)


def dos_loss(logits, labels, ctx):
    """The batch mean of DOS's per-example loss (:func:`dos_example_loss`): ``ctx.features`` are the
    batch's features ``[B, D]``, ``ctx.extra`` its :class:`DOSTargets`."""
    hparams = ctx.hparams
    rates = oversampling_rates(ctx.class_counts, hparams["oversampling_rate"])[labels]
    return jnp.mean(dos_example_loss(logits, ctx.features, labels, ctx.extra, rates, hparams["micro_cluster_weight"],
                                     hparams["target_weight"], hparams["normalise"]))


def head_logits(params, features: Array) -> Array:
    """The output layer (:data:`imbjax.models.HEAD`, a dense layer in every model) applied to
    ``features: [..., D]``: ``[..., C]``."""
    head = params["params"][models.HEAD]
    return jnp.matmul(features, head["kernel"], precision=jax.lax.Precision.HIGHEST) + head["bias"]


def check_setting(values: Mapping[str, tuple[float, ...]], n_max: int) -> None:
    """Refuse over-sampling rates that are not whole numbers and ``normalise`` values other than 0 / 1."""
    del n_max
    for rate in values["oversampling_rate"]:
        if rate != round(rate):
            raise ValueError(f"dos hyper-parameter oversampling_rate={rate!r} is not a whole number of overloaded "
                             f"instances; use 0 (the class-balancing rate) or 1, 2, 3, ...")
    for flag in values["normalise"]:
        if flag not in (0.0, 1.0):
            raise ValueError(f"dos hyper-parameter normalise={flag!r} must be 0 (raw features) or 1 "
                             f"(L2-normalised features)")


# --- The training program ------------------------------------------------------------------------

def largest_class(spec: ProgramSpec, num_pool: int) -> int:
    """The most training examples a class of the spec's runs can have (static): ``n_max``, or the pool
    size for the ``natural`` profile (the whole pool) and an unresolved ``n_max`` of 0."""
    return spec.n_max if spec.n_max > 0 and spec.profile != "natural" else num_pool


def dos_program(spec: ProgramSpec) -> Program:
    """The run's batches (:func:`imbjax.engine.blocks.draw_training_indices`, augmented as configured), each
    example with its stored in-class neighbour targets and weight vectors; the method's loss (DOS's);
    features and neighbours refreshed every ``refresh_steps``."""
    model = model_of(spec)
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")

    def refresh(carry, inputs):
        """New ``(embeddings, neighbors)`` from the network's current features of the pool."""
        del carry
        params, x, members, k_per_class, normalise = inputs
        _, embeddings = apply_in_batches(model, params, x, spec.eval_batch_size)
        return embeddings, neighbor_targets(feature_space(embeddings, normalise), members, k_per_class, MAX_NEIGHBORS)

    maybe_refresh = round_update(refresh)

    def refresh_inputs(data, state, hparams, members):
        k_per_class = neighbors_per_class(state.class_counts, hparams["k_minority"], hparams["k_majority"],
                                          MAX_NEIGHBORS)
        return state.params, data.x_train, members, k_per_class, hparams["normalise"]

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        members = class_members(data.y_train, mask, spec.num_classes, largest_class(spec, data.y_train.shape[0]))
        embeddings, neighbors = refresh(None, refresh_inputs(data, state, hparams, members))
        steps = refresh_interval(hparams["refresh_steps"], jnp.sum(state.class_counts), spec.batch_size)
        return state._replace(extra=DOSState(members, embeddings, neighbors, steps,
                                             stream_key(key, "dos_weights")))

    def train_step(data, hparams, state):
        extra = state.extra
        since_refresh = state.step % extra.refresh_steps
        embeddings, neighbors = maybe_refresh(
            (state.step > 0) & (since_refresh == 0), (extra.embeddings, extra.neighbors),
            refresh_inputs(data, state, hparams, extra.members))
        state = state._replace(extra=extra._replace(embeddings=embeddings, neighbors=neighbors))
        state, index = draw_training_indices(spec, state)  # the baseline's batches
        state, x = augment_batch(spec, state, data.x_train[index])
        y = data.y_train[index]
        valid = neighbors[index] >= 0
        targets = embeddings[jnp.maximum(neighbors[index], 0)]
        round_key = jax.random.fold_in(extra.weight_key, state.step - since_refresh)
        draws = draw_weight_vectors(round_key, index, MAX_WEIGHT_VECTORS, MAX_NEIGHBORS)

        def batch_loss(params):
            logits, features, after = forward(model, params, x)
            batch = DOSTargets(targets, head_logits(params, targets), valid, draws)
            ctx = context(spec, state, hparams, features)._replace(extra=batch)
            return choose(loss_fns, hparams["method_index"], logits, y, ctx), after

        return gradient_step(spec, state, hparams, batch_loss)

    return Program(init, train_step, standard_program(spec).evaluate)


FAMILIES = (Family(FAMILY, dos_program),)

METHODS = (
    Method(
        "dos", loss=dos_loss, sampler=uniform_sampler, family=FAMILY,
        hparams={"k_minority": 5.0, "k_majority": 0.0, "oversampling_rate": 0.0, "micro_cluster_weight": 1.0,
        "target_weight": 1.0, "normalise": 0.0, "refresh_steps": 0.0},
        bounds={"k_minority": (0.0, MAX_NEIGHBORS), "k_majority": (0.0, MAX_NEIGHBORS),
       "oversampling_rate": (0.0, math.inf), "micro_cluster_weight": (0.0, math.inf),
       "target_weight": (0.0, math.inf), "normalise": (0.0, 1.0), "refresh_steps": (0.0, math.inf)},
        check_setting=check_setting,
        reference=f"{ANDO}: minority examples overloaded r times (r = class-balancing rate) with k = 5 in-class "
         "feature-space neighbours and random simplex weights; micro-cluster loss + rho-weighted CE over "
         "the targets; targets refreshed every epoch"),
)
