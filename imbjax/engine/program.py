"""A group's program: its static :class:`ProgramSpec`, the run's :class:`TrainState`, and the
:class:`Program` a :class:`Family` builds.

A family's builder returns three pure functions of a run,

* ``init(data, key, hparams) -> TrainState``: draw the run's imbalanced training subset, its sampling
  weights and the initial parameters;
* ``step(data, hparams, state) -> TrainState``: one optimizer step;
* ``evaluate(data, state, hparams) -> dict``: the method's probabilities on the untouched test set
  (``test_probs``) and what the run trained on (:func:`imbjax.engine.blocks.test_outputs`);

and :meth:`Program.advance` (``num_steps`` steps in one ``lax.scan``, which the sweep runs in chunks
between checkpoints) is derived from ``step`` here, once for every family. :func:`score` turns
``evaluate``'s outputs into every test metric: :func:`run_program` and :meth:`Program.test_metrics` do it
inside a run's program; the sweep runner scores a part's gathered outputs with one
:func:`imbjax.metrics.compute_all_runs` program per test set instead, so the metric suite compiles once
for all of a data set's groups, not into each of them. Everything that differs
numerically between runs (seed, rho, mu, learning rate, a method's hyper-parameters, which method) is in
``hparams``; everything that changes shapes or code is in the spec, so ``jit(vmap(...))`` compiles once
per group of runs.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from imbjax import metrics
from imbjax.data import Dataset
from imbjax.engine.method import Method
from imbjax.engine.optimizers import OPTIMIZERS, LRSchedule

Array = jax.Array

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
    state, hparams) -> outputs`` (test probabilities and training facts, not yet scored). :meth:`advance`
    (steps in one ``lax.scan``) and :meth:`test_metrics` are derived here once for every family; the
    runner vmaps and shards each piece over the run axis and runs ``advance`` in checkpoint chunks."""

    init: Callable[[DeviceData, Array, Mapping[str, Array]], TrainState]
    step: Callable[[DeviceData, Mapping[str, Array], TrainState], TrainState]
    evaluate: Callable[[DeviceData, TrainState, Mapping[str, Array]], dict[str, Array]]

    def advance(self, data: DeviceData, state: TrainState, hparams: Mapping[str, Array], num_steps: int
                ) -> TrainState:
        """``num_steps`` of :attr:`step` in one ``lax.scan``."""
        return jax.lax.scan(lambda s, _: (self.step(data, hparams, s), None), state, length=num_steps)[0]

    def test_metrics(self, data: DeviceData, state: TrainState, hparams: Mapping[str, Array]) -> dict[str, Array]:
        """Every metric of the run at ``state`` (:func:`score` of :attr:`evaluate`)."""
        return score(data.y_test, self.evaluate(data, state, hparams))



@dataclasses.dataclass(frozen=True)
class Family:
    """A training loop: ``builder(spec) -> Program`` for the methods whose ``family`` is ``name``.

    Attributes:
      name: the family's name (a method's ``family``; part of group ids).
      builder: ``spec -> Program``.
      epoch_sampling: its batches come from :func:`imbjax.engine.blocks.draw_training_indices`, one a step
        (a family whose sampler switches mid-run draws through ``draw_batch_switching``); ``False`` for a
        family that draws several batches a step by different weights (one epoch order is kept) or builds
        its batches its own way, and ``batch_sampling='epoch'`` is then refused for it before compiling.
      augmentation: every training batch passes through :func:`imbjax.engine.blocks.augment_batch` (as
        :func:`~imbjax.engine.blocks.draw_training_batch` and :func:`~imbjax.engine.blocks.draw_batch_with`
        do); ``False`` for a family that builds its batches from the pool without it, and ``augment`` is then
        refused for it before compiling.
      batch_norm: ``False`` when its state holds more than one model's variables, so BatchNorm models are
        refused for it.
      method_learning_rates: its step applies each method's ``learning_rate_factor``
        (:class:`~imbjax.engine.method.Method`); a method with its own factor is refused by the other
        families before compiling, rather than trained at the run's rate.

    The four capabilities are keyword-only. ``own_batches`` (before ``epoch_sampling`` and
    ``augmentation`` split it) is refused with the keywords that replace it.
    """

    name: str
    builder: Callable[[ProgramSpec], Program]
    _: dataclasses.KW_ONLY
    epoch_sampling: bool = True
    augmentation: bool = True
    batch_norm: bool = True
    method_learning_rates: bool = False
    own_batches: dataclasses.InitVar[bool | None] = None

    def __post_init__(self, own_batches):
        if own_batches is not None:
            raise TypeError(f"Family({self.name!r}): own_batches={own_batches!r} is no longer a capability; say "
                            "what the family cannot apply: epoch_sampling=False (it draws several batches a step "
                            "or builds its own), augmentation=False (its batches skip blocks.augment_batch)")


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


def build_program(family: Family, spec: ProgramSpec) -> Program:
    """The program of a group whose methods are of ``family``, each of its functions drawing random
    numbers as :func:`with_run_random_bits` says."""
    if spec.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {spec.optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
    families = sorted({m.family for m in spec.methods})
    if families != [family.name]:
        raise ValueError(f"a program of family {family.name!r} cannot train methods of families {families}")
    return Program(*(with_run_random_bits(f) for f in family.builder(spec)))


def nan_where_diverged(diverged, scores: Mapping[str, Array]) -> dict[str, Array]:
    """``scores`` with every floating value NaN where ``diverged`` holds (integer values kept).

    ``diverged`` has the scores' leading (run) axes: ``bool[]`` inside a run's program, ``bool[runs]``
    for a stack of runs on the host (NumPy in, NumPy out). A diverged run's metrics are NaN, never the
    chance-level scores of a NaN network.
    """
    xp = np if isinstance(diverged, np.ndarray) else jnp

    def masked(value):
        if not xp.issubdtype(value.dtype, xp.floating):
            return value
        flag = xp.reshape(diverged, diverged.shape + (1,) * (value.ndim - diverged.ndim))
        return xp.where(flag, xp.nan, value).astype(value.dtype)

    return {name: masked(value) for name, value in scores.items()}


def scored(outputs: Mapping[str, Array], test_scores: Mapping[str, Array]) -> dict[str, Array]:
    """A run's (or a stack of runs') results: ``outputs`` of :func:`test_outputs` with ``test_probs``
    replaced by ``test_scores`` (:func:`imbjax.metrics.compute_all` of them), NaN where the run diverged."""
    rest = {name: value for name, value in outputs.items() if name != "test_probs"}
    return {**nan_where_diverged(outputs["diverged"] > 0, test_scores), **rest}


def score(y_test: Array, outputs: Mapping[str, Array]) -> dict[str, Array]:
    """Every metric of one run from its ``evaluate`` outputs, in its program (jit/vmap-able)."""
    probs = outputs["test_probs"]
    return scored(outputs, metrics.compute_all(y_test, probs, num_classes=probs.shape[-1]))


def run_outputs(program: Program, spec: ProgramSpec, data: DeviceData, key: Array,
                hparams: Mapping[str, Array]) -> dict[str, Array]:
    """One whole run up to its unscored outputs: ``init``, ``spec.num_steps`` steps, ``evaluate``.
    Pure; jit/vmap-able."""
    state = program.init(data, key, hparams)
    state = program.advance(data, state, hparams, spec.num_steps)
    return program.evaluate(data, state, hparams)


def run_program(program: Program, spec: ProgramSpec, data: DeviceData, key: Array,
                hparams: Mapping[str, Array]) -> dict[str, Array]:
    """One whole run with every test metric (:func:`run_outputs`, then :func:`score`). Pure; jit/vmap-able."""
    return score(data.y_test, run_outputs(program, spec, data, key, hparams))
