"""Experiment configs: Python files with ``get_config()`` returning an ``ml_collections.ConfigDict``.

Every experiment starts from :func:`base_config`, which lists every key with its default;
``--set key=value`` on the command line overrides one (dotted paths reach nested keys, values
are Python literals). A key that does not exist, an unknown method or dataset, rho < 1 or mu
outside (0, 1) raises one ``ValueError`` naming the bad value and the valid choices, before any
data is loaded or anything compiled.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Iterable

import ml_collections

from imbjax import data, imbalance, methods, models
from imbjax.train import OPTIMIZERS


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
    config.n_max = 0  # examples of the largest class; 0 = the smallest class of the pool
    config.seeds = 3  # runs seeds 0 .. seeds-1
    # Methods and their hyper-parameter grids: {method: {hyper-parameter: (values, ...)}}.
    config.methods = ("baseline",)
    config.hparams = ml_collections.ConfigDict()
    # Model and optimisation.
    config.model = "mlp"
    config.model_kwargs = ml_collections.ConfigDict({"hidden": (128, 128)})
    config.optimizer = "adam"
    config.learning_rates = (1e-3,)
    config.batch_size = 64
    config.num_steps = 300
    # Execution.
    config.checkpoint_every = 0  # steps between checkpoints; 0 = none
    config.max_parallel = 0  # most runs trained at once per group; 0 = as many as fit in memory
    config.figure_metrics = ("balanced_accuracy", "ovr_roc_auc")
    return config


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
    """Load ``get_config()`` from the Python file ``path``, apply ``key=value`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"imbjax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {str(path)!r} defines no get_config()")
    config = module.get_config()
    apply_overrides(config, overrides)
    validate(config)
    return config


def _valid_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in config.items():
        keys.append(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):
            keys.extend(_valid_keys(value, prefix + key + "."))
    return keys


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> None:
    """Apply ``key=value`` strings in place; values are parsed as Python literals when they can be.

    Nested mappings that hold free-form entries (``hparams``, ``dataset_kwargs``,
    ``model_kwargs``) accept new keys; everywhere else an unknown key is an error.
    """
    open_mappings = ("hparams", "dataset_kwargs", "model_kwargs")
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key=value")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        *parents, leaf = key.split(".")
        node = config
        for depth, part in enumerate(parents):
            if part not in node:
                if parents[0] not in open_mappings:
                    raise ValueError(f"config has no key {key!r}; valid keys are {_valid_keys(config)}")
                node[part] = ml_collections.ConfigDict()
            node = node[part]
        if leaf not in node and (not parents or parents[0] not in open_mappings):
            raise ValueError(f"config has no key {key!r}; valid keys are {_valid_keys(config)}")
        if isinstance(value, list):
            value = tuple(value)
        if leaf in node and isinstance(node[leaf], tuple) and not isinstance(value, tuple):
            value = (value,)
        with node.ignore_type():
            node[leaf] = value


def _require_choice(what: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {sorted(choices)}")


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise one ``ValueError`` for the first invalid value, naming it and the valid choices."""
    unknown = sorted(set(config.keys()) - set(base_config().keys()))
    if unknown:
        raise ValueError(f"config has no key {unknown[0]!r}; valid keys are {sorted(base_config().keys())}")
    for name in _as_tuple(config.datasets):
        data.check_name(name)
    for name in config.dataset_kwargs.keys():
        if name not in _as_tuple(config.datasets):
            raise ValueError(f"dataset_kwargs names dataset {name!r}, which is not in datasets {list(config.datasets)}")
    for profile in _as_tuple(config.profiles):
        imbalance.check_profile(profile, rho=config.rhos, mu=config.mus)
    _require_choice("minority choice", config.minority, imbalance.MINORITY_CHOICES)
    if not _as_tuple(config.methods):
        raise ValueError(f"config.methods is empty; choose from {list(methods.available())}")
    for name in _as_tuple(config.methods):
        methods.get(name)
    for name, grid in config.hparams.items():
        if name not in _as_tuple(config.methods):
            raise ValueError(f"hparams names method {name!r}, which is not in methods {list(config.methods)}")
        methods.check_hparams(name, grid)
    models.check_model(config.model)
    _require_choice("optimizer", config.optimizer, OPTIMIZERS)
    for key in ("batch_size", "num_steps", "seeds"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise ValueError(f"config.{key} must be a positive integer, got {config[key]!r}")
    for key in ("checkpoint_every", "max_parallel", "n_max"):
        if not isinstance(config[key], int) or config[key] < 0:
            raise ValueError(f"config.{key} must be a non-negative integer, got {config[key]!r}")
    bad_lr = [lr for lr in _as_tuple(config.learning_rates) if not lr > 0]
    if bad_lr:
        raise ValueError(f"learning rates must be > 0, got {bad_lr[0]!r}")
