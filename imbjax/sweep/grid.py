"""Grid expansion: a config becomes groups of runs, one compiled program per group.

The grid is datasets x profiles x models x rho x mu x seeds x methods x each method's
hyper-parameter grid x learning rates (mu only varies for the step profile; other profiles
record mu as NaN; the ``natural`` profile trains on the whole pool, so it has one rho, recorded as
the pool's own ratio once the run trained: :func:`imbjax.sweep.runner.run_sweep`; models are
``config.models``, or the one ``config.model``). Runs that share
the static part (dataset, profile, model, method family, optimizer, steps, batch) form a group;
within a group runs differ only in arrays (seed key and ``hparams``).

Every run records ``dataset`` by the data set's own name (:func:`imbjax.data.record_name`: a KEEL
file by its name, a user's data set by the name it was registered under), ``model`` (the
architecture's label; the model name for a single-model config),
``model_spec`` (``{"model": name, **model_kwargs}`` as compact JSON) and ``validation_fraction``. A
run id hashes the run's whole config; the label enters the hash only when ``config.models`` is set,
so run and group ids of single-model configs are those of earlier versions.

A run id (and its group's id) also hashes the code outside imbjax that the run executes (a method,
family builder, model, optimizer or data loader registered from a user's script:
:func:`user_code`), so a re-run after that code changed trains again instead of reusing the old
results; runs of imbjax's own code keep their ids.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from typing import Iterator

import ml_collections
import numpy as np

from imbjax import data as datasets
from imbjax import imbalance, models
from imbjax import methods as method_registry
from imbjax.config import ModelChoice, model_choices, seed_list
from imbjax.engine.optimizers import OPTIMIZERS
from imbjax.sweep import program_cache


@dataclasses.dataclass(frozen=True)
class Run:
    """One run: its identity, its seed, and the hyper-parameters its program reads."""

    run_id: str
    seed: int
    columns: dict  # config columns written to runs.csv
    hparams: dict  # name -> float, for the program (method_index included)


@dataclasses.dataclass(frozen=True)
class Group:
    """Runs that share one compiled program."""

    group_id: str
    dataset: str
    dataset_kwargs: dict
    profile: str
    model: ModelChoice
    family: str
    methods: tuple[str, ...]
    runs: tuple[Run, ...]


def as_tuple(value) -> tuple:
    """A config value as a tuple: a tuple or list as it is, anything else as a tuple of one."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _plain(value):
    if isinstance(value, ml_collections.ConfigDict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def stable_id(payload: dict, length: int = 12) -> str:
    """A short hash of a JSON-serialisable mapping (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:length]


#: Characters a group name may hold (it names files); others (``:`` and ``/`` of ``tfds:`` or ``keel:`` data
#: set names) become ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


def file_safe(text: str) -> str:
    """``text`` with every character outside letters, digits and ``_.+-`` replaced by ``_``."""
    return _UNSAFE.sub("_", text)


def recorded_names(config: ml_collections.ConfigDict) -> dict[str, str]:
    """``{config data set name: the name runs record}`` (:func:`imbjax.data.record_name`); a
    ``ValueError`` if two data sets of the config would be recorded under one name."""
    names = {}
    for dataset in as_tuple(config.datasets):
        kwargs = _plain(config.dataset_kwargs.get(dataset, {})) if dataset in config.dataset_kwargs else {}
        names[dataset] = datasets.record_name(dataset, kwargs)
    seen = {}
    for dataset, name in names.items():
        if name in seen:
            raise ValueError(f"data sets {seen[name]!r} and {dataset!r} would both be recorded as {name!r}; "
                             f"rename one of the files, or register one under another name")
        seen[name] = dataset
    return names


def _method_grid(config, name: str) -> Iterator[dict]:
    """Every combination of method ``name``'s hyper-parameter values (defaults where not swept)."""
    defaults = dict(method_registry.get(name).hparams)
    grid = _plain(config.hparams.get(name, {})) if name in config.hparams else {}
    names = sorted(defaults)
    values = [as_tuple(grid.get(n, defaults[n])) for n in names]
    for combination in itertools.product(*values):
        yield dict(zip(names, (float(v) for v in combination)))


#: Recipe keys at their defaults leave a run's identity as it was before they existed.
RECIPE_DEFAULTS = {"validation_fraction": 0.0, "lr_schedule": "constant", "lr_warmup_fraction": 0.0,
                   "lr_decay_fractions": (), "lr_decay_factor": 0.1, "batch_sampling": "iid", "augment": "none",
                   "augment_kwargs": {}}


def recipe_identity(config: ml_collections.ConfigDict) -> dict:
    """The recipe keys of ``config`` that differ from their defaults (part of every run's identity)."""
    return {key: _plain(config[key]) for key, default in RECIPE_DEFAULTS.items()
            if _plain(config[key]) != _plain(default)}


def user_code(config: ml_collections.ConfigDict, dataset: str, model: ModelChoice, method: str) -> str:
    """A hash of the code outside imbjax that a run of ``method`` on ``dataset`` with ``model`` executes
    (:func:`imbjax.sweep.program_cache.user_pieces`), ``""`` when all of it is imbjax's."""
    chosen = method_registry.get(method)
    return program_cache.user_code_digest(program_cache.user_pieces(
        chosen, method_registry.FAMILIES.get(chosen.family), models.MODELS.get(model.name), OPTIMIZERS.get(config.optimizer),
        datasets.LOADERS.get(dataset)))


def expand(config: ml_collections.ConfigDict) -> list[Group]:
    """All groups of the sweep, in a deterministic order (dataset, profile, model, family)."""
    common = {"optimizer": config.optimizer, "batch_size": config.batch_size, "num_steps": config.num_steps,
              "minority": config.minority, "n_max": config.n_max,
              **recipe_identity(config)}
    labelled = "models" in config
    # A weight-decay column (and identity entry) only where decay is used: old run ids stay valid.
    swept_decay = as_tuple(config.weight_decays) != (0.0,)
    # The data seed is the run's seed unless config.data_seeds makes it an axis of its own.
    own_data_seeds = config.data_seeds is not None
    data_seeds = seed_list("data_seeds", config.data_seeds) if own_data_seeds else (None,)
    # Methods share a program when they share a family and the same model overrides.
    by_family: dict[tuple[str, tuple], list[str]] = {}
    for name in as_tuple(config.methods):
        method = method_registry.get(name)
        by_family.setdefault((method.family, tuple(sorted(method.model_kwargs.items()))), []).append(name)
    recorded_as = recorded_names(config)
    groups = []
    for dataset, profile, chosen_model in itertools.product(
            as_tuple(config.datasets), as_tuple(config.profiles), model_choices(config)):
        dataset_kwargs = _plain(config.dataset_kwargs.get(dataset, {})) if dataset in config.dataset_kwargs else {}
        place = {"dataset": dataset, "profile": profile}
        mus = as_tuple(config.mus) if profile == "step" else (math.nan,)
        rhos = (math.nan,) if profile == imbalance.NATURAL else as_tuple(config.rhos)
        for (family, overrides), names in by_family.items():
            model = chosen_model.with_overrides(dict(overrides))
            static = {**common, "model": model.name, "model_kwargs": dict(model.kwargs),
                      **({"model_label": model.label} if labelled else {})}
            model_columns = {"model": model.label, "model_spec": model.spec_json}
            codes = {name: user_code(config, dataset, model, name) for name in names}
            runs = []
            for rho, mu, seed, data_seed, (index, name), lr, wd in itertools.product(
                    rhos, mus, seed_list("seeds", config.seeds), data_seeds, enumerate(names),
                    as_tuple(config.learning_rates), as_tuple(config.weight_decays)):
                data_seed = seed if data_seed is None else data_seed
                for method_hparams in _method_grid(config, name):
                    setting = {"rho": float(rho), "mu": float(mu), "seed": seed,
                               **({"data_seed": data_seed} if own_data_seeds else {}), "method": name}
                    method_columns = {"hp_learning_rate": float(lr),
                                      **({"hp_weight_decay": float(wd)} if swept_decay else {}),
                                      **{f"hp_{k}": v for k, v in method_hparams.items()}}
                    identity = {**static, **place, **setting, **method_columns, "dataset_kwargs": dataset_kwargs,
                                **({"user_code": codes[name]} if codes[name] else {})}
                    hparams = {"rho": 1.0 if math.isnan(rho) else float(rho),
                               "mu": 0.5 if math.isnan(mu) else float(mu), "learning_rate": float(lr), "weight_decay": float(wd), "method_index": index,
                               "data_seed": data_seed, **method_hparams}
                    columns = {**place, "dataset": recorded_as[dataset], **setting, **model_columns,
                               "validation_fraction": float(config.validation_fraction), **method_columns}
                    runs.append(Run(stable_id(identity), seed, columns, hparams))
            group_id = stable_id({**static, **place, "dataset_kwargs": dataset_kwargs, "family": family,
                                  "methods": names, **({"user_code": codes} if any(codes.values()) else {})}, 10)
            name_parts = [file_safe(recorded_as[dataset]), profile, *([model.label] if labelled else []), family,
                          group_id]
            groups.append(Group("-".join(name_parts), dataset, dataset_kwargs, profile, model, family,
                                tuple(names), tuple(runs)))
    return groups


def stack_hparams(runs: tuple[Run, ...], defaults: dict[str, float]) -> dict[str, np.ndarray]:
    """``{name: array[runs]}``: each run's value, the group default where its method lacks one."""
    names = ["rho", "mu", "learning_rate", "weight_decay", "method_index", "data_seed", *sorted(defaults)]
    stacked = {}
    for name in names:
        values = [run.hparams.get(name, defaults.get(name, 0.0)) for run in runs]
        dtype = np.int32 if name in ("method_index", "data_seed") else np.float32
        stacked[name] = np.asarray(values, dtype)
    return stacked
