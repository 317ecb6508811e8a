"""Deep over-sampling, DOS (Ando & Huang 2017, ECML-PKDD; survey "Deep over-sampling (DOS)").

Every training example ``x_i`` (class ``y_i``) is presented together with its ``k_{y_i}`` in-class
nearest neighbours in the deep feature space, ``v_i1 .. v_ik`` (embeddings ``f(x_j)`` of other
training examples of class ``y_i``, taken at the last refresh and held constant in between). With
``v_i0 = f(x_i)`` the current embedding and ``g`` the output layer, the per-example loss is::

    l(x_i) = sum_{j=0..k} w_j CE(g(v_ij), y_i)                    (weighted CE over the targets)
             + lambda || f(x_i) - (1/k) sum_{j=1..k} v_ij ||^2    (micro-cluster loss)

* The weighted CE trains the output layer on ``k`` stored neighbour embeddings besides the
  example's own: a class with ``k_c`` neighbours per example is over-sampled ``(1 + k_c)``-fold in
  feature space. The weights are a choice (the survey does not give Ando & Huang's): ``w_0 = 1``
  and ``w_j = target_weight`` (default 1) for ``j >= 1``. The targets are constants, so their CE
  moves only the output layer, while ``CE(g(f(x_i)))`` moves every layer.
* The micro-cluster loss pulls the embedding towards the mean of its neighbours (the lower layers'
  objective in Ando & Huang). It equals ``(1/k) sum_j ||f(x_i) - v_ij||^2`` less a constant (the
  targets' spread), so the two have the same gradient up to the factor ``1/k``; it is 0 for an
  example with ``k = 0`` neighbours (the majority classes by default). ``lambda =
  micro_cluster_weight`` (default 1).

Neighbours per class (``k_c``, the DOS over-sampling rate): Ando & Huang use a larger ``k`` for
minority classes and ``k = 0`` for the majority (survey: "k = 3 for the minority class, and k = 0 for
the majority class"). Here a class is a *minority* class when it has fewer training examples than
the largest class of the run's subset; ``k_c = k_minority`` (default 5, the paper's Table 14) for
minority classes and ``k_c = k_majority`` (default 0) for the others, both rounded and at most
:data:`MAX_NEIGHBORS` (static: it sets the neighbour table's shape). A class with fewer than
``k_c + 1`` examples uses all its other examples; a class with one example has no neighbours (its
loss is the plain CE).

Refresh: the embeddings of the whole pool are recomputed and the in-class neighbours re-found
(exact kNN, :func:`imbjax.sampling.knn`) at ``init`` and then every ``refresh_steps`` steps inside the
run's ``lax.scan`` (``refresh_steps = 0``, the default, is one epoch of the training subset,
``ceil(n / batch_size)`` steps; Ando & Huang alternate one training epoch and one target update).
Under ``vmap`` the refresh runs only at steps where some run refreshes
(:func:`imbjax.train.round_update`). Batches are drawn uniformly from the training
subset (the over-sampling is in feature space), with the same key stream as the baseline, so runs
with one seed see the same batches. Prediction is the network's softmax.

Hyper-parameters (sweepable; ``Method.bounds`` refuses other values before compiling):
``k_minority``, ``k_majority`` in [0, MAX_NEIGHBORS], ``micro_cluster_weight`` >= 0,
``target_weight`` >= 0, ``refresh_steps`` >= 0.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax import losses, models
from imbjax.methods import Method, register, uniform_sampler
from imbjax.sampling import draw_batch, knn
from imbjax.train import (
    Program, ProgramSpec, apply_in_batches, branches, choose, context, gradient_step, initial_state,
    refresh_interval, register_family, round_update, standard_program,
)

Array = jax.Array

ANDO = "Ando & Huang 2017 (ECML-PKDD), deep over-sampling (DOS)"
FAMILY = "dos"
#: Largest number of in-class neighbours per example (static: the neighbour table's width).
MAX_NEIGHBORS = 10


class DOSState(NamedTuple):
    """The method state of a DOS run.

    Attributes:
      mask: ``bool[N]`` the run's training subset.
      embeddings: ``float32[N, D]`` the pool's features at the last refresh.
      neighbors: ``int32[N, MAX_NEIGHBORS]`` each example's in-class neighbours (pool indices,
        nearest first), -1 beyond its class's ``k_c`` or its class's size.
      refresh_steps: ``int32`` steps between refreshes (the epoch length when ``refresh_steps = 0``).
    """

    mask: Array
    embeddings: Array
    neighbors: Array
    refresh_steps: Array


class DOSTargets(NamedTuple):
    """What the DOS loss reads from ``ctx.extra``: a batch's neighbour targets ``[B, K, D]``,
    their logits ``g(v) : [B, K, C]`` and which are real ``bool[B, K]``."""

    embeddings: Array
    logits: Array
    valid: Array


# --- Kernels ---------------------------------------------------------------------------------

def neighbors_per_class(class_counts: Array, k_minority, k_majority, max_neighbors: int) -> Array:
    """``k_c``: ``k_minority`` for classes smaller than the largest, ``k_majority`` for the others,
    rounded and clipped to ``[0, max_neighbors]``; ``int32[C]``."""
    counts = jnp.asarray(class_counts, jnp.float32)
    k = jnp.where(counts < jnp.max(counts), k_minority, k_majority)
    return jnp.clip(jnp.round(k), 0, max_neighbors).astype(jnp.int32)


def neighbor_targets(embeddings: Array, labels: Array, mask: Array, k_per_class: Array, max_neighbors: int
                     ) -> Array:
    """Every pool example's ``k_{y_i}`` nearest other members of its class within ``mask`` in
    ``embeddings: [N, D]`` (Euclidean), nearest first: ``int32[N, max_neighbors]``, -1 past
    ``k_{y_i}`` or past the class's other members. ``k_per_class: int[C]``."""
    num_pool = labels.shape[0]
    index, _ = knn(embeddings, embeddings, max_neighbors, candidate_mask=mask, query_index=jnp.arange(num_pool),
                   query_group=labels, pool_group=labels)
    wanted = jnp.arange(max_neighbors)[None, :] < k_per_class[labels][:, None]
    return jnp.where(wanted, index, -1)


def micro_cluster_loss(embeddings: Array, targets: Array, valid: Array) -> Array:
    """``|| f_i - mean_{j: valid_ij} v_ij ||^2`` per example, 0 where no target is valid: ``float32[B]``.

    Args:
      embeddings: ``[B, D]`` the batch's current features ``f(x_i)``.
      targets: ``[B, K, D]`` the neighbour targets ``v_ij``.
      valid: ``bool[B, K]`` which targets exist.
    """
    weight = valid.astype(jnp.float32)
    count = jnp.sum(weight, axis=1)
    mean = jnp.sum(targets * weight[..., None], axis=1) / jnp.maximum(count, 1.0)[:, None]
    return jnp.where(count > 0, jnp.sum((embeddings - mean) ** 2, axis=-1), 0.0)


def weighted_target_ce(logits: Array, target_logits: Array, labels: Array, valid: Array, target_weight) -> Array:
    """``CE(g(f_i), y_i) + target_weight * sum_{j: valid_ij} CE(g(v_ij), y_i)`` per example, ``float32[B]``.

    Args:
      logits: ``[B, C]`` of the batch's own embeddings; target_logits: ``[B, K, C]`` of the targets.
      labels: ``int[B]``; valid: ``bool[B, K]``.
    """
    own = losses.cross_entropy(logits, labels)
    targets = losses.cross_entropy(target_logits, jnp.broadcast_to(labels[:, None], valid.shape))
    return own + target_weight * jnp.sum(jnp.where(valid, targets, 0.0), axis=1)


def dos_loss(logits, labels, ctx):
    """The batch mean of DOS's loss (module docstring): ``ctx.features`` are the batch's embeddings
    ``[B, D]``, ``ctx.extra`` its :class:`DOSTargets`."""
    targets = ctx.extra
    ce = weighted_target_ce(logits, targets.logits, labels, targets.valid, ctx.hparams["target_weight"])
    pull = micro_cluster_loss(ctx.features, targets.embeddings, targets.valid)
    return jnp.mean(ce + ctx.hparams["micro_cluster_weight"] * pull)


def head_logits(params, features: Array) -> Array:
    """The output layer (:data:`imbjax.models.HEAD`, a dense layer in every model) applied to
    ``features: [..., D]``: ``[..., C]``."""
    head = params["params"][models.HEAD]
    return jnp.matmul(features, head["kernel"], precision=jax.lax.Precision.HIGHEST) + head["bias"]


# --- The training program ------------------------------------------------------------------------

@register_family(FAMILY)
def dos_program(spec: ProgramSpec) -> Program:
    """Uniform batches from the training subset, each example with its stored in-class neighbour
    targets; the method's loss (DOS's); embeddings and neighbours refreshed every ``refresh_steps``."""
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")

    def refresh(carry, inputs):
        """New ``(embeddings, neighbors)`` from the network's current features of the pool."""
        del carry
        params, x, labels, mask, k_per_class = inputs
        _, embeddings = apply_in_batches(model, params, x, spec.eval_batch_size)
        return embeddings, neighbor_targets(embeddings, labels, mask, k_per_class, MAX_NEIGHBORS)

    maybe_refresh = round_update(refresh)

    def k_per_class(state, hparams):
        return neighbors_per_class(state.class_counts, hparams["k_minority"], hparams["k_majority"], MAX_NEIGHBORS)

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        embeddings, neighbors = refresh(None, (state.params, data.x_train, data.y_train, mask,
                                               k_per_class(state, hparams)))
        steps = refresh_interval(hparams["refresh_steps"], jnp.sum(state.class_counts), spec.batch_size)
        return state._replace(extra=DOSState(mask, embeddings, neighbors, steps))

    def train_step(data, hparams, state):
        extra = state.extra
        due = (state.step > 0) & (state.step % extra.refresh_steps == 0)
        embeddings, neighbors = maybe_refresh(
            due, (extra.embeddings, extra.neighbors),
            (state.params, data.x_train, data.y_train, extra.mask, k_per_class(state, hparams)))
        state = state._replace(extra=extra._replace(embeddings=embeddings, neighbors=neighbors))
        key, batch_key = jax.random.split(state.key)  # the key stream of train.draw_training_batch
        index = draw_batch(batch_key, state.weights, spec.batch_size)
        state = state._replace(key=key)
        x, y = data.x_train[index], data.y_train[index]
        valid = neighbors[index] >= 0
        targets = embeddings[jnp.maximum(neighbors[index], 0)]

        def batch_loss(params):
            logits, features = model.apply(params, x)
            batch = DOSTargets(targets, head_logits(params, targets), valid)
            ctx = context(spec, state, hparams, features)._replace(extra=batch)
            return choose(loss_fns, hparams["method_index"], logits, y, ctx)

        return gradient_step(spec, state, hparams, batch_loss)

    def advance(data, state, hparams, num_steps):
        return jax.lax.scan(lambda s, _: (train_step(data, hparams, s), None), state, length=num_steps)[0]

    return Program(init, advance, standard_program(spec).evaluate)


register(Method(
    "dos", loss=dos_loss, sampler=uniform_sampler, family=FAMILY,
    hparams={"k_minority": 5.0, "k_majority": 0.0, "micro_cluster_weight": 1.0, "target_weight": 1.0,
             "refresh_steps": 0.0},
    bounds={"k_minority": (0.0, MAX_NEIGHBORS), "k_majority": (0.0, MAX_NEIGHBORS),
            "micro_cluster_weight": (0.0, math.inf), "target_weight": (0.0, math.inf),
            "refresh_steps": (0.0, math.inf)},
    reference=f"{ANDO}: k = 5 in-class feature-space neighbours for minority classes, 0 for the majority; "
              "micro-cluster loss + CE over the targets; targets refreshed every epoch"))
