"""Classical resampling methods (survey: "Machine learning techniques for class imbalanced data"):
SMOTE, Borderline-SMOTE, cluster-based over-sampling, NearMiss-1, Tomek links and ENN, applied once
per run to the run's training subset in input space, then ordinary training on the result.

The kernels are :mod:`imbjax.sampling` (``smote``, ``cleaning``, ``neighbors``); this module turns
them into methods of one training program (family ``"resampling"``):

* at ``init`` the method's resampler sees the pool's inputs (flattened to ``[N, D]``), its labels and
  the run's subset mask, and returns per-example weights over the pool (1 on the kept examples) and
  a fixed-size buffer of synthetic examples; the run's method state holds the buffer
  (``points [S, *input_shape]``, ``labels [S]``) and ``state.weights`` is ``float32[N + S]``, 1 on
  kept pool examples and valid synthetic slots, 0 elsewhere;
* every step draws a batch uniformly from that union (pool index ``i < N`` or buffer slot ``i - N``),
  augments it as configured (:func:`imbjax.engine.blocks.augment_batch`, the standard loop's key
  stream), and takes a step on the method's loss (cross-entropy); prediction is the plain softmax.

The buffer has ``S = (C - 1) * n_max`` slots, enough to over-sample every class to the largest
(static: it sets the state's shape; the runner's memory plan counts it, ``S * prod(input_shape)``
floats per run).

Targets (sweepable hyper-parameters, imbalanced-learn's float ``sampling_strategy`` carried over to
several classes; imblearn allows the float form for two classes only, where the two agree):

* over-samplers: ``oversampling_ratio = r`` in (0, 1]: every class is raised to at least
  ``floor(r * n_majority)`` examples (``r = 1``, the default, is imblearn's "auto": balance);
* NearMiss-1: ``undersampling_ratio = r`` in (0, 1]: every class is cut to at most
  ``floor(n_minority / r)`` examples (``r = 1``: balance). A target is never above a class's count,
  so "more than RUS can give" cannot arise; classes below the target keep everything;
* Tomek links and ENN clean every class but the minority (imblearn's "auto") and have no target.

Neighbourhood sizes are *static* method constants with imblearn's defaults (``k_neighbors = 5``,
Borderline's ``m_neighbors = 10``, NearMiss's and ENN's ``n_neighbors = 3``) and cluster counts
(3 k-means clusters per class), because they fix array shapes (``lax.top_k``); register a variant
with :func:`resampling_method` to change one. Where a class has fewer than k other members, SMOTE
interpolates towards those it has and copies a class's only example (the kernels' documented
fallback), so k larger than a class is not an error.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax.engine.blocks import (
    augment_batch,
    context,
    gradient_step,
    initial_state,
    method_loss,
    model_of,
)
from imbjax.engine.method import Method, uniform_sampler
from imbjax.engine.program import (
    Branches,
    Family,
    Program,
    ProgramSpec,
    branches,
    choose,
)
from imbjax.engine.streams import stream_key
from imbjax.methods.standard import standard_program
from imbjax.sampling import (
    borderline_smote,
    cluster_oversample,
    draw_batch,
    enn_mask,
    nearmiss1_mask,
    tomek_mask,
)
from imbjax.sampling.smote import SyntheticSamples, smote
from imbjax.sampling.strategy import targeted_classes

Array = jax.Array

FAMILY = "resampling"
CHAWLA = "Chawla et al. 2002 (SMOTE)"
HAN = "Han, Wang & Mao 2005 (Borderline-SMOTE)"
JO = "Jo & Japkowicz 2004 (cluster-based over-sampling)"
MANI = "Mani & Zhang 2003 (NearMiss)"
TOMEK = "Tomek 1976 (Tomek links)"
WILSON = "Wilson 1972 (edited nearest neighbours)"


class Resampled(NamedTuple):
    """What a resampler returns: ``pool_weights: float32[N]`` (1 on kept subset examples) and the
    synthetic buffer (:class:`~imbjax.sampling.smote.SyntheticSamples`, ``max_new`` slots)."""

    pool_weights: Array
    synthetic: SyntheticSamples


class ResampledData(NamedTuple):
    """The method state: the synthetic examples ``points: float32[S, *input_shape]`` and their
    ``labels: int32[S]`` (-1 in invalid slots, which have weight 0)."""

    points: Array
    labels: Array


# --- Targets ------------------------------------------------------------------------------------

def oversampling_targets(counts: Array, ratio) -> Array:
    """Every class with examples raised to at least ``floor(ratio * max_c n_c)``: ``int32[C]``.

    ``ratio`` in (0, 1] (may be traced; clipped there); 1 balances the classes. For two classes this
    is imblearn's float ``sampling_strategy`` for over-samplers."""
    counts = jnp.asarray(counts, jnp.int32)
    level = jnp.floor(jnp.clip(ratio, 1e-6, 1.0) * jnp.max(counts) + 1e-4).astype(jnp.int32)
    return jnp.where(counts > 0, jnp.maximum(counts, level), 0)


def undersampling_targets(counts: Array, ratio) -> Array:
    """Every class cut to at most ``floor(min_c n_c / ratio)`` (smallest non-empty class): ``int32[C]``.

    ``ratio`` in (0, 1] (may be traced; clipped there); 1 balances the classes. For two classes this
    is imblearn's float ``sampling_strategy`` for under-samplers."""
    counts = jnp.asarray(counts, jnp.int32)
    smallest = jnp.min(jnp.where(counts > 0, counts, jnp.iinfo(jnp.int32).max))
    level = jnp.floor(smallest / jnp.clip(ratio, 1e-6, 1.0) + 1e-4).astype(jnp.int32)
    return jnp.minimum(counts, level)


# --- Resamplers: (key, labels, mask, ctx, *, max_new) -> Resampled, ctx.pool_inputs = pool inputs [N, D] ----

def _no_synthetic(num_features: int, max_new: int) -> SyntheticSamples:
    """An empty buffer (every slot invalid), for the under-sampling and cleaning methods."""
    zeros = jnp.zeros(max_new, jnp.int32)
    return SyntheticSamples(jnp.zeros((max_new, num_features), jnp.float32), zeros - 1, zeros.astype(bool),
                            zeros, zeros)


def smote_resampler(key, labels, mask, ctx, *, max_new, k_neighbors):
    """SMOTE to ``oversampling_targets`` (:func:`imbjax.sampling.smote.smote`)."""
    targets = oversampling_targets(ctx.class_counts.astype(jnp.int32), ctx.hparams["oversampling_ratio"])
    synthetic = smote(key, ctx.pool_inputs, labels, mask, targets, max_new=max_new, k_neighbors=k_neighbors)
    return Resampled(mask.astype(jnp.float32), synthetic)


def borderline_smote_resampler(key, labels, mask, ctx, *, max_new, kind, k_neighbors, m_neighbors):
    """Borderline-SMOTE to ``oversampling_targets`` (:func:`imbjax.sampling.borderline_smote`)."""
    targets = oversampling_targets(ctx.class_counts.astype(jnp.int32), ctx.hparams["oversampling_ratio"])
    synthetic = borderline_smote(key, ctx.pool_inputs, labels, mask, targets, max_new=max_new, kind=kind,
                                 k_neighbors=k_neighbors, m_neighbors=m_neighbors)
    return Resampled(mask.astype(jnp.float32), synthetic)


def cluster_oversampling_resampler(key, labels, mask, ctx, *, max_new, num_clusters, method):
    """Cluster-based over-sampling to ``oversampling_targets`` (:func:`imbjax.sampling.cluster_oversample`)."""
    targets = oversampling_targets(ctx.class_counts.astype(jnp.int32), ctx.hparams["oversampling_ratio"])
    synthetic, _ = cluster_oversample(key, ctx.pool_inputs, labels, mask, targets, num_clusters=num_clusters,
                                      max_new=max_new, method=method)
    return Resampled(mask.astype(jnp.float32), synthetic)


def nearmiss1_resampler(key, labels, mask, ctx, *, max_new, n_neighbors):
    """NearMiss-1 to ``undersampling_targets`` (:func:`imbjax.sampling.nearmiss1_mask`)."""
    del key
    targets = undersampling_targets(ctx.class_counts.astype(jnp.int32), ctx.hparams["undersampling_ratio"])
    keep = nearmiss1_mask(ctx.pool_inputs, labels, mask, targets, n_neighbors=n_neighbors)
    return Resampled(keep.astype(jnp.float32), _no_synthetic(ctx.pool_inputs.shape[1], max_new))


def _cleaned_classes(ctx):
    """imblearn's "auto" for cleaning methods: every class with examples but the minority, ``bool[C]``."""
    return targeted_classes(ctx.class_counts.astype(jnp.int32), "auto", kind="clean")


def tomek_resampler(key, labels, mask, ctx, *, max_new):
    """Tomek links removed from every class but the minority (:func:`imbjax.sampling.tomek_mask`)."""
    del key
    keep = tomek_mask(ctx.pool_inputs, labels, mask, _cleaned_classes(ctx))
    return Resampled(keep.astype(jnp.float32), _no_synthetic(ctx.pool_inputs.shape[1], max_new))


def enn_resampler(key, labels, mask, ctx, *, max_new, n_neighbors):
    """ENN (``kind_sel="all"``) on every class but the minority (:func:`imbjax.sampling.enn_mask`)."""
    del key
    keep = enn_mask(ctx.pool_inputs, labels, mask, _cleaned_classes(ctx), n_neighbors=n_neighbors)
    return Resampled(keep.astype(jnp.float32), _no_synthetic(ctx.pool_inputs.shape[1], max_new))


# --- The training program -------------------------------------------------------------------------

def synthetic_buffer_size(spec: ProgramSpec) -> int:
    """``(C - 1) * n_max``: enough slots to over-sample every class to the largest."""
    return (spec.num_classes - 1) * spec.n_max


def resampling_program(spec: ProgramSpec) -> Program:
    """Resample once at ``init`` (the method's resampler), then train on uniform draws from the kept
    pool examples and the synthetic buffer (see the module docstring)."""
    model = model_of(spec)
    max_new = synthetic_buffer_size(spec)
    resamplers = branches(spec.methods, "sampler")
    resamplers = resamplers._replace(pieces=tuple(functools.partial(piece, max_new=max_new)
                                                  for piece in resamplers.pieces))
    uniform = Branches((uniform_sampler,), (0,) * len(spec.methods))
    loss_fns = branches(spec.methods, "loss")

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, uniform)
        pool_inputs = data.x_train.reshape(data.x_train.shape[0], -1).astype(jnp.float32)
        resampled = choose(resamplers, hparams["method_index"], stream_key(key, "resampling"),
                           data.y_train, mask, context(spec, state, hparams, pool_inputs=pool_inputs))
        synthetic = resampled.synthetic
        weights = jnp.concatenate([resampled.pool_weights, synthetic.valid.astype(jnp.float32)])
        points = synthetic.points.reshape(max_new, *data.x_train.shape[1:]).astype(data.x_train.dtype)
        return state._replace(weights=weights, extra=ResampledData(points, synthetic.labels))

    def train_step(data, hparams, state):
        key, batch_key = jax.random.split(state.key)
        index = draw_batch(batch_key, state.weights, spec.batch_size)
        pool_size = data.x_train.shape[0]
        synthetic = index >= pool_size
        slot = jnp.where(synthetic, index - pool_size, 0)
        member = jnp.where(synthetic, 0, index)
        x = jnp.where(synthetic.reshape(-1, *([1] * (data.x_train.ndim - 1))),
                      state.extra.points[slot], data.x_train[member])
        y = jnp.where(synthetic, state.extra.labels[slot], data.y_train[member])
        state, x = augment_batch(spec, state._replace(key=key), x)
        return gradient_step(spec, state, hparams,
                             lambda params: method_loss(spec, model, loss_fns, state, hparams, params, x, y))

    return Program(init, train_step, standard_program(spec).evaluate)


OVERSAMPLING = ({"oversampling_ratio": 1.0}, {"oversampling_ratio": (1e-6, 1.0)})
UNDERSAMPLING = ({"undersampling_ratio": 1.0}, {"undersampling_ratio": (1e-6, 1.0)})
NO_HPARAMS = ({}, {})


def resampling_method(name: str, resampler, hparams_and_bounds, reference: str) -> Method:
    """A method of the resampling family; ``resampler`` is one of this module's resamplers with its
    static parameters bound (``functools.partial``), e.g. ``partial(smote_resampler, k_neighbors=3)``."""
    hparams, bounds = hparams_and_bounds
    return Method(name, sampler=resampler, hparams=dict(hparams), bounds=dict(bounds), family=FAMILY,
                  reference=reference)


FAMILIES = (Family(FAMILY, resampling_program, epoch_sampling=False),)

METHODS = (
    resampling_method("smote", functools.partial(smote_resampler, k_neighbors=5), OVERSAMPLING,
                      f"{CHAWLA}; k = 5, to balance (imblearn defaults)"),
    resampling_method(
        "borderline_smote",
        functools.partial(borderline_smote_resampler, kind="borderline-1", k_neighbors=5, m_neighbors=10),
        OVERSAMPLING, f"{HAN}; borderline-1, k = 5, m = 10, to balance (imblearn defaults)"),
    resampling_method(
        "borderline_smote2",
        functools.partial(borderline_smote_resampler, kind="borderline-2", k_neighbors=5, m_neighbors=10),
        OVERSAMPLING, f"{HAN}; borderline-2, k = 5, m = 10, to balance (imblearn defaults)"),
    resampling_method(
        "cluster_oversampling", functools.partial(cluster_oversampling_resampler, num_clusters=3, method="ros"),
        OVERSAMPLING, f"{JO}; 3 k-means clusters per class, random over-sampling into the smallest clusters"),
    resampling_method("nearmiss1", functools.partial(nearmiss1_resampler, n_neighbors=3), UNDERSAMPLING,
                      f"{MANI}; NearMiss-1, 3 neighbours, to balance (imblearn defaults)"),
    resampling_method("tomek", tomek_resampler, NO_HPARAMS,
                      f"{TOMEK}; links removed from every class but the minority (imblearn 'auto')"),
    resampling_method("enn", functools.partial(enn_resampler, n_neighbors=3), NO_HPARAMS,
                      f"{WILSON}; 3 neighbours, kind_sel 'all', every class but the minority"),
)
