"""Experiment configs: Python files with ``get_config()`` returning an ``ml_collections.ConfigDict``.

Every experiment starts from :func:`base_config`, which lists every key with its default;
``--set key=value`` on the command line overrides one (dotted paths reach nested keys, values
are Python literals). A key that does not exist, an unknown method, dataset or model, bad model
arguments, rho < 1 or mu outside (0, 1) raises one ``ValueError`` naming the bad value and the
valid choices, before any data is loaded or anything compiled.

The model is ``config.model`` with ``config.model_kwargs`` (one architecture), unless the
optional key ``config.models`` is set: architectures as a sweep axis, a mapping (or a tuple of
pairs, which keeps their order) from a label to ``{"model": name, **model_kwargs}``::

    config.models = (("res8", {"model": "resnet", "depth": 8}),
                     ("plain8", {"model": "resnet", "depth": 8, "residual": False}))

It then replaces ``model``/``model_kwargs``. ``models`` is not in :func:`base_config`, so the
``config.json`` of every config without it is what it was (old work directories still resume).
"""
from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from imbjax import augment, data, imbalance, methods, models
from imbjax.data import LABEL_PATTERN, Dataset
from imbjax.engine.blocks import BATCH_SAMPLINGS, has_batch_stats
from imbjax.engine.method import Method, full_learning_rate
from imbjax.engine.optimizers import LR_SCHEDULES, OPTIMIZERS, LRSchedule
from imbjax.engine.program import DeviceData, ProgramSpec, run_program

Array = jax.Array



#: Scales of an experiment config (``experiments/*.py``): ``small`` runs on data that ships with
#: the dependencies, ``paper`` on the tfds data sets of the study.
SCALES = ("small", "paper")


def environment_choice(kind: str, value: str | None, variable: str, choices, default: str) -> str:
    """The variant of an experiment config (its scale, recipe, ablation): ``value`` if given, else the
    environment variable ``variable``, else ``default``; a value not in ``choices`` is refused, naming
    ``kind``, the variable and the choices, before any work starts."""
    value = value or os.environ.get(variable, default)
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r} ({variable}); choose one of {list(choices)}")
    return value


def experiment_scale(scale: str | None = None) -> str:
    """The scale an experiment config builds: ``scale`` if given, else the environment variable
    ``IMBJAX_SCALE``, else ``"small"``; anything else is refused before any work starts."""
    return environment_choice("scale", scale, "IMBJAX_SCALE", sorted(SCALES), "small")


def small_scale(config: ml_collections.ConfigDict, *, datasets: tuple[str, ...] = ("digits",), seeds: int = 10,
                hidden: tuple[int, ...] = (128, 128), batch_size: int = 64, num_steps: int = 300) -> None:
    """Set ``config``, in place, to the ``small`` scale of an experiment config: ``datasets`` (data that
    ship with the dependencies), seeds 0 .. ``seeds``-1, an MLP with ``hidden`` layers trained by Adam
    (lr 1e-3) for ``num_steps`` steps of batch ``batch_size``. The defaults are the CPU budget most
    configs share: digits, 10 seeds, an MLP with hidden layers 128-128, 300 steps of batch 64."""
    config.datasets = datasets
    config.seeds = seeds
    config.model = "mlp"
    config.model_kwargs = {"hidden": hidden}
    config.optimizer = "adam"
    config.learning_rates = (1e-3,)
    config.batch_size = batch_size
    config.num_steps = num_steps


def paper_scale(config: ml_collections.ConfigDict, *, datasets: tuple[str, ...], model: str = "resnet",
                model_kwargs: Mapping = MappingProxyType({"depth": 32}), seeds: int = 3, optimizer: str = "sgd",
                learning_rate: float = 0.1, batch_size: int = 128, num_steps: int = 8000) -> None:
    """Set ``config``, in place, to the ``paper`` scale of an experiment config: the study's
    ``datasets`` (tfds), seeds 0 .. ``seeds``-1, ``model`` with ``model_kwargs`` trained by ``optimizer``
    (a key of :data:`imbjax.engine.optimizers.OPTIMIZERS`) at one ``learning_rate`` for ``num_steps`` steps of batch
    ``batch_size``. The defaults are the accelerator budget most configs share: 3 seeds of a
    ResNet-32, SGD (lr 0.1, momentum 0.9), 8,000 steps of batch 128."""
    config.datasets = datasets
    config.seeds = seeds
    config.model = model
    config.model_kwargs = dict(model_kwargs)
    config.optimizer = optimizer
    config.learning_rates = (learning_rate,)
    config.batch_size = batch_size
    config.num_steps = num_steps


def step_schedule(config: ml_collections.ConfigDict, *, weight_decay: float, warmup_fraction: float,
                  decay_fractions: tuple[float, ...], decay_factor: float) -> None:
    """Set, in place, the long-tail papers' learning-rate schedule: coupled weight decay ``weight_decay``,
    linear warm-up over ``warmup_fraction`` of the steps, the rate times ``decay_factor`` at each of
    ``decay_fractions`` (cumulative)."""
    config.weight_decays = (weight_decay,)
    config.lr_schedule = "step"
    config.lr_warmup_fraction = warmup_fraction
    config.lr_decay_fractions = tuple(decay_fractions)
    config.lr_decay_factor = decay_factor


def cao_sgd(config: ml_collections.ConfigDict) -> None:
    """Set, in place, the optimiser and schedule of Cao et al.'s CIFAR code (kaidic/LDAM-DRW
    ``cifar_train.py``), which later long-tail papers reuse: SGD with momentum 0.9 at lr 0.1, batch 128,
    and :func:`step_schedule` with weight decay 2e-4, warm-up over 2.5% of the steps (5 of 200 epochs) and
    x0.01 at 80% and at 90% (epochs 160 and 180); batches and augmentation are left as they are."""
    config.optimizer = "sgd"
    config.learning_rates = (0.1,)
    config.batch_size = 128
    step_schedule(config, weight_decay=2e-4, warmup_fraction=0.025, decay_fractions=(0.8, 0.9), decay_factor=0.01)


def cifar_recipe(config: ml_collections.ConfigDict, *, padding: int = 4) -> None:
    """Set, in place, how the long-tail papers' CIFAR code feeds its network: epochs of the subset
    (``batch_sampling="epoch"``) and random crops after zero padding by ``padding`` with horizontal flips
    (Cao et al.'s LDAM-DRW code: padding 4). The optimiser and schedule are :func:`cao_sgd`'s or the
    paper's own :func:`step_schedule`."""
    config.batch_sampling = "epoch"
    config.augment = "crop_flip"
    config.augment_kwargs = {"padding": padding}


def mnist1d_augmentation(config: ml_collections.ConfigDict) -> None:
    """Set, in place, imbjax's stand-in for the CIFAR crop and flip on MNIST-1D signals (no paper publishes
    one): a roll by up to 4 of the 40 samples (the crop's padding 4 of 32 pixels) and Gaussian noise of
    standard deviation 0.1 on the standardised signals (``augment="shift_noise"``)."""
    config.augment = "shift_noise"
    config.augment_kwargs = {"max_shift": 4, "noise_std": 0.1}


def base_config() -> ml_collections.ConfigDict:
    """Every config key, with its default."""
    config = ml_collections.ConfigDict()
    config.name = "sweep"
    # Data: datasets x imbalance profiles x rho x mu (mu only for the step profile).
    config.datasets = ("digits",)
    config.dataset_kwargs = ml_collections.ConfigDict()  # {dataset: {loader keyword: value}}
    config.profiles = ("step",)
    config.rhos = (1.0, 10.0)
    config.mus = (0.5,)
    config.minority = "last"  # which classes are minority: "last" or "random" (per seed)
    config.n_max = 0  # examples of the largest class; 0 = the largest at which every rho is exact
    config.validation_fraction = 0.0  # stratified part of the pool held out before the subset; shared
    # Seeds: an int n (seeds 0 .. n-1) or an explicit tuple of seeds (either type may be assigned).
    config.seeds = ml_collections.FieldReference(3, field_type=object)
    # The seed that draws the imbalanced subset, the validation part and random minority classes:
    # None = the run's own seed; an int n or a tuple: an axis of its own ("same data, other init").
    config.data_seeds = ml_collections.FieldReference(None, field_type=object)
    # Methods and their hyper-parameter grids: {method: {hyper-parameter: (values, ...)}}.
    config.methods = ("baseline",)
    config.hparams = ml_collections.ConfigDict()
    # Model and optimisation.
    config.model = "mlp"
    config.model_kwargs = ml_collections.ConfigDict({"hidden": (128, 128)})
    config.optimizer = "adam"
    config.learning_rates = (1e-3,)
    config.weight_decays = (0.0,)  # a sweep axis; coupled for sgd/adam, decoupled for adamw
    config.lr_schedule = "constant"  # or "step" (x lr_decay_factor at each decay fraction) or "cosine"
    config.lr_warmup_fraction = 0.0  # linear warm-up over this fraction of num_steps
    config.lr_decay_fractions = ()  # "step": where the rate is multiplied by lr_decay_factor
    config.lr_decay_factor = 0.1
    config.batch_size = 64
    config.num_steps = 300
    config.batch_sampling = "iid"  # or "epoch": each epoch a permutation of the subset (by the sampler's weights)
    config.augment = "none"  # or "crop_flip" (images) or "shift_noise" (1-D signals), in-jit per run key
    config.augment_kwargs = ml_collections.ConfigDict()  # e.g. {"padding": 4}, {"max_shift": 4, "noise_std": 0.1}
    # Execution.
    config.checkpoint_every = 0  # steps between checkpoints; 0 = none
    config.max_parallel = 0  # most runs trained at once per group; 0 = what fits in memory (and a CPU's cache)
    config.figure_metrics = ("balanced_accuracy", "ovr_roc_auc")
    return config


#: Keys a config may add to :func:`base_config`'s (see the module docstring).
OPTIONAL_KEYS = ("models",)


def _freeze(value):
    """Lists to tuples, recursively, so model arguments are hashable."""
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def _plain_dict(mapping) -> dict:
    return mapping.to_dict() if hasattr(mapping, "to_dict") else dict(mapping)


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """One architecture of a sweep: its ``label`` (the ``model`` column of ``runs.csv``), the model
    ``name`` (a key of :data:`imbjax.models.MODELS`) and its keyword arguments, sorted, lists as tuples."""

    label: str
    name: str
    kwargs: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, label: str, name: str, kwargs) -> "ModelChoice":
        """From a mapping of keyword arguments (a dict or ``ConfigDict``)."""
        return cls(label, name, tuple(sorted((k, _freeze(v)) for k, v in _plain_dict(kwargs).items())))

    def with_overrides(self, overrides: Mapping) -> "ModelChoice":
        """The same architecture with some arguments replaced (a method's ``model_kwargs``)."""
        if not overrides:
            return self
        return ModelChoice.of(self.label, self.name, {**dict(self.kwargs), **dict(overrides)})

    @property
    def spec_json(self) -> str:
        """``{"model": name, **kwargs}`` as compact JSON (the ``model_spec`` column)."""
        return json.dumps({"model": self.name, **dict(self.kwargs)}, sort_keys=True, separators=(",", ":"))


def _model_entries(models_value) -> list[tuple]:
    """``config.models`` as ``[(label, entry), ...]``: a mapping's items, or the pairs as given."""
    if hasattr(models_value, "items"):
        return list(models_value.items())
    entries = list(models_value) if isinstance(models_value, (tuple, list)) else None
    if entries is None or not all(isinstance(e, (tuple, list)) and len(e) == 2 for e in entries):
        raise ValueError(f"config.models must map labels to {{'model': name, ...}} (a mapping or (label, entry) "
                         f"pairs), got {models_value!r}")
    return [tuple(e) for e in entries]


def model_choices(config: ml_collections.ConfigDict) -> tuple[ModelChoice, ...]:
    """The sweep's architectures: ``config.models`` in order when set, else ``config.model`` with
    ``config.model_kwargs``, labelled by the model name. Raises ``ValueError`` on a malformed
    ``models`` entry (:func:`validate` checks names and arguments too)."""
    if "models" not in config:
        return (ModelChoice.of(config.model, config.model, config.model_kwargs),)
    entries = _model_entries(config.models)
    if not entries:
        raise ValueError("config.models is empty; give label -> {'model': name, ...} entries, or remove it "
                         "to use config.model")
    choices, seen = [], set()
    for label, entry in entries:
        if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
            raise ValueError(f"bad architecture label {label!r} in config.models; use letters, digits and "
                             f"'_.+-' (matching {LABEL_PATTERN.pattern!r})")
        if label in seen:
            raise ValueError(f"architecture label {label!r} appears twice in config.models; labels must be unique")
        seen.add(label)
        entry = _plain_dict(entry) if hasattr(entry, "items") else entry
        if not isinstance(entry, dict) or "model" not in entry:
            raise ValueError(f"config.models[{label!r}] must be a mapping with a 'model' key (one of "
                             f"{sorted(models.MODELS)}) and the model's arguments, got {entry!r}")
        kwargs = {k: v for k, v in entry.items() if k != "model"}
        choices.append(ModelChoice.of(label, entry["model"], kwargs))
    return tuple(choices)


def check_model_choice(choice: ModelChoice, where: str) -> None:
    """Raise a ``ValueError`` naming the bad value and the valid choices if ``choice`` names no
    model, passes it an argument it lacks, or (ResNet) a depth that is not 6n + 2; ``where``
    says which config entry it came from."""
    if choice.name not in models.MODELS:
        raise ValueError(f"unknown model {choice.name!r}; choose one of {sorted(models.MODELS)} (in {where})")
    arguments = [f.name for f in dataclasses.fields(models.MODELS[choice.name])
                 if f.name not in ("num_classes", "parent", "name")]
    for key, _ in choice.kwargs:
        if key not in arguments:
            raise ValueError(f"model {choice.name!r} has no argument {key!r} (in {where}); valid arguments are "
                             f"{arguments}")
    head = dict(choice.kwargs).get("head", "linear")
    if head not in models.HEADS:
        raise ValueError(f"unknown head {head!r} in {where}; choose one of {list(models.HEADS)}")
    depth = dict(choice.kwargs).get("depth")
    if choice.name == "resnet" and depth is not None and (
            not isinstance(depth, int) or depth < 8 or (depth - 2) % 6):
        raise ValueError(f"ResNet depth {depth!r} in {where} is not 6n + 2 with n >= 1; choose e.g. one of "
                         f"{list(models.RESNET_DEPTHS)}")


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
    """Load ``get_config()`` from the Python file ``path``, apply ``key=value`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"imbjax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ValueError(f"{err.filename}:{err.lineno}: syntax error in the config file ({err.msg}); "
                         f"fix that line") from None
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {str(path)!r} defines no get_config()")
    config = module.get_config()
    apply_overrides(config, overrides)
    validate(config)
    return config


def _valid_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """The keys ``--set`` accepts in ``config``, nested ones dotted; at the top, also the optional keys a
    config may lack (:data:`OPTIONAL_KEYS`)."""
    keys = [key for key in OPTIONAL_KEYS if not prefix and key not in config]
    for key, value in config.items():
        keys.append(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):
            keys.extend(_valid_keys(value, prefix + key + "."))
    return keys


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> None:
    """Apply ``key=value`` strings in place; values are parsed as Python literals when they can be.

    Nested mappings that hold free-form entries (``hparams``, ``dataset_kwargs``,
    ``model_kwargs``, ``models``) accept new keys, and the optional ``models`` may be added; everywhere
    else an unknown key is an error. A mapping value is never wrapped into a tuple.
    """
    open_mappings = ("hparams", "dataset_kwargs", "model_kwargs", "models", "augment_kwargs")
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key=value")
        *parents, leaf = key.split(".")
        value = _override_value(config, key, text)
        node = config
        for part in parents:
            if not isinstance(node, ml_collections.ConfigDict):
                raise ValueError(f"cannot set {key!r}: {part!r} is under a {type(node).__name__}, not a mapping; "
                                 f"set the whole value instead")
            if part not in node:
                if parents[0] not in open_mappings:
                    raise ValueError(f"config has no key {key!r}; valid keys are {_valid_keys(config)}")
                node[part] = ml_collections.ConfigDict()
            node = node[part]
        if not isinstance(node, ml_collections.ConfigDict):
            raise ValueError(f"cannot set {key!r}: its parent is a {type(node).__name__}, not a mapping; "
                             f"set the whole value instead")
        optional = not parents and leaf in OPTIONAL_KEYS
        if leaf not in node and not optional and (not parents or parents[0] not in open_mappings):
            raise ValueError(f"config has no key {key!r}; valid keys are {_valid_keys(config)}")
        if isinstance(value, list):
            value = tuple(value)
        if leaf in node and isinstance(node[leaf], tuple) and not isinstance(value, (tuple, dict)):
            value = (value,)
        with node.ignore_type():
            node[leaf] = value


def _override_value(config: ml_collections.ConfigDict, key: str, text: str):
    """``text`` as a Python literal; as the plain string where it is none, unless the key's current
    value is not a string or ``text`` looks like a tuple, list or mapping (a typo such as
    ``rhos=(1, ten)``), which is refused in one line."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        current = config
        for part in key.split("."):
            current = current.get(part) if isinstance(current, ml_collections.ConfigDict) else None
        if (current is not None and not isinstance(current, str)) or text.lstrip().startswith(("(", "[", "{")):
            raise ValueError(f"--set {key}={text}: {text!r} is not a Python literal ({type(err).__name__}: "
                             f"{' '.join(str(err).split())}); write numbers as numbers and quote strings, e.g. "
                             f"--set \"rhos=(1, 10)\" or --set \"model='mlp'\"") from None
        return text


def _require_choice(what: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {sorted(choices)}")


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def seed_list(key: str, value) -> tuple[int, ...]:
    """The seeds that ``config.<key>`` names: ``range(n)`` for an int ``n >= 1``, or an explicit tuple of
    distinct non-negative ints; a ``ValueError`` naming the bad value otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"config.{key} must be a positive integer (seeds 0 .. n-1) or a tuple of seeds, got {value!r}")
        return tuple(range(value))
    seeds = tuple(value) if isinstance(value, (tuple, list)) else ()
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds):
        raise ValueError(f"config.{key} must be a positive integer (seeds 0 .. n-1) or a non-empty tuple of "
                         f"non-negative integer seeds, got {value!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"config.{key} repeats a seed: {value!r}")
    return seeds


#: The config keys that are axes of the sweep's grid (each value one grid point).
AXIS_KEYS = ("datasets", "profiles", "rhos", "mus", "methods", "learning_rates", "weight_decays")


def check_distinct(key: str, values) -> None:
    """Refuse an axis that names a value twice (two grid points would be one run): one ``ValueError``
    naming the key, the repeated value and the list."""
    seen = []
    for value in _as_tuple(values):
        if value in seen:
            raise ValueError(f"config.{key} repeats {value!r}: {tuple(_as_tuple(values))!r}; name each value once")
        seen.append(value)


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise one ``ValueError`` for the first invalid value, naming it and the valid choices."""
    valid_keys = {*base_config().keys(), *OPTIONAL_KEYS}
    unknown = sorted(set(config.keys()) - valid_keys)
    if unknown:
        raise ValueError(f"config has no key {unknown[0]!r}; valid keys are {sorted(valid_keys)}")
    for key in AXIS_KEYS:
        check_distinct(key, config[key])
    for name in _as_tuple(config.datasets):
        data.check_name(name)
    for name in config.dataset_kwargs.keys():
        if name not in _as_tuple(config.datasets):
            raise ValueError(f"dataset_kwargs names dataset {name!r}, which is not in datasets {list(config.datasets)}")
    for name in _as_tuple(config.datasets):
        kwargs = config.dataset_kwargs[name] if name in config.dataset_kwargs else {}
        data.check_kwargs(name, kwargs.to_dict() if hasattr(kwargs, "to_dict") else dict(kwargs))
    for profile in _as_tuple(config.profiles):
        imbalance.check_profile(profile, rho=config.rhos, mu=config.mus)
    _require_choice("minority choice", config.minority, imbalance.MINORITY_CHOICES)
    if not _as_tuple(config.methods):
        raise ValueError(f"config.methods is empty; choose from {list(methods.available())}")
    for name in _as_tuple(config.methods):
        methods.get(name)
    validation_fraction = config.validation_fraction
    if not isinstance(validation_fraction, (int, float)) or not 0.0 <= validation_fraction <= 0.5:
        raise ValueError(f"config.validation_fraction must be a number in [0, 0.5], got {validation_fraction!r}")
    needing = [name for name in _as_tuple(config.methods) if methods.get(name).needs_validation]
    if needing and not validation_fraction:
        raise ValueError(f"method {needing[0]!r} tunes on validation data; set config.validation_fraction > 0 "
                         f"(e.g. --set validation_fraction=0.2): the held-out part is carved from the pool "
                         f"and shared by every method of a seed")
    for name, grid in config.hparams.items():
        if name not in _as_tuple(config.methods):
            raise ValueError(f"hparams names method {name!r}, which is not in methods {list(config.methods)}")
        methods.check_hparams(name, grid)
        for hparam, values in grid.items():
            check_distinct(f"hparams.{name}.{hparam}", values)
    for choice in model_choices(config):
        check_model_choice(choice, f"config.models[{choice.label!r}]" if "models" in config else "config.model")
    _require_choice("optimizer", config.optimizer, OPTIMIZERS)
    for key in ("batch_size", "num_steps"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise ValueError(f"config.{key} must be a positive integer, got {config[key]!r}")
    seed_list("seeds", config.seeds)
    if config.data_seeds is not None:
        seed_list("data_seeds", config.data_seeds)
    for key in ("checkpoint_every", "max_parallel", "n_max"):
        if not isinstance(config[key], int) or config[key] < 0:
            raise ValueError(f"config.{key} must be a non-negative integer, got {config[key]!r}")
    bad_lr = [lr for lr in _as_tuple(config.learning_rates) if not lr > 0]
    if bad_lr:
        raise ValueError(f"learning rates must be > 0, got {bad_lr[0]!r}")
    bad_wd = [wd for wd in _as_tuple(config.weight_decays) if not wd >= 0]
    if bad_wd:
        raise ValueError(f"weight decays must be >= 0, got {bad_wd[0]!r}")
    _require_choice("lr_schedule", config.lr_schedule, LR_SCHEDULES)
    _require_choice("batch_sampling", config.batch_sampling, BATCH_SAMPLINGS)
    augment.check_augmentation(config.augment, tuple(config.augment_kwargs.keys()))
    fractions = (config.lr_warmup_fraction, *_as_tuple(config.lr_decay_fractions))
    bad_fraction = [f for f in fractions if not 0.0 <= f < 1.0]
    if bad_fraction:
        raise ValueError(f"lr_warmup_fraction and lr_decay_fractions must lie in [0, 1), got {bad_fraction[0]!r}")
    if config.lr_decay_fractions and config.lr_schedule != "step":
        raise ValueError(f"lr_decay_fractions={config.lr_decay_fractions!r} needs lr_schedule='step', "
                         f"got {config.lr_schedule!r}")
    if not config.lr_decay_factor > 0:
        raise ValueError(f"lr_decay_factor must be > 0, got {config.lr_decay_factor!r}")


def families_without(capability: str) -> set[str]:
    """Names of the registered families whose ``Family.<capability>`` is false (``"epoch_sampling"``,
    ``"augmentation"``, ``"batch_norm"``)."""
    return {name for name, family in methods.FAMILIES.items() if not getattr(family, capability)}


def check_batch_options(config, chosen: Sequence[Method]) -> None:
    """Refuse ``batch_sampling='epoch'`` and an ``augment`` for a family that cannot apply it, naming the
    family, its methods and the families that can."""
    options = (("epoch_sampling", "batch_sampling", "epoch" if config.batch_sampling != "iid" else None, "iid"),
               ("augmentation", "augment", config.augment if config.augment != "none" else None, "none"))
    for capability, key, value, default in options:
        refusing = sorted({m.family for m in chosen} & families_without(capability))
        if value is not None and refusing:
            able = sorted(set(methods.FAMILIES) - families_without(capability))
            raise ValueError(f"family {refusing[0]!r} ({', '.join(m.name for m in chosen if m.family == refusing[0])}) "
                             f"cannot apply {key}={value!r}: use {key}={default!r}, or methods of the families "
                             f"that can: {able}")


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
    chosen = tuple(methods.get(name) for name in method_names)
    overrides = {tuple(sorted(m.model_kwargs.items())) for m in chosen}
    if len(overrides) != 1:
        raise ValueError(f"methods {list(method_names)} override the model differently ({sorted(overrides)}); "
                         f"they cannot share one program")
    model = (model or model_choices(config)[0]).with_overrides(dict(overrides.pop()))
    validation_fraction = float(config.validation_fraction)
    available = int(imbalance.pool_class_counts_after_validation(dataset.train_class_counts(),
                                                                 validation_fraction).min())
    n_max = imbalance.exact_n_max(available, config.rhos, requested=config.n_max, dataset=repr(dataset.name))
    for method in chosen:
        if method.check_setting is not None:
            method.check_setting(method_setting_values(config, method), n_max)
    own_rates = [m for m in chosen if m.learning_rate_factor is not full_learning_rate
                 and not methods.FAMILIES[m.family].method_learning_rates]
    if own_rates:
        readers = sorted(name for name, family in methods.FAMILIES.items() if family.method_learning_rates)
        raise ValueError(f"method {own_rates[0].name!r} sets its own learning_rate_factor, which its family "
                         f"{own_rates[0].family!r} does not apply; families that do: {readers}")
    check_batch_options(config, chosen)
    augment.check_fits(config.augment, tuple(dataset.input_shape))
    spec = ProgramSpec(
        num_classes=dataset.num_classes, input_shape=tuple(dataset.input_shape), methods=chosen,
        model=model.name, model_kwargs=model.kwargs, optimizer=config.optimizer,
        lr_schedule=LRSchedule.from_config(config), weight_decay=tuple(config.weight_decays) != (0.0,),
        data_seed_axis=config.data_seeds is not None, batch_sampling=config.batch_sampling,
        augmentation=config.augment,
        augment_kwargs=tuple(sorted(config.augment_kwargs.to_dict().items())),
        batch_size=config.batch_size,
        num_steps=config.num_steps, profile=profile, minority=config.minority, n_max=n_max,
        validation_fraction=validation_fraction)
    no_batch_norm = sorted({m.family for m in chosen} & families_without("batch_norm"))
    if no_batch_norm and has_batch_stats(spec):
        raise ValueError(f"family {no_batch_norm[0]!r} ({', '.join(m.name for m in chosen)}) cannot train a model "
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
        dataset = data.load(name, **kwargs)
    spec = program_spec(config, dataset, profile=config.profiles[0], method_names=(method,))
    program = methods.make_program(spec)
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
