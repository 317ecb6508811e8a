"""The building blocks every family's program is made of; every function is pure and vmappable.

* a run's start: :func:`training_pool` (the validation part), :func:`initial_state` (subset, sampling
  weights, parameters, optimizer state), :func:`model_of`;
* a step: :func:`draw_training_batch` (by the run's weights, or :func:`draw_batch_with` other ones),
  :func:`forward`, :func:`method_loss` (the run's method loss on a batch), :func:`gradient_step`;
* the end: :func:`apply_in_batches`, :func:`method_probabilities`, :func:`test_outputs` (the test
  probabilities, the validation metrics and the divergence flag: what ``evaluate`` returns);
* periodic updates of a family's method state: :func:`round_update`, :func:`refresh_interval`.
"""
from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import optax
from jax.custom_batching import custom_vmap

from imbjax import augment, imbalance, metrics, models
from imbjax.engine.method import Context
from imbjax.engine.optimizers import optimizer_for
from imbjax.engine.program import (
    Branches,
    DeviceData,
    ProgramSpec,
    TrainState,
    choose,
    nan_where_diverged,
)
from imbjax.engine.streams import stream_key
from imbjax.sampling import draw_batch, epochs

Array = jax.Array

#: Exponential moving average decay of the reported training loss.
LOSS_EMA_DECAY = 0.98


def context(spec: ProgramSpec, state: TrainState, hparams, features=None, pool_inputs=None) -> Context:
    """The :class:`~imbjax.engine.method.Context` a method's pieces see at ``state``."""
    return Context(state.class_counts.astype(jnp.float32), hparams, state.step, spec.num_steps, features,
                   state.extra, state.key, pool_inputs)


def training_pool(spec: ProgramSpec, data: DeviceData, subset_key: Array) -> tuple[Array, Array]:
    """``(pool_mask, validation_mask)`` of a run: the stratified validation part carved from the pool
    before the imbalanced subset is drawn, so it is the same for every method of a seed."""
    return imbalance.validation_split(stream_key(subset_key, "validation"), data.y_train,
                                      spec.num_classes, spec.validation_fraction)


def initial_state(spec: ProgramSpec, model, data: DeviceData, key: Array, hparams, sampler: Branches,
                  ) -> tuple[TrainState, Array]:
    """Carve the run's validation part from the pool, draw its imbalanced training subset from the
    rest, initialise parameters and optimizer, compute the sampling weights; returns ``(state,
    training-subset mask)``. ``state.extra`` is ``()``. The subset, validation part and initial
    parameters depend on the seed only, never on the method (paired comparisons). With
    ``spec.data_seed_axis`` the subset and validation part come from ``hparams["data_seed"]`` instead
    (the stream the run's own seed would give for that seed), the rest from the run's seed."""
    subset_key, sampler_key, init_key, train_key = jax.random.split(key, 4)
    if spec.data_seed_axis:
        subset_key = jax.random.split(jax.random.PRNGKey(hparams["data_seed"]), 4)[0]
    pool, validation = training_pool(spec, data, subset_key)
    mask, counts = imbalance.imbalanced_subset(
        subset_key, data.y_train, spec.num_classes, spec.n_max, profile=spec.profile,
        rho=hparams["rho"], mu=hparams["mu"], minority=spec.minority, pool=pool)
    params = model.init(init_key, jnp.zeros((1, *spec.input_shape), jnp.float32))
    state = TrainState(params=params, opt_state=init_optimizer(spec, hparams, params), key=train_key,
                       step=jnp.int32(0), weights=jnp.zeros(mask.shape, jnp.float32), class_counts=counts,
                       loss_ema=jnp.float32(jnp.nan), subset=mask, validation=validation,
                       batch_order=jnp.zeros(mask.shape, jnp.int32) if spec.batch_sampling == "epoch" else ())
    weights = choose(sampler, hparams["method_index"], sampler_key, data.y_train, mask,
                     context(spec, state, hparams))
    return state._replace(weights=weights), mask


def model_of(spec: ProgramSpec):
    """The spec's Flax model (:func:`imbjax.models.make_model` with the spec's arguments)."""
    return models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))


def trainable(variables: dict) -> dict:
    """The variables the optimizer updates: every collection but ``batch_stats`` (BatchNorm's running
    averages, which :func:`forward` updates instead)."""
    return {name: value for name, value in variables.items() if name != BATCH_STATS}


def init_optimizer(spec: ProgramSpec, hparams, variables: dict) -> optax.OptState:
    """The spec's optimizer state for ``variables`` (its :func:`trainable` part)."""
    return optimizer_for(spec, hparams).init(trainable(variables))


#: The collection of BatchNorm's running averages.
BATCH_STATS = "batch_stats"


def forward(model, variables: dict, x: Array) -> tuple[Array, Array, dict]:
    """A training forward pass: ``(logits, features, variables after it)``.

    A model with BatchNorm normalises by the batch's statistics and updates its running averages
    (``batch_stats`` mutable; evaluation, :func:`apply_in_batches`, uses the averages); each run of a
    vmapped sweep has its own. Other models return ``variables`` unchanged.
    """
    if BATCH_STATS not in variables:
        logits, features = model.apply(variables, x)
        return logits, features, variables
    (logits, features), updated = model.apply(variables, x, mutable=[BATCH_STATS])
    return logits, features, {**variables, **updated}


def gradient_step(spec: ProgramSpec, state: TrainState, hparams,
                  loss_of_params: Callable[[dict], tuple[Array, dict]], learning_rate_factor: Array | None = None
                  ) -> TrainState:
    """One optimizer step on ``loss_of_params(variables) -> (loss, variables after the forward pass)``
    (:func:`forward` gives the second); advances ``step`` and the loss average. The gradient is taken
    with respect to the :func:`trainable` variables; BatchNorm's running averages come from the
    forward pass. ``learning_rate_factor`` multiplies the run's base learning rate for this step (its
    schedule included; the optimizer's state is unchanged, as when a PyTorch script sets a param group's
    ``lr``); None leaves the rate as it is, and a factor of exactly 1 gives bitwise the same step."""
    def loss_of_trainable(weights):
        return loss_of_params({**state.params, **weights})

    (loss, after_forward), grads = jax.value_and_grad(loss_of_trainable, has_aux=True)(trainable(state.params))
    weights = trainable(state.params)
    if learning_rate_factor is not None:
        hparams = {**hparams, "learning_rate": hparams["learning_rate"] * learning_rate_factor}
    updates, opt_state = optimizer_for(spec, hparams).update(grads, state.opt_state, weights)
    loss_ema = jnp.where(jnp.isnan(state.loss_ema), loss,
                         LOSS_EMA_DECAY * state.loss_ema + (1 - LOSS_EMA_DECAY) * loss)
    params = {**after_forward, **optax.apply_updates(weights, updates)}
    return state._replace(params=params, opt_state=opt_state, step=state.step + 1, loss_ema=loss_ema)


#: How a run's batches are drawn (``config.batch_sampling``).
BATCH_SAMPLINGS = ("iid", "epoch")


def draw_training_indices(spec: ProgramSpec, state: TrainState, restart_epoch: Array | bool = False
                          ) -> tuple[TrainState, Array]:
    """``(state with a fresh key, int32[batch] pool indices)`` of the run's next batch.

    ``iid``: ``batch_size`` draws with replacement by the run's sampling weights. ``epoch``: the next
    slice of the current epoch's order (:mod:`imbjax.sampling.epochs`: every example of the subset once
    per epoch for uniform weights, class-balanced epochs for ROS weights), a new order drawn at the start
    of every epoch from the weights of that moment, and also where ``restart_epoch`` is true (a family's
    weights changed within the epoch: the rest of the epoch is read from an order of the new weights, so
    they take effect at once; epochs stay aligned to ``step``).
    """
    key, batch_key = jax.random.split(state.key)
    if spec.batch_sampling == "iid":
        return state._replace(key=key), draw_batch(batch_key, state.weights, spec.batch_size)
    size = jnp.sum(state.weights > 0)
    position = state.step % epochs.steps_per_epoch(size, spec.batch_size)
    order = refresh_epoch_order((position == 0) | restart_epoch, state.batch_order,
                                (batch_key, state.weights, size))
    return (state._replace(key=key, batch_order=order),
            epochs.epoch_batch(order, position, size, spec.batch_size))


def augment_batch(spec: ProgramSpec, state: TrainState, x: Array) -> tuple[TrainState, Array]:
    """``(state with a fresh key, x augmented)`` by the spec's augmentation (:mod:`imbjax.augment`);
    ``x`` and the key stream unchanged without one."""
    if spec.augmentation == "none":
        return state, x
    key, augment_key = jax.random.split(state.key)
    return state._replace(key=key), augment.augment(spec.augmentation, augment_key, x, **dict(spec.augment_kwargs))


def draw_training_batch(spec: ProgramSpec, data: DeviceData, state: TrainState,
                        restart_epoch: Array | bool = False) -> tuple[TrainState, Array, Array]:
    """``(state with a fresh key, x, y)``: the run's next batch (:func:`draw_training_indices`, with its
    ``restart_epoch``), augmented (:func:`augment_batch`)."""
    state, index = draw_training_indices(spec, state, restart_epoch)
    state, x = augment_batch(spec, state, data.x_train[index])
    return state, x, data.y_train[index]


def apply_in_batches(model, params, x: Array, batch_size: int) -> tuple[Array, Array]:
    """``model.apply`` over many examples in fixed-size batches: ``(logits, features)``."""
    return jax.lax.map(lambda example: jax.tree.map(lambda a: a[0], model.apply(params, example[None])), x,
                       batch_size=batch_size)


#: Metrics of a run's prediction on its validation part (``val_<name>`` columns; model selection).
VALIDATION_METRICS = ("balanced_accuracy", "g_mean", "macro_f1")


def validation_metrics(num_classes: int, labels: Array, predictions: Array, validation: Array) -> dict[str, Array]:
    """``val_balanced_accuracy``, ``val_g_mean`` and ``val_macro_f1`` of ``predictions: int[N]`` over
    the pool examples marked by ``validation: bool[N]`` (scikit-learn's and imbalanced-learn's
    definitions, as the test metrics)."""
    counts = metrics.confusion.class_counts(labels, predictions, num_classes=num_classes, where=validation)
    return {
        "val_balanced_accuracy": metrics.confusion.balanced_accuracy_from_counts(counts),
        "val_g_mean": metrics.confusion.g_mean_from_counts(counts),
        "val_macro_f1": metrics.confusion.f_beta_from_counts(counts, 1.0, average="macro"),
    }


def has_diverged(state: TrainState) -> Array:
    """Whether the run's training loss or parameters became non-finite (``bool`` scalar)."""
    finite_params = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(state.params)]))
    return ~(jnp.isfinite(state.loss_ema) & finite_params)


def test_outputs(spec: ProgramSpec, data: DeviceData, state: TrainState, probs: Array,
                 predict: Callable[[Array], Array] | None = None) -> dict[str, Array]:
    """What a run's ``evaluate`` returns: its test probabilities and what it trained on.

    ``test_probs`` is the method's prediction on the test set (``float[n_test, C]``, NaN as 0), which
    :func:`~imbjax.engine.program.score` (in a run's program) or :func:`imbjax.metrics.compute_all_runs`
    (the sweep runner, one compiled program for every group of a test set) turn into the test metrics.
    ``diverged`` is 1 for a run whose loss or parameters became non-finite. With a validation part
    (``spec.validation_fraction > 0``), ``predict(x) -> probs`` (the method's prediction on any inputs)
    gives the ``val_*`` metrics of :data:`VALIDATION_METRICS` on it (NaN for a diverged run).
    """
    diverged = has_diverged(state)
    outputs = {"test_probs": jnp.nan_to_num(probs)}
    if spec.validation_fraction:
        if predict is None:
            raise ValueError("test_outputs needs predict= when the spec has a validation part")
        predictions = jnp.argmax(predict(data.x_train), axis=-1)
        outputs.update(nan_where_diverged(
            diverged, validation_metrics(spec.num_classes, data.y_train, predictions, state.validation)))
    outputs.update(
        diverged=diverged.astype(jnp.float32),
        train_loss=state.loss_ema,
        train_examples=jnp.sum(state.class_counts),
        train_min_class=jnp.min(state.class_counts),
        train_rho=imbalance.trained_ratio(state.class_counts),
    )
    return outputs


def round_update(update: Callable) -> Callable:
    """``cond(pred, carry, inputs)``: ``update(carry, inputs)`` where ``pred`` holds, else ``carry``.

    The same as ``lax.cond(pred, update, lambda c, i: c, carry, inputs)``, except under ``vmap``:
    there the update runs (vmapped) only when *some* run's ``pred`` holds, and each run keeps its
    own carry where its ``pred`` does not, instead of ``lax.cond``'s ``select`` that evaluates the
    update at every call (a pass over the pool at every step, for an update that evaluates the
    network). Used by the families whose method state is refreshed every few steps (dynamic
    sampling, CoSen, DE costs, DOS, LMLE). ``update`` must read traced values only through its
    arguments.
    """
    @custom_vmap
    def cond(pred, carry, inputs):
        return jax.lax.cond(pred, update, lambda c, _: c, carry, inputs)

    @cond.def_vmap
    def batched(axis_size, in_batched, pred, carry, inputs):
        pred_batched, carry_batched, inputs_batched = in_batched
        pred = pred if pred_batched else jnp.broadcast_to(pred, (axis_size,))
        carry = jax.tree.map(lambda leaf, b: leaf if b else jnp.broadcast_to(leaf, (axis_size, *leaf.shape)),
                             carry, carry_batched)
        in_axes = (0, jax.tree.map(lambda b: 0 if b else None, inputs_batched))

        def run(carry, inputs):
            new = jax.vmap(update, in_axes=in_axes)(carry, inputs)
            return jax.tree.map(lambda n, c: jnp.where(pred.reshape((-1,) + (1,) * (n.ndim - 1)), n, c), new, carry)

        out = jax.lax.cond(jnp.any(pred), run, lambda c, _: c, carry, inputs)
        return out, jax.tree.map(lambda _: True, out)

    return cond



refresh_epoch_order = round_update(lambda order, inputs: epochs.epoch_order(*inputs))


def refresh_interval(requested, num_examples: Array, batch_size: int) -> Array:
    """``round(requested)`` steps, or one epoch ``ceil(num_examples / batch_size)`` when that is 0; ``int32``.

    The interval of a family's periodic update (a dynamic-sampling round, a CoSen cost update, a
    DOS or LMLE refresh), with :func:`round_update` as the conditional update itself."""
    requested = jnp.maximum(jnp.round(requested), 0).astype(jnp.int32)
    epoch = jnp.maximum(-(-jnp.asarray(num_examples, jnp.int32) // batch_size), 1)
    return jnp.where(requested > 0, requested, epoch)


def has_batch_stats(spec: ProgramSpec) -> bool:
    """Whether the spec's model keeps BatchNorm running averages (from its variables' shapes)."""
    shapes = jax.eval_shape(model_of(spec).init, jax.random.PRNGKey(0), jnp.zeros((1, *spec.input_shape)))
    return BATCH_STATS in shapes


def samples_differently(weights: Array, other: Array) -> Array:
    """Whether two sampling-weight vectors draw by different distributions: their normalised values differ
    beyond float rounding (``bool`` scalar); ROS weights of a balanced subset sample as uniform ones."""
    def normalised(w):
        return w / jnp.maximum(jnp.sum(w), jnp.finfo(w.dtype).tiny)

    return jnp.any(jnp.abs(normalised(weights) - normalised(other)) > 1e-6 * jnp.max(normalised(other)))


def draw_batch_with(spec: ProgramSpec, data: DeviceData, state: TrainState, weights: Array,
                    restart_epoch: Array | bool = False) -> tuple[TrainState, Array, Array]:
    """``(state with a fresh key, x, y)``: a batch drawn by ``weights: float32[N]`` instead of
    ``state.weights`` (which is returned unchanged). Same key stream as
    :func:`draw_training_batch`, so equal weights give the same batch. Under epoch sampling
    ``restart_epoch`` redraws the epoch's order (:func:`draw_training_indices`; a sampler that switches
    at a step: :func:`draw_batch_switching`); one order is kept, so a step draws one batch this way."""
    drawn, x, y = draw_training_batch(spec, data, state._replace(weights=weights), restart_epoch)
    return drawn._replace(weights=state.weights), x, y


def draw_batch_switching(spec: ProgramSpec, data: DeviceData, state: TrainState, later_weights: Array,
                         switch: Array) -> tuple[TrainState, Array, Array]:
    """``(state with a fresh key, x, y)``: a batch by ``state.weights`` before step ``switch`` and by
    ``later_weights`` from it on (:func:`draw_batch_with`), for a family whose sampler changes mid-run.
    Under epoch sampling the epoch's order is redrawn at the switch when the two sample differently
    (:func:`samples_differently`), so the later weights take effect there even inside an epoch."""
    weights = jnp.where(state.step >= switch, later_weights, state.weights)
    restart = (state.step == switch) & samples_differently(later_weights, state.weights)
    return draw_batch_with(spec, data, state, weights, restart)


def method_loss(spec: ProgramSpec, model, loss_fns: Branches, state: TrainState, hparams: Mapping[str, Array],
                params, x: Array, y: Array) -> tuple[Array, dict]:
    """The run's method loss of ``params`` on the batch ``(x, y)`` (a scalar), and the variables after
    the training forward pass (:func:`forward`), as :func:`gradient_step` takes."""
    logits, features, params = forward(model, params, x)
    return choose(loss_fns, hparams["method_index"], logits, y, context(spec, state, hparams, features)), params


def method_probabilities(spec: ProgramSpec, postprocessors: Branches, state: TrainState,
                         hparams: Mapping[str, Array], logits: Array, features: Array | None = None) -> Array:
    """The run's post-processed class probabilities ``float32[n, C]`` of ``logits: [n, C]``
    (``features: [n, D]``, their penultimate features, for post-processing that reads them)."""
    return choose(postprocessors, hparams["method_index"], logits, context(spec, state, hparams, features))


def output_layer_mask(params) -> object:
    """A pytree like ``params`` holding ``True`` for the leaves of the output layer (the module
    named :data:`imbjax.models.HEAD`) and ``False`` elsewhere; static (Python booleans)."""
    def in_head(path, _):
        return any(getattr(entry, "key", None) == models.HEAD for entry in path)
    return jax.tree_util.tree_map_with_path(in_head, params)

