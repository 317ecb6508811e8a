"""A training run as a pure function: ``train(key, hparams) -> metrics``.

``make_program(spec)`` builds, from a static :class:`ProgramSpec`, three pure functions

* ``init(data, key, hparams) -> TrainState``: draw the run's imbalanced training subset,
  its sampling weights and the initial parameters;
* ``advance(data, state, hparams, num_steps) -> TrainState``: ``num_steps`` optimizer steps in
  one ``lax.scan`` (the sweep runs a long run as chunks of steps between checkpoints);
* ``evaluate(data, state, hparams) -> dict``: every metric on the untouched test set;

and ``make_train(config)`` composes them into the ``train(key, hparams)`` of the design notes.
Everything that differs numerically between runs (seed, rho, mu, learning rate, a method's
hyper-parameters, which method) is in ``hparams``; everything that changes shapes or code is in
the spec, so ``jit(vmap(...))`` compiles once per group of runs.

The three random streams of a run come from its seed key: the training subset, the parameter
initialisation and the batch draws. Runs with the same seed therefore share their imbalanced
subset and initial parameters across methods, which makes comparisons between methods paired.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax
from jax.custom_batching import custom_vmap

from imbjax import augment, imbalance, metrics, models
from imbjax import data as datasets
from imbjax import methods as method_registry
from imbjax.data import Dataset
from imbjax.methods import Context, Method
from imbjax.sampling import draw_batch, epochs

Array = jax.Array

#: ``name -> (learning rate or schedule, weight decay or None) -> optimizer``. Weight decay is PyTorch's:
#: coupled (``g + wd * w`` before the update, ``torch.optim.SGD``/``Adam``'s ``weight_decay``) for ``sgd``
#: (momentum 0.9) and ``adam``, decoupled (Loshchilov & Hutter) for ``adamw``; ``None`` (a sweep without
#: decay) leaves the decay out of the program. Both arguments may be traced.
OPTIMIZERS: dict[str, Callable[[optax.ScalarOrSchedule, Array | None], optax.GradientTransformation]] = {
    "adam": lambda lr, wd: with_coupled_decay(optax.adam(lr), wd),
    "sgd": lambda lr, wd: with_coupled_decay(optax.sgd(lr, momentum=0.9), wd),
    "adamw": lambda lr, wd: optax.adamw(lr, weight_decay=0.0 if wd is None else wd),
}

def with_coupled_decay(optimizer: optax.GradientTransformation, weight_decay) -> optax.GradientTransformation:
    """``optimizer`` on ``g + weight_decay * w`` (L2 decay coupled into the gradient); itself for ``None``."""
    return optimizer if weight_decay is None else optax.chain(optax.add_decayed_weights(weight_decay), optimizer)


#: Learning-rate schedules (``config.lr_schedule``), multipliers of the run's (traced) base learning rate.
LR_SCHEDULES = ("constant", "step", "cosine")


@dataclasses.dataclass(frozen=True)
class LRSchedule:
    """A learning-rate schedule as a multiplier of the base rate: optional linear warm-up over the
    first ``warmup_steps`` steps (``(t + 1) / warmup_steps`` at step t, as Cao et al.'s LDAM-DRW code
    warms up per epoch), then ``constant``; ``step``: times ``decay_factor`` at each of
    ``decay_steps`` (counted from step 0; LDAM-DRW on CIFAR: x0.01 at epochs 160 and 180 of 200);
    or ``cosine``: half a cosine from 1 to 0 over the remaining steps (Loshchilov & Hutter 2017)."""

    kind: str = "constant"
    num_steps: int = 1
    warmup_steps: int = 0
    decay_steps: tuple[int, ...] = ()
    decay_factor: float = 0.1

    @classmethod
    def from_config(cls, config) -> "LRSchedule":
        """The schedule of ``config``: ``lr_schedule``, with ``lr_warmup_fraction`` and
        ``lr_decay_fractions`` as fractions of ``num_steps``, and ``lr_decay_factor``."""
        steps = config.num_steps
        return cls(config.lr_schedule, steps, round(config.lr_warmup_fraction * steps),
                   tuple(round(f * steps) for f in config.lr_decay_fractions), float(config.lr_decay_factor))

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant" and not self.warmup_steps

    def multiplier(self) -> optax.Schedule:
        """The schedule as an optax schedule of the step count."""
        if self.kind not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.kind!r}; choose one of {list(LR_SCHEDULES)}")
        warmup = self.warmup_steps
        if self.kind == "cosine":
            after = optax.cosine_decay_schedule(1.0, max(self.num_steps - warmup, 1))
        else:
            boundaries = {step - warmup: self.decay_factor for step in self.decay_steps if step >= warmup}
            after = optax.piecewise_constant_schedule(1.0, boundaries if self.kind == "step" else None)
        if not warmup:
            return after
        ramp = optax.linear_schedule(1.0 / warmup, 1.0, max(warmup - 1, 1))
        return optax.join_schedules([ramp, after], [warmup])

# Exponential moving average decay of the reported training loss.
LOSS_EMA_DECAY = 0.98


class DeviceData(NamedTuple):
    """The arrays of a :class:`~imbjax.data.Dataset` as one pytree (shared by all runs)."""

    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> "DeviceData":
        return cls(*(jnp.asarray(a) for a in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test)))


class TrainState(NamedTuple):
    """Everything a run carries between steps (a pytree; vmapped runs stack it).

    ``subset`` marks the run's imbalanced training subset of the pool and ``validation`` its
    validation part (:func:`imbalance.validation_split`; all ``False`` when
    ``spec.validation_fraction`` is 0); the two never overlap. ``batch_order`` is the current epoch's
    example order with epoch sampling (``spec.batch_sampling == "epoch"``), else ``()``.
    ``extra`` is the method state of families that need one (learned costs, cluster
    assignments, neighbour targets, per-class sampling rates); ``()`` in the standard family.
    """

    params: dict
    opt_state: optax.OptState
    key: Array
    step: Array
    weights: Array
    class_counts: Array
    loss_ema: Array
    subset: Array
    validation: Array
    batch_order: object = ()
    extra: object = ()


@dataclasses.dataclass(frozen=True)
class ProgramSpec:
    """The static part of a run: what changes shapes or code (one compile per distinct spec).

    ``methods`` are the methods whose runs share the program; a run picks its own with the
    ``method_index`` hyper-parameter.
    """

    num_classes: int
    input_shape: tuple[int, ...]
    methods: tuple[Method, ...]
    model: str = "mlp"
    model_kwargs: tuple[tuple[str, object], ...] = ()
    optimizer: str = "adam"
    lr_schedule: LRSchedule = LRSchedule()
    weight_decay: bool = False
    data_seed_axis: bool = False
    batch_sampling: str = "iid"
    augmentation: str = "none"
    augment_kwargs: tuple[tuple[str, object], ...] = ()
    batch_size: int = 64
    num_steps: int = 300
    profile: str = "step"
    minority: str = "last"
    n_max: int = 0
    validation_fraction: float = 0.0
    eval_batch_size: int = 2048

    def hparam_defaults(self) -> dict[str, float]:
        """The union of the methods' hyper-parameters, each with its first default."""
        defaults: dict[str, float] = {}
        for method in self.methods:
            for name, value in method.hparams.items():
                defaults.setdefault(name, value)
        return defaults


class Branches(NamedTuple):
    """The distinct pieces of a group's methods and, per method, the index of its own."""

    pieces: tuple[Callable, ...]
    index_of_method: tuple[int, ...]


def branches(methods: Sequence[Method], attribute: str) -> Branches:
    pieces: list[Callable] = []
    index = []
    for method in methods:
        piece = getattr(method, attribute)
        if piece not in pieces:
            pieces.append(piece)
        index.append(pieces.index(piece))
    return Branches(tuple(pieces), tuple(index))


def choose(options: Branches, method_index: Array, *args):
    """Call the piece of the run's method: directly if the group has one, else ``lax.switch``."""
    if len(options.pieces) == 1:
        return options.pieces[0](*args)
    table = jnp.asarray(options.index_of_method, jnp.int32)
    return jax.lax.switch(table[method_index], options.pieces, *args)


class Program(NamedTuple):
    """The pure pieces of a group's runs, as a family builder returns them: ``init(data, key,
    hparams) -> state``, one optimizer ``step(data, hparams, state) -> state`` and ``evaluate(data,
    state, hparams) -> metrics``. :meth:`advance` (steps in one ``lax.scan``) is derived here once for
    every family; the runner vmaps and shards each piece over the run axis and runs ``advance`` in
    checkpoint chunks."""

    init: Callable[[DeviceData, Array, Mapping[str, Array]], TrainState]
    step: Callable[[DeviceData, Mapping[str, Array], TrainState], TrainState]
    evaluate: Callable[[DeviceData, TrainState, Mapping[str, Array]], dict[str, Array]]

    def advance(self, data: DeviceData, state: TrainState, hparams: Mapping[str, Array], num_steps: int
                ) -> TrainState:
        """``num_steps`` of :attr:`step` in one ``lax.scan``."""
        return jax.lax.scan(lambda s, _: (self.step(data, hparams, s), None), state, length=num_steps)[0]


# --- Building blocks shared by every family's program ---------------------------------------

def optimizer_for(spec: ProgramSpec, hparams: Mapping[str, Array]) -> optax.GradientTransformation:
    """The spec's optimizer at the run's (possibly traced) base learning rate under the spec's schedule,
    with the run's weight decay (``hparams["weight_decay"]``) where ``spec.weight_decay`` says so."""
    base, multiplier = hparams["learning_rate"], spec.lr_schedule.multiplier()
    learning_rate = base if spec.lr_schedule.is_constant else (lambda count: base * multiplier(count))
    return OPTIMIZERS[spec.optimizer](learning_rate, hparams["weight_decay"] if spec.weight_decay else None)


def context(spec: ProgramSpec, state: TrainState, hparams, features=None) -> Context:
    """The :class:`~imbjax.methods.Context` a method's pieces see at ``state``."""
    return Context(state.class_counts.astype(jnp.float32), hparams, state.step, spec.num_steps, features,
                   state.extra, state.key)


#: Folded into a run's subset key to draw its validation part (:func:`training_pool`).
VALIDATION_STREAM = 7


def training_pool(spec: ProgramSpec, data: DeviceData, subset_key: Array) -> tuple[Array, Array]:
    """``(pool_mask, validation_mask)`` of a run: the stratified validation part carved from the pool
    before the imbalanced subset is drawn, so it is the same for every method of a seed."""
    return imbalance.validation_split(jax.random.fold_in(subset_key, VALIDATION_STREAM), data.y_train,
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
                  loss_of_params: Callable[[dict], tuple[Array, dict]]) -> TrainState:
    """One optimizer step on ``loss_of_params(variables) -> (loss, variables after the forward pass)``
    (:func:`forward` gives the second); advances ``step`` and the loss average. The gradient is taken
    with respect to the :func:`trainable` variables; BatchNorm's running averages come from the
    forward pass."""
    def loss_of_trainable(weights):
        return loss_of_params({**state.params, **weights})

    (loss, after_forward), grads = jax.value_and_grad(loss_of_trainable, has_aux=True)(trainable(state.params))
    weights = trainable(state.params)
    updates, opt_state = optimizer_for(spec, hparams).update(grads, state.opt_state, weights)
    loss_ema = jnp.where(jnp.isnan(state.loss_ema), loss,
                         LOSS_EMA_DECAY * state.loss_ema + (1 - LOSS_EMA_DECAY) * loss)
    params = {**after_forward, **optax.apply_updates(weights, updates)}
    return state._replace(params=params, opt_state=opt_state, step=state.step + 1, loss_ema=loss_ema)


#: How a run's batches are drawn (``config.batch_sampling``).
BATCH_SAMPLINGS = ("iid", "epoch")


def draw_training_indices(spec: ProgramSpec, state: TrainState) -> tuple[TrainState, Array]:
    """``(state with a fresh key, int32[batch] pool indices)`` of the run's next batch.

    ``iid``: ``batch_size`` draws with replacement by the run's sampling weights. ``epoch``: the next
    slice of the current epoch's order (:mod:`imbjax.sampling.epochs`: every example of the subset once
    per epoch for uniform weights, class-balanced epochs for ROS weights), a new order drawn at the start
    of every epoch from the weights of that moment.
    """
    key, batch_key = jax.random.split(state.key)
    if spec.batch_sampling == "iid":
        return state._replace(key=key), draw_batch(batch_key, state.weights, spec.batch_size)
    size = jnp.sum(state.weights > 0)
    position = state.step % epochs.steps_per_epoch(size, spec.batch_size)
    order = refresh_epoch_order(position == 0, state.batch_order, (batch_key, state.weights, size))
    return (state._replace(key=key, batch_order=order),
            epochs.epoch_batch(order, position, size, spec.batch_size))


def augment_batch(spec: ProgramSpec, state: TrainState, x: Array) -> tuple[TrainState, Array]:
    """``(state with a fresh key, x augmented)`` by the spec's augmentation (:mod:`imbjax.augment`);
    ``x`` and the key stream unchanged without one."""
    if spec.augmentation == "none":
        return state, x
    key, augment_key = jax.random.split(state.key)
    return state._replace(key=key), augment.augment(spec.augmentation, augment_key, x, **dict(spec.augment_kwargs))


def draw_training_batch(spec: ProgramSpec, data: DeviceData, state: TrainState) -> tuple[TrainState, Array, Array]:
    """``(state with a fresh key, x, y)``: the run's next batch (:func:`draw_training_indices`), augmented
    (:func:`augment_batch`)."""
    state, index = draw_training_indices(spec, state)
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


def test_metrics(spec: ProgramSpec, data: DeviceData, state: TrainState, probs: Array,
                 predict: Callable[[Array], Array] | None = None) -> dict[str, Array]:
    """Every metric of ``probs`` on the test set, plus what the run trained on.

    ``diverged`` is 1 for a run whose loss or parameters became non-finite; its metrics are then NaN
    (never the chance-level scores of a NaN network). With a validation part
    (``spec.validation_fraction > 0``), ``predict(x) -> probs`` (the method's prediction on any inputs)
    gives the ``val_*`` metrics of :data:`VALIDATION_METRICS` on it.
    """
    results = metrics.compute_all(data.y_test, jnp.nan_to_num(probs), num_classes=spec.num_classes)
    if spec.validation_fraction:
        if predict is None:
            raise ValueError("test_metrics needs predict= when the spec has a validation part")
        predictions = jnp.argmax(predict(data.x_train), axis=-1)
        results.update(validation_metrics(spec.num_classes, data.y_train, predictions, state.validation))
    diverged = has_diverged(state)
    results = {name: jnp.where(diverged, jnp.nan, value).astype(value.dtype)
               if jnp.issubdtype(value.dtype, jnp.floating) else value for name, value in results.items()}
    results.update(
        diverged=diverged.astype(jnp.float32),
        train_loss=state.loss_ema,
        train_examples=jnp.sum(state.class_counts),
        train_min_class=jnp.min(state.class_counts),
        train_rho=imbalance.imbalance_ratio(state.class_counts),
    )
    return results


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



# --- Families: one program builder per training loop ------------------------------------------

FAMILIES: dict[str, Callable[[ProgramSpec], Program]] = {}


#: Families whose batches do not come from :func:`draw_training_batch` (they sample their own way), so
#: epoch sampling and augmentation are refused for them before compiling.
OWN_BATCHES: set[str] = set()
#: Families whose state holds more than one model's variables, so BatchNorm models are refused for them.
NO_BATCH_NORM: set[str] = set()


def register_family(name: str, *, own_batches: bool = False, batch_norm: bool = True):
    """Decorator registering ``builder(spec) -> Program`` as the training loop of family ``name``;
    ``own_batches``: its batches do not come from :func:`draw_training_batch` (:data:`OWN_BATCHES`);
    ``batch_norm=False``: it cannot train BatchNorm models (:data:`NO_BATCH_NORM`)."""
    def decorate(builder):
        if name in FAMILIES:
            raise ValueError(f"family {name!r} is already registered")
        FAMILIES[name] = builder
        if own_batches:
            OWN_BATCHES.add(name)
        if not batch_norm:
            NO_BATCH_NORM.add(name)
        return builder
    return decorate


def has_batch_stats(spec: ProgramSpec) -> bool:
    """Whether the spec's model keeps BatchNorm running averages (from its variables' shapes)."""
    shapes = jax.eval_shape(model_of(spec).init, jax.random.PRNGKey(0), jnp.zeros((1, *spec.input_shape)))
    return BATCH_STATS in shapes


def with_run_random_bits(function: Callable) -> Callable:
    """``function`` traced and run under JAX's non-partitionable threefry, whatever the global setting.

    A sweep vmaps (never partitions) each run's random numbers, and the non-partitionable threefry
    compiles vmapped parameter initialisation about 3x faster on XLA:CPU; random streams stay the same
    alone, vmapped and sharded. The setting is scoped to imbjax's programs (``jax.threefry_partitionable``
    as a context manager), so importing imbjax changes no global JAX setting and a user's own random
    numbers are the ones JAX's defaults give.
    """
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        with jax.threefry_partitionable(False):
            return function(*args, **kwargs)

    return wrapped


def make_program(spec: ProgramSpec) -> Program:
    """The program of a group: the builder of its methods' (common) family, each of its functions
    drawing random numbers as :func:`with_run_random_bits` says."""
    if spec.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {spec.optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
    families = sorted({m.family for m in spec.methods})
    if len(families) != 1:
        raise ValueError(f"a program's methods must share one family, got {families}")
    if families[0] not in FAMILIES:
        raise ValueError(f"unknown family {families[0]!r}; registered families are {sorted(FAMILIES)}")
    return Program(*(with_run_random_bits(f) for f in FAMILIES[families[0]](spec)))


@register_family("standard")
def standard_program(spec: ProgramSpec) -> Program:
    """Sample a batch by the run's weights, take a step on its method's loss; predict with its
    post-processing. Every method of the family shares this one compiled program."""
    model = model_of(spec)
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")
    postprocessors = branches(spec.methods, "postprocess")

    def init(data, key, hparams):
        return initial_state(spec, model, data, key, hparams, samplers)[0]

    def step(data, hparams, state):
        state, x, y = draw_training_batch(spec, data, state)

        def batch_loss(variables):
            logits, features, variables = forward(model, variables, x)
            ctx = context(spec, state, hparams, features)
            return choose(loss_fns, hparams["method_index"], logits, y, ctx), variables

        return gradient_step(spec, state, hparams, batch_loss)

    def predict(state, hparams, x):
        logits, _ = apply_in_batches(model, state.params, x, spec.eval_batch_size)
        return choose(postprocessors, hparams["method_index"], logits, context(spec, state, hparams))

    def evaluate(data, state, hparams):
        return test_metrics(spec, data, state, predict(state, hparams, data.x_test),
                            functools.partial(predict, state, hparams))

    return Program(init, step, evaluate)


def run_program(program: Program, spec: ProgramSpec, data: DeviceData, key: Array,
                hparams: Mapping[str, Array]) -> dict[str, Array]:
    """One whole run: ``init``, ``spec.num_steps`` steps, ``evaluate``. Pure; jit/vmap-able."""
    state = program.init(data, key, hparams)
    state = program.advance(data, state, hparams, spec.num_steps)
    return program.evaluate(data, state, hparams)


def method_setting_values(config, method: Method) -> dict[str, tuple[float, ...]]:
    """The values of each of ``method``'s hyper-parameters in ``config``: its grid, or its default."""
    grid = config.hparams[method.name] if method.name in config.hparams else {}
    grid = grid.to_dict() if hasattr(grid, "to_dict") else dict(grid)
    values = {}
    for name, default in method.hparams.items():
        value = grid.get(name, default)
        values[name] = tuple(float(v) for v in (value if isinstance(value, (tuple, list)) else (value,)))
    return values


def program_spec(config, dataset: Dataset, *, profile: str, method_names: Sequence[str],
                 model=None) -> ProgramSpec:
    """The static program for ``method_names`` and ``model`` on ``dataset`` under ``config``.

    ``model`` is a group's :class:`imbjax.config.ModelChoice` (``group.model``); default: the
    config's first architecture (``config.model``, or the first entry of ``config.models``). The
    methods' ``model_kwargs`` overrides are applied to it (they must agree within a program).

    ``n_max`` is :func:`imbalance.exact_n_max` of the pool less its validation part: the largest class
    size at which every rho of the config trains exactly (``train_rho == rho``); ``config.n_max``
    is checked instead when set. Every method's ``check_setting`` runs here, before compiling.
    """
    from imbjax.config import model_choices  # imbjax.config imports this module

    methods = tuple(method_registry.get(name) for name in method_names)
    overrides = {tuple(sorted(m.model_kwargs.items())) for m in methods}
    if len(overrides) != 1:
        raise ValueError(f"methods {list(method_names)} override the model differently ({sorted(overrides)}); "
                         f"they cannot share one program")
    model = (model or model_choices(config)[0]).with_overrides(dict(overrides.pop()))
    validation_fraction = float(config.validation_fraction)
    available = int(imbalance.pool_class_counts_after_validation(dataset.train_class_counts(),
                                                                 validation_fraction).min())
    n_max = imbalance.exact_n_max(available, config.rhos, requested=config.n_max, dataset=repr(dataset.name))
    for method in methods:
        if method.check_setting is not None:
            method.check_setting(method_setting_values(config, method), n_max)
    own = sorted({m.family for m in methods} & OWN_BATCHES)
    if own and (config.batch_sampling != "iid" or config.augment != "none"):
        raise ValueError(f"family {own[0]!r} ({', '.join(m.name for m in methods)}) draws its own batches; "
                         f"batch_sampling={config.batch_sampling!r} and augment={config.augment!r} are not "
                         f"available for it: use batch_sampling='iid' and augment='none'")
    augment.check_fits(config.augment, tuple(dataset.input_shape))
    spec = ProgramSpec(
        num_classes=dataset.num_classes, input_shape=tuple(dataset.input_shape), methods=methods,
        model=model.name, model_kwargs=model.kwargs, optimizer=config.optimizer,
        lr_schedule=LRSchedule.from_config(config), weight_decay=tuple(config.weight_decays) != (0.0,),
        data_seed_axis=config.data_seeds is not None, batch_sampling=config.batch_sampling,
        augmentation=config.augment,
        augment_kwargs=tuple(sorted(config.augment_kwargs.to_dict().items())),
        batch_size=config.batch_size,
        num_steps=config.num_steps, profile=profile, minority=config.minority, n_max=n_max,
        validation_fraction=validation_fraction)
    no_batch_norm = sorted({m.family for m in methods} & NO_BATCH_NORM)
    if no_batch_norm and has_batch_stats(spec):
        raise ValueError(f"family {no_batch_norm[0]!r} ({', '.join(m.name for m in methods)}) cannot train a model "
                         f"with BatchNorm ({model.name} {dict(model.kwargs)}); use norm='group'")
    return spec


def make_train(config, *, method: str | None = None, dataset: Dataset | None = None
               ) -> Callable[[Array, Mapping[str, Array]], dict[str, Array]]:
    """A pure ``train(key, hparams) -> metrics`` for one method of ``config`` (default: its first).

    ``hparams`` may hold ``rho``, ``mu``, ``learning_rate`` and the method's hyper-parameters;
    what it omits takes the config's first value or the method's default. ``train`` is
    jit-able and vmap-able over ``key`` and any ``hparams`` entry::

        train = make_train(config, method="focal")
        sweep = jax.jit(jax.vmap(train))(keys, {"rho": rhos, "gamma": gammas})

    The dataset (default: the config's first, loaded here) is closed over as a constant; the
    sweep runner passes it as an argument instead, which suits large datasets better.
    """
    method = method or config.methods[0]
    if dataset is None:
        name = config.datasets[0]
        kwargs = config.dataset_kwargs[name].to_dict() if name in config.dataset_kwargs else {}
        dataset = datasets.load(name, **kwargs)
    spec = program_spec(config, dataset, profile=config.profiles[0], method_names=(method,))
    program = make_program(spec)
    device_data = DeviceData.from_dataset(dataset)
    defaults = {"rho": float(config.rhos[0]), "mu": float(config.mus[0]),
                "learning_rate": float(config.learning_rates[0]), "weight_decay": float(config.weight_decays[0]),
                **spec.hparam_defaults()}

    def train(key: Array, hparams: Mapping[str, Array] | None = None) -> dict[str, Array]:
        hparams = dict(hparams or {})
        unknown = sorted(set(hparams) - set(defaults))
        if unknown:
            raise ValueError(f"unknown hyper-parameter {unknown[0]!r} for {method!r}; valid: {sorted(defaults)}")
        full = {name: jnp.asarray(hparams.get(name, value), jnp.float32) for name, value in defaults.items()}
        full["method_index"] = jnp.int32(0)
        return run_program(program, spec, device_data, key, full)

    return train
