"""The training loop of the stage-wise long-tail methods of the 2020s (decoupling, DRS, the mixup family,
MiSLAS, weight balancing): stage 1 trains the network, stage 2 re-balances, from a switch step on.

Each method describes its stages with a :class:`StagePlan`; the families ``"decoupling"``
(:mod:`imbjax.methods.decoupling`) and ``"mixup"`` (:mod:`imbjax.methods.mixup`) compile
one program each from :func:`stagewise_program`, whose step is, for a run at step ``t``::

    T = round(clip(stage1_fraction, 0, 1) * num_steps)      (the method's switch; num_steps: one stage)
    batch ~ the method's stage-1 sampling weights (t < T) or its stage-2 weights (t >= T)

    network step (t < T, or t >= T for a method whose second stage trains the network, DRS):
        x~ = lam x + (1 - lam) x[pi]    (input mixing; lam_i ~ Beta(alpha, alpha), pi a permutation)
        h~ = lam h + (1 - lam) h[pi]    (manifold mixup: the penultimate features h instead)
        loss = mean_i  w_i CE(z_i, y_i) + (1 - w_i) CE(z_i, y_pi(i))     (w = lam, Remix's weight, or 1)
        one optimizer step on every parameter (the run's optimizer, learning rate and weight decay);

    classifier step (t >= T for a classifier-retraining method: cRT, LWS, MiSLAS, weight balancing):
        z = f * (W^T h + b)    h = the frozen body's features of the clean batch, f: per-class scales
        loss = the method's loss (``Method.loss``: CE, label-aware smoothing, class-balanced CE)
        one optimizer step on the classifier only: W, b at lr * head_lr_factor, f at lr * scales_lr_factor
        (a factor 0 keeps them), with the classifier stage's weight decay; then, for weight balancing,
        each class column w_j <- w_j min(1, radius / ||w_j||) (MaxNorm, radius fixed at step T).

At step T a classifier-retraining method starts its classifier stage: the head is re-initialised (cRT),
the scales are set to 1 and a fresh optimizer state (the run's optimizer, whose learning-rate schedule
restarts, as two-phase learning's fine-tuning does) is made for ``{W, b, f}``; the body's parameters never
move again (bit-equal). BatchNorm in the classifier stage: with ``shift_bn`` the body runs in training
mode, so its running averages are re-estimated on the stage-2 batches (MiSLAS's shifted BN); without it the
body is evaluated with its running averages (frozen features). A model without BatchNorm (the MLP,
GroupNorm ResNets) has no running averages: ``shift_bn`` changes nothing there.

Prediction is the method's ``Method.postprocess`` of the trained network's logits, with ``ctx.features``
the penultimate features and ``ctx.extra`` the :class:`Classifier` (head parameters and scales):
``softmax(f * z)`` or the tau-normalised classifier.

Each run's stage-1 step and classifier step are taken under :func:`imbjax.engine.blocks.round_update`, so a
vmapped sweep runs the classifier step only at steps where some run is in its classifier stage.
Batches come from :func:`imbjax.engine.blocks.draw_batch_switching` (the engine's draw, i.i.d. or in epochs,
by the stage's weights, augmented as configured: the papers mix augmented examples). Under epoch sampling
the epoch's order is redrawn at the switch when the stage-2 weights differ from stage 1's, so they take
effect exactly at the switch (the papers switch at an epoch boundary; a fraction of the steps may fall
inside an epoch). The mixing weights come from a stream of their own (``"mixing"`` of
:mod:`imbjax.engine.streams`), so a method without mixing draws exactly the batches, and augmentations, of
the standard loop.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax import models, sampling
from imbjax.engine.blocks import (
    BATCH_STATS,
    apply_in_batches,
    context,
    draw_batch_switching,
    forward,
    gradient_step,
    init_optimizer,
    initial_state,
    method_probabilities,
    model_of,
    round_update,
    test_outputs,
)
from imbjax.engine.method import Method, Sampler, uniform_sampler
from imbjax.engine.program import Program, ProgramSpec, branches, choose
from imbjax.engine.streams import stream_key
from imbjax.losses import maxnorm, maxnorm_threshold
from imbjax.methods.two_phase import phase1_steps

Array = jax.Array

#: Folded into a run's batch key to draw the step's mixing weights and partners.
#: Folded into a run's key to draw cRT's re-initialised head, and the stage-2 sampler's key.


class Mixing(NamedTuple):
    """A batch's mixing: example ``i`` is mixed with ``partners[i]`` as ``lam_i x_i + (1 - lam_i)
    x_partner``; its label weight ``label_weight_i`` goes to ``y_i``, the rest to ``y_partner``. ``[batch]``."""

    partners: Array
    lam: Array
    label_weight: Array


def no_mixing(key, labels, class_counts, hparams) -> Mixing:
    """Plain training: ``lam = 1``, label weight 1 (the mixed batch and loss equal the plain ones exactly)."""
    del key, class_counts, hparams
    ones = jnp.ones(labels.shape, jnp.float32)
    return Mixing(jnp.arange(labels.shape[0], dtype=jnp.int32), ones, ones)


class ClassifierStage(NamedTuple):
    """A classifier-retraining method's stage-2 settings (``float32`` scalars, may be traced): learning-rate
    factors of the head (``W, b``) and of the per-class scales ``f`` (0 keeps them), the stage's weight
    decay, ``shift_bn`` (> 0.5: BatchNorm's running averages are re-estimated) and the MaxNorm radius
    fraction (:func:`imbjax.losses.maxnorm_threshold`; ``inf``: no MaxNorm)."""

    head_lr_factor: Array
    scales_lr_factor: Array
    weight_decay: Array
    shift_bn: Array
    maxnorm_fraction: Array


def classifier_stage(*, head_lr_factor=1.0, scales_lr_factor=0.0, weight_decay=0.0, shift_bn=0.0,
                     maxnorm_fraction=math.inf) -> ClassifierStage:
    """A :class:`ClassifierStage` of ``float32`` scalars (defaults: the head alone at the run's learning
    rate, no weight decay, frozen BatchNorm statistics, no MaxNorm)."""
    return ClassifierStage(*(jnp.asarray(value, jnp.float32) for value in (
        head_lr_factor, scales_lr_factor, weight_decay, shift_bn, maxnorm_fraction)))


def no_classifier_stage(hparams) -> ClassifierStage:
    """The settings of a method without a classifier stage (never used in its steps)."""
    del hparams
    return classifier_stage()


def one_stage(hparams) -> Array:
    """The stage-1 fraction of a method of one stage: all of the steps."""
    del hparams
    return jnp.float32(1.0)


@dataclasses.dataclass(frozen=True)
class StagePlan:
    """How a stage-wise method trains (static; the module docstring gives the step).

    Attributes:
      stage1_fraction: ``hparams -> fraction``: the switch ``T = round(fraction * num_steps)``.
      second_sampler: sampling weights from step ``T`` on (a :data:`imbjax.engine.method.Sampler`); stage 1
        draws by ``Method.sampler``.
      classifier: ``hparams -> ClassifierStage`` of a method whose second stage retrains the classifier
        alone; :func:`no_classifier_stage`: the second stage (if any) trains the whole network with the
        stage-1 loss.
      reinitialises_head: the classifier stage starts from a freshly initialised head (cRT).
      mixing: ``(key, labels, class_counts, hparams) -> Mixing`` of the network steps.
      mixes_features: mix the penultimate features (manifold mixup) instead of the inputs.
    """

    stage1_fraction: Callable[[Mapping[str, Array]], Array] = one_stage
    second_sampler: Sampler = uniform_sampler
    classifier: Callable[[Mapping[str, Array]], ClassifierStage] = no_classifier_stage
    reinitialises_head: bool = False
    mixing: Callable[..., Mixing] = no_mixing
    mixes_features: bool = False

    @property
    def retrains_classifier(self) -> bool:
        return self.classifier is not no_classifier_stage


class Classifier(NamedTuple):
    """What prediction reads besides the logits (``ctx.extra`` of ``Method.postprocess``): the head's
    parameters (``kernel [D, C]``, ``bias [C]``) and the per-class scales ``f: [C]``."""

    head: dict
    scales: Array


class StageState(NamedTuple):
    """The method state of a stage-wise run (``TrainState.extra``).

    ``second_weights: float32[N]`` the stage-2 sampling weights; ``scales: float32[C]`` the classifier's
    per-class scales (1 until a classifier stage learns them); ``fresh_head`` a freshly initialised
    head (cRT's re-initialisation); ``classifier_optimizer`` the optimizer state of ``{head, scales}`` in
    the classifier stage; ``maxnorm_radius`` (``inf`` until weight balancing's stage 2 fixes it).
    """

    second_weights: Array
    scales: Array
    fresh_head: dict
    classifier_optimizer: object
    maxnorm_radius: Array


def switch_step(stage1_fraction, num_steps: int) -> Array:
    """``T = round(clip(stage1_fraction, 0, 1) * num_steps)``, the first step of stage 2, ``int32``."""
    return phase1_steps(stage1_fraction, num_steps)


def head_of(params: dict) -> dict:
    """The output layer's parameters (:data:`imbjax.models.HEAD`) of a model's variables."""
    return params["params"][models.HEAD]


def with_head(params: dict, head: dict) -> dict:
    """``params`` with its output layer replaced by ``head``."""
    return {**params, "params": {**params["params"], models.HEAD: head}}


def head_kind(spec: ProgramSpec) -> str:
    """The spec's output layer (``"linear"`` or ``"cosine"``)."""
    return dict(spec.model_kwargs).get("head", "linear")


def head_logits(spec: ProgramSpec, head: dict, features: Array) -> Array:
    """The output layer applied to ``features: [batch, D]``: ``[batch, C]`` logits."""
    return models.output_layer(head_kind(spec), spec.num_classes).apply({"params": head}, features)


def mixed_batch_loss(logits: Array, labels: Array, mixing: Mixing) -> Array:
    """``mean_i w_i CE(z_i, y_i) + (1 - w_i) CE(z_i, y_pi(i))`` (:func:`imbjax.sampling.mixed_cross_entropy`)."""
    return jnp.mean(sampling.mixed_cross_entropy(logits, labels, labels[mixing.partners], mixing.label_weight))


def interpolate(old, new, factor):
    """``old + factor (new - old)`` leaf by leaf: an optimizer update at ``factor`` times its learning rate
    (SGD with momentum, Adam and AdamW updates are proportional to it); ``factor = 0`` returns ``old``."""
    return jax.tree.map(lambda a, b: jnp.where(factor > 0, a + factor * (b - a), a), old, new)


def scaled_softmax(logits, ctx):
    """``softmax(f * z)``: the prediction of a classifier with per-class scales ``f = ctx.extra.scales``
    (LWS, MiSLAS; ``f = 1`` for the other stage-wise methods)."""
    return jax.nn.softmax(ctx.extra.scales * logits, axis=-1)


def plan_table(plans, attribute: str, method_index: Array) -> Array:
    """The run's value of a static boolean plan ``attribute`` (one entry per method of the group)."""
    return jnp.asarray([bool(getattr(plan, attribute)) for plan in plans])[method_index]


def stagewise_program(spec: ProgramSpec) -> Program:
    """The stage-wise training loop (module docstring) of stage-wise methods (:class:`StagewiseMethod`)."""
    missing = [m.name for m in spec.methods if not isinstance(m, StagewiseMethod)]
    if missing:
        raise ValueError(f"method {missing[0]!r} has no stage plan; make it with stagewise_method")
    if head_kind(spec) != "linear":
        raise ValueError(f"the stage-wise methods ({', '.join(m.name for m in spec.methods)}) need a linear "
                         f"output layer, got head={head_kind(spec)!r}; use head='linear'")
    model = model_of(spec)
    plans = [m.plan for m in spec.methods]
    samplers = branches(spec.methods, "sampler")
    second_samplers = branches(plans, "second_sampler")
    fractions = branches(plans, "stage1_fraction")
    mixings = branches(plans, "mixing")
    classifier_settings = branches(plans, "classifier")
    loss_fns = branches(spec.methods, "loss")
    postprocessors = branches(spec.methods, "postprocess")
    any_feature_mixing = any(plan.mixes_features for plan in plans)
    retraining = any(plan.retrains_classifier for plan in plans)

    def classifier_spec():
        return dataclasses.replace(spec, weight_decay=True)

    def classifier_hparams(hparams, settings: ClassifierStage):
        return {**hparams, "weight_decay": settings.weight_decay}

    def settings_of(hparams) -> ClassifierStage:
        return choose(classifier_settings, hparams["method_index"], hparams)

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        ctx = context(spec, state, hparams)
        second = choose(second_samplers, hparams["method_index"], stream_key(key, "second_sampler"),
                        data.y_train, mask, ctx)
        head = head_of(state.params)
        fresh_head = models.output_layer("linear", spec.num_classes).init(
            stream_key(key, "head"), jnp.zeros((1, head["kernel"].shape[0]), jnp.float32))["params"]
        scales = jnp.ones((spec.num_classes,), jnp.float32)
        settings = settings_of(hparams)
        optimizer = init_optimizer(classifier_spec(), classifier_hparams(hparams, settings),
                                   {"head": head, "scales": scales})
        return state._replace(extra=StageState(second, scales, fresh_head, optimizer, jnp.float32(jnp.inf)))

    def begin_classifier_stage(state, hparams):
        """The classifier stage's start: re-initialised head (cRT), scales 1, fresh optimizer, MaxNorm radius."""
        settings = settings_of(hparams)
        head = jax.tree.map(lambda fresh, old: jnp.where(plan_table(plans, "reinitialises_head",
                                                                    hparams["method_index"]), fresh, old),
                            state.extra.fresh_head, head_of(state.params))
        scales = jnp.ones_like(state.extra.scales)
        radius = jnp.where(jnp.isfinite(settings.maxnorm_fraction),
                           maxnorm_threshold(head["kernel"], jnp.clip(settings.maxnorm_fraction, 0.0, 1.0)), jnp.inf)
        optimizer = init_optimizer(classifier_spec(), classifier_hparams(hparams, settings),
                                   {"head": head, "scales": scales})
        extra = state.extra._replace(scales=scales, classifier_optimizer=optimizer, maxnorm_radius=radius)
        return state._replace(params=with_head(state.params, head), extra=extra)

    def network_step(state, inputs):
        hparams, x, y, mixing = inputs
        mixes_features = plan_table(plans, "mixes_features", hparams["method_index"])
        input_lam = jnp.where(mixes_features, 1.0, mixing.lam)

        def batch_loss(variables):
            inputs = sampling.mix_inputs(x, mixing.partners, input_lam)
            logits, features, variables = forward(model, variables, inputs)
            if any_feature_mixing:
                mixed_features = sampling.mix_inputs(features, mixing.partners, mixing.lam)
                logits = jnp.where(mixes_features, head_logits(spec, head_of(variables), mixed_features), logits)
            return mixed_batch_loss(logits, y, mixing), variables

        return gradient_step(spec, state, hparams, batch_loss)

    def classifier_step(state, inputs):
        hparams, x, y = inputs
        settings = settings_of(hparams)
        has_statistics = BATCH_STATS in state.params
        shift = settings.shift_bn > 0.5

        def batch_loss(classifier):
            variables = with_head(state.params, classifier["head"])
            logits, features, after = forward(model, variables, x)
            if has_statistics:
                frozen_logits, frozen_features = model.apply(variables, x)
                logits = jnp.where(shift, logits, frozen_logits)
                features = jnp.where(shift, features, frozen_features)
                statistics = jax.tree.map(lambda new, old: jnp.where(shift, new, old), after[BATCH_STATS],
                                          state.params[BATCH_STATS])
                classifier = {**classifier, BATCH_STATS: statistics}
            ctx = context(spec, state, hparams, features)
            return choose(loss_fns, hparams["method_index"], classifier["scales"] * logits, y, ctx), classifier

        view = {"head": head_of(state.params), "scales": state.extra.scales}
        if has_statistics:
            view[BATCH_STATS] = state.params[BATCH_STATS]
        classifier_state = state._replace(params=view, opt_state=state.extra.classifier_optimizer)
        stepped = gradient_step(classifier_spec(), classifier_state, classifier_hparams(hparams, settings), batch_loss)
        head = interpolate(view["head"], stepped.params["head"], settings.head_lr_factor)
        head = {**head, "kernel": maxnorm(head["kernel"], state.extra.maxnorm_radius)}
        scales = interpolate(view["scales"], stepped.params["scales"], settings.scales_lr_factor)
        params = with_head(state.params, head)
        if has_statistics:
            params = {**params, BATCH_STATS: stepped.params[BATCH_STATS]}
        extra = state.extra._replace(scales=scales, classifier_optimizer=stepped.opt_state)
        return stepped._replace(params=params, opt_state=state.opt_state, extra=extra)

    network_step_where = round_update(network_step)
    classifier_step_where = round_update(classifier_step)

    def step(data, hparams, state):
        method_index = hparams["method_index"]
        switch = switch_step(choose(fractions, method_index, hparams), spec.num_steps)
        in_second_stage = state.step >= switch
        retrains_classifier = plan_table(plans, "retrains_classifier", method_index)
        starting = retrains_classifier & (state.step == switch)
        if retraining:
            started = begin_classifier_stage(state, hparams)
            params, extra = jax.tree.map(lambda new, old: jnp.where(starting, new, old),
                                         (started.params, started.extra), (state.params, state.extra))
            state = state._replace(params=params, extra=extra)
        state, x, y = draw_batch_switching(spec, data, state, state.extra.second_weights, switch)
        mixing = choose(mixings, method_index, stream_key(state.key, "mixing"), y,
                        state.class_counts.astype(jnp.float32), hparams)
        in_classifier_stage = retrains_classifier & in_second_stage
        state = network_step_where(~in_classifier_stage, state, (hparams, x, y, mixing))
        if retraining:
            state = classifier_step_where(in_classifier_stage, state, (hparams, x, y))
        return state

    def evaluate(data, state, hparams):
        classifier = Classifier(head_of(state.params), state.extra.scales)

        def predict(x):
            logits, features = apply_in_batches(model, state.params, x, spec.eval_batch_size)
            return method_probabilities(spec, postprocessors, state._replace(extra=classifier), hparams, logits,
                                        features)

        return test_outputs(spec, data, state, predict(data.x_test), predict)

    return Program(init, step, evaluate)


#: Valid ranges of the stage-wise methods' hyper-parameters (``Method.bounds``).
BOUNDS = {
    "stage1_fraction": (0.0, 1.0), "drs_start": (0.0, 1.0), "shift_bn": (0.0, 1.0), "tau": (0.0, math.inf),
    "classifier_weight_decay": (0.0, math.inf), "maxnorm_fraction": (0.0, 1.0), "beta": (0.0, 1 - 1e-12),
    "mixup_alpha": (0.0, math.inf), "kappa": (1.0, math.inf), "remix_tau": (0.0, 1.0), "eps_head": (0.0, 1.0),
    "eps_tail": (0.0, 1.0), "classifier_lr_factor": (1e-6, math.inf),
}


@dataclasses.dataclass(frozen=True)
class StagewiseMethod(Method):
    """A :class:`~imbjax.engine.method.Method` of a stage-wise family with its :class:`StagePlan` (static)."""

    plan: StagePlan = StagePlan()


def stagewise_method(name: str, family: str, hparams: dict[str, float], reference: str, *,
                     plan: StagePlan = StagePlan(), **pieces) -> StagewiseMethod:
    """A stage-wise method of ``family`` trained as ``plan`` says, with its hyper-parameters' :data:`BOUNDS`."""
    return StagewiseMethod(name, hparams=hparams, bounds={k: BOUNDS[k] for k in hparams}, family=family,
                           reference=reference, plan=plan, **pieces)

