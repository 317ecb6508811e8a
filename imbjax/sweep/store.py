"""The results store of a work directory, safe against a kill at any moment.

Layout of a work directory::

    config.json         the config whose grid holds every run stored here (the union of the sweeps run here)
    groups/<id>.csv     rows of runs that finished together, written atomically (write, then rename)
    runs.csv            every stored run of that grid, one row per run, rebuilt atomically after every group
    meta.json           versions, devices, per-group compile and run seconds

A work directory holds *runs*, not one frozen config. Every run has a stable id (a hash of its full
config); a sweep trains only its runs whose id is not stored yet, so a re-run never duplicates a row and
a config with more seeds, rhos, methods, models, learning rates or hyper-parameter values adds only the
missing runs (:func:`merge_configs`). Stored rows are copied as text, never re-formatted: a finished
run's row stays byte for byte what it was. A config that changes the identity of stored runs (another
step count, another data set, ...) is refused with :class:`ConfigMismatchError`. Keys that only say how a
sweep executes (:data:`EXECUTION_KEYS`) are not compared. A directory with no finished run is not bound
to any config (a config that failed before its first group finished locks nothing).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

CONFIG_FILE = "config.json"
RUNS_FILE = "runs.csv"
META_FILE = "meta.json"
GROUPS_DIR = "groups"

#: Config keys that say how a sweep executes, not what a run is: never compared between sweeps of a
#: directory (``name`` only labels the sweep). The layout and the progress display are command-line
#: options, not config keys.
EXECUTION_KEYS = ("checkpoint_every", "max_parallel", "figure_metrics", "name")
#: Sweep axes whose values a later sweep of the directory may extend (their union is recorded).
GROWABLE_KEYS = ("seeds", "data_seeds", "rhos", "mus", "learning_rates", "profiles", "methods", "hparams",
                 "models")


def umask_mode() -> int:
    """The mode ``open()`` gives a new file under the process's umask: ``0o666 & ~umask``."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never a part.

    The file gets the mode of any other new file (:func:`umask_mode`), not ``mkstemp``'s 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), umask_mode())
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


class ConfigMismatchError(ValueError):
    """The work directory holds runs that the requested config would define differently."""


def mismatch(workdir: Path, what: str) -> ConfigMismatchError:
    """The one-line refusal for ``workdir``, ``what`` saying what differs, with ``--fork`` offered."""
    return ConfigMismatchError(f"work directory {str(workdir)!r} holds runs of a different config ({what}); "
                               f"use another --workdir, or --fork to write to a new directory beside it")


def check_workdir(workdir: Path) -> None:
    """Raise one ``ValueError`` if ``workdir`` is a file, or if it (or the nearest existing folder above
    it, where it would be created) cannot be written; nothing is created."""
    workdir = Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"--workdir {str(workdir)!r} is a file, not a directory; choose another --workdir")
    existing = next(path for path in (workdir, *workdir.absolute().parents) if path.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"work directory {str(workdir)!r} cannot be written ({str(existing)!r} is read-only); "
                         f"choose another --workdir or make it writable")


# --- Stored runs ------------------------------------------------------------------------------

def group_path(workdir: Path, group_id: str) -> Path:
    return Path(workdir) / GROUPS_DIR / f"{group_id}.csv"


def group_files(workdir: Path) -> list[Path]:
    """The group files of ``workdir``, sorted by name."""
    return sorted((Path(workdir) / GROUPS_DIR).glob("*.csv"))


#: The group file that keeps the runs of a directory whose ``runs.csv`` was its only record.
IMPORTED_GROUP = "imported-runs-csv"


def record_files(workdir: Path) -> list[Path]:
    """The files that hold ``workdir``'s finished runs: its group files, or, where it has none, its
    ``runs.csv`` (a study committed or copied without its ``groups/``, which git ignores): such a
    directory resumes and grows like the one that wrote it, and its rows are never dropped."""
    runs = Path(workdir) / RUNS_FILE
    return group_files(workdir) or ([runs] if runs.exists() else [])


def keep_runs_table(workdir: Path) -> None:
    """Before a directory whose ``runs.csv`` is its only record gets its first group file, copy that
    table's rows to ``groups/`` (:data:`IMPORTED_GROUP`) byte for byte, so ``runs.csv``, rebuilt from the
    group files, keeps them."""
    if group_files(workdir) or not (Path(workdir) / RUNS_FILE).exists():
        return
    rows = read_rows(Path(workdir) / RUNS_FILE)
    if len(rows):
        atomic_write_text(group_path(workdir, IMPORTED_GROUP), rows.to_csv(index=False))


def read_rows(path: Path) -> pd.DataFrame:
    """The rows of a group file as text (every cell a string, empty cells ``""``), so they are written
    back byte for byte; one ``ValueError`` naming ``path`` if it is empty or has no ``run_id`` column."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty (cut short?); move it away and run again to recompute its runs") from None
    if "run_id" not in frame:
        raise ValueError(f"{path} has no run_id column, so it is no imbjax run table; move it away")
    return frame


def has_finished_runs(workdir: Path) -> bool:
    """Whether ``workdir`` holds at least one finished run (a row of its :func:`record_files`)."""
    return any(len(read_rows(path)) for path in record_files(workdir))


def stored_rows(workdir: Path, position: Mapping[str, int], keep_unplaced: Callable[[pd.DataFrame], pd.Series]
                ) -> pd.DataFrame:
    """The stored rows (text, from :func:`record_files`) of the runs ``position`` places (run id -> place in
    a fresh sweep's order) and of those ``keep_unplaced(rows) -> bool Series`` keeps (after them), indexed
    by run id. Files are
    concatenated in the order of their first placed row, so the columns come in a fresh sweep's order.
    A run stored in two files raises a ``ValueError`` naming both."""
    frames, origin = [], {}
    for path in record_files(workdir):
        rows = read_rows(path)
        places = rows["run_id"].map(position)
        rows = rows[places.notna() | keep_unplaced(rows)]
        for run_id in rows["run_id"]:
            if origin.get(run_id) == path:
                raise ValueError(f"run {run_id!r} is stored twice in {path}; delete one of its two rows")
            if run_id in origin:
                raise ValueError(f"run {run_id!r} is stored in {origin[run_id]} and in {path}; move one of the "
                                 f"two files away")
            origin[run_id] = path
        frames.append((places.min() if places.notna().any() else len(position), rows))
    frames = [rows for _, rows in sorted(frames, key=lambda pair: pair[0])]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"run_id": pd.Series([], dtype=str)})
    order = rows["run_id"].map(position).fillna(len(position)).to_numpy()
    return rows.iloc[order.argsort(kind="stable")].set_index("run_id", drop=False)


def new_group_id(workdir: Path, group_id: str, run_ids: list[str], *, whole_group: bool) -> str:
    """The file name (and checkpoint folder) of runs of group ``group_id`` trained together: the group id
    for all of the group's runs (``whole_group``) when no file has that name yet, else the group id and a
    hash of ``run_ids``."""
    if whole_group and not group_path(workdir, group_id).exists():
        return group_id
    from imbjax.sweep.grid import stable_id  # noqa: PLC0415 (grid imports the engine; the store stays light)

    return f"{group_id}+{stable_id({'runs': sorted(run_ids)}, 8)}"


def write_group(workdir: Path, group_id: str, frame: pd.DataFrame) -> None:
    """Store a trained group's rows (after :func:`keep_runs_table`)."""
    keep_runs_table(workdir)
    atomic_write_text(group_path(workdir, group_id), frame.to_csv(index=False))


def write_runs(workdir: Path, rows: pd.DataFrame) -> pd.DataFrame:
    """Write ``rows`` (text cells, as :func:`stored_rows` gives them) to ``runs.csv``; returns the table
    as read back from the file, so fresh and resumed sweeps return identical tables."""
    atomic_write_text(Path(workdir) / RUNS_FILE, rows.to_csv(index=False))
    return pd.read_csv(Path(workdir) / RUNS_FILE).copy()  # .copy() consolidates the wide frame's blocks


# --- The directory's config -------------------------------------------------------------------

def recorded_config(workdir: Path) -> dict | None:
    """``config.json`` of ``workdir`` if the directory holds finished runs; ``None`` otherwise (a
    directory whose sweep failed before its first group finished is bound to no config)."""
    path = Path(workdir) / CONFIG_FILE
    if not path.exists() or not has_finished_runs(workdir):
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); move it away or use another --workdir") from None


def plain(payload: Mapping) -> dict:
    """``payload`` as ``config.json`` holds it (tuples as lists, keys sorted)."""
    return json.loads(json.dumps(payload, sort_keys=True, default=str))


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _union(first: list, second: list) -> list:
    """``first``, then the values of ``second`` not in it, in order."""
    return first + [value for value in second if value not in first]


def _seeds(key: str, value) -> list[int]:
    from imbjax.config import seed_list  # noqa: PLC0415

    return list(seed_list(key, value))


def _seed_union(key: str, recorded, requested):
    """The seeds of both as ``config.seeds`` writes them: an int ``n`` for seeds 0..n-1, else a list."""
    if recorded == requested:
        return recorded
    union = _union(_seeds(key, recorded), _seeds(key, requested))
    return len(union) if sorted(union) == list(range(len(union))) else union


def _model_pairs(models) -> list[list]:
    return [list(pair) for pair in (models.items() if isinstance(models, Mapping) else models)]


def _models_union(workdir: Path, recorded, requested):
    pairs = _model_pairs(recorded)
    known = {label: entry for label, entry in pairs}
    for label, entry in _model_pairs(requested):
        if label in known and known[label] != entry:
            raise mismatch(workdir, f"models[{label!r}] is {known[label]} there, {entry} here")
    new = [[label, entry] for label, entry in _model_pairs(requested) if label not in known]
    return recorded if not new else pairs + new


def _hparam_values(payload: Mapping, method: str, defaults: Mapping[str, float]) -> dict[str, list]:
    """Each hyper-parameter of ``method`` and the values ``payload`` runs it with (its grid, or the default)."""
    if method not in _as_list(payload.get("methods", [])):
        return {}
    grid = payload.get("hparams", {}).get(method, {})
    return {name: _as_list(grid.get(name, default)) for name, default in defaults.items()}


def _hparams_union(recorded: dict, requested: dict, defaults: Mapping[str, Mapping[str, float]]) -> dict:
    """``recorded``'s hyper-parameter grids, each extended by the values ``requested`` adds."""
    merged = json.loads(json.dumps(recorded.get("hparams", {})))
    for method, method_defaults in defaults.items():
        before = _hparam_values(recorded, method, method_defaults)
        after = _hparam_values(requested, method, method_defaults)
        if not before:
            if method in requested.get("hparams", {}):
                merged[method] = requested["hparams"][method]
            continue
        for name, values in after.items():
            if any(value not in before[name] for value in values):
                merged.setdefault(method, {})[name] = _union(before[name], values)
    return merged


def merge_configs(workdir: Path, recorded: Mapping, requested: Mapping,
                  hparam_defaults: Mapping[str, Mapping[str, float]]) -> dict:
    """The config whose grid holds every run of ``recorded`` (``workdir``'s ``config.json``) and of
    ``requested``, axis by axis: the union of each of :data:`GROWABLE_KEYS` (seeds, data seeds, rhos,
    mus, learning rates, profiles, methods, each method's hyper-parameter values, architectures), the
    execution keys of ``requested``, every other key as both have it.

    ``hparam_defaults``: ``{method: {hyper-parameter: default}}`` of the requested config's methods (a
    method run with its default runs that value). Raises :class:`ConfigMismatchError` naming what
    differs when a key outside these would define stored runs differently (``num_steps``, ``datasets``,
    ``dataset_kwargs``, ``model``, ``weight_decays``, ...), when data seeds or ``config.models`` are
    used by one config only (they are part of every run's id), or when one architecture label names
    two models.
    """
    recorded, requested = plain(recorded), plain(requested)
    keys = sorted((set(recorded) | set(requested)) - {*EXECUTION_KEYS, *GROWABLE_KEYS})
    differing = [key for key in keys if recorded.get(key) != requested.get(key)]
    differing += [key for key in ("data_seeds", "models")
                  if (recorded.get(key) is None) != (requested.get(key) is None)]
    if differing:
        shown = "; ".join(f"{key}: {recorded.get(key)!r} there, {requested.get(key)!r} here" for key in differing)
        raise mismatch(workdir, shown if len(shown) <= 160 else f"differs in {differing}")
    merged = {**recorded, **{key: requested[key] for key in EXECUTION_KEYS if key in requested}}
    for key in ("seeds", "data_seeds"):
        if recorded.get(key) is not None:
            merged[key] = _seed_union(key, recorded[key], requested[key])
    for key in ("rhos", "mus", "learning_rates", "profiles", "methods"):
        union = _union(_as_list(recorded[key]), _as_list(requested[key]))
        merged[key] = recorded[key] if union == _as_list(recorded[key]) else union
    if "models" in recorded:
        merged["models"] = _models_union(workdir, recorded["models"], requested["models"])
    merged["hparams"] = _hparams_union(recorded, requested, hparam_defaults)
    return merged


def record_config(workdir: Path, merged: Mapping) -> None:
    """Write ``merged`` to ``config.json`` unless it holds the same config but for :data:`EXECUTION_KEYS`."""
    path = Path(workdir) / CONFIG_FILE
    merged = plain(merged)
    if path.exists():
        try:
            current = json.loads(path.read_text())
        except json.JSONDecodeError:
            current = None
        if current is not None and _without_execution(current) == _without_execution(merged):
            return
    atomic_write_json(path, merged)


def _without_execution(payload: Mapping) -> dict:
    return {key: value for key, value in payload.items() if key not in EXECUTION_KEYS}


def fork_workdir(workdir: Path, accepts: Callable[[Path], bool]) -> Path:
    """The first of ``workdir-2``, ``workdir-3``, ... that does not exist yet or that ``accepts`` (a
    directory holding a compatible config, or no finished run): a killed fork resumes in place."""
    index = 2
    while (candidate := workdir.with_name(f"{workdir.name}-{index}")).exists() and not (
            candidate.is_dir() and accepts(candidate)):
        index += 1
    return candidate
