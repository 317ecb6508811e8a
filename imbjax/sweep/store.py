"""The results store of a work directory, safe against a kill at any moment.

Layout of a work directory::

    config.json         the sweep's config; a different config in the same directory is refused
    groups/<id>.csv     the rows of one finished group, written atomically (write, then rename)
    runs.csv            all finished rows, one per run, rebuilt atomically after every group
    meta.json           versions, devices, per-group compile and run seconds

Every run has a stable id (a hash of its full config), so re-running never duplicates a row.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

CONFIG_FILE = "config.json"
RUNS_FILE = "runs.csv"
META_FILE = "meta.json"
GROUPS_DIR = "groups"


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
    """The work directory holds results of a different config."""


def claim_workdir(workdir: Path, config_payload: dict) -> None:
    """Record ``config_payload`` in ``workdir``, or check it equals the one already there.

    Raises :class:`ConfigMismatchError` naming the differing keys if the directory belongs to
    another config, so that existing results are never mixed with or overwritten by new ones.
    """
    path = workdir / CONFIG_FILE
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigMismatchError(f"{path} is not valid JSON ({err}); move it away or use another --workdir") from None
        normalised = json.loads(json.dumps(config_payload, sort_keys=True, default=str))
        if existing != normalised:
            keys = sorted(k for k in set(existing) | set(normalised) if existing.get(k) != normalised.get(k))
            raise ConfigMismatchError(
                f"work directory {str(workdir)!r} holds results of a different config (differs in {keys}); "
                f"use another --workdir, or --fork to write to a new directory beside it")
        return
    atomic_write_json(path, config_payload)


def fork_workdir(workdir: Path) -> Path:
    """The first of ``workdir-2``, ``workdir-3``, ... that does not exist yet."""
    index = 2
    while (candidate := workdir.with_name(f"{workdir.name}-{index}")).exists():
        index += 1
    return candidate


def group_path(workdir: Path, group_id: str) -> Path:
    return workdir / GROUPS_DIR / f"{group_id}.csv"


def read_group(workdir: Path, group_id: str, run_ids: list[str]) -> pd.DataFrame | None:
    """The stored rows of a group if it finished with exactly ``run_ids``; ``None`` otherwise.

    A group file whose run ids differ from the expected ones (hand-edited, or from another
    version) raises a ``ValueError`` rather than being silently trusted or replaced.
    """
    path = group_path(workdir, group_id)
    if not path.exists():
        return None
    frame = pd.read_csv(path)
    if "run_id" not in frame or sorted(frame["run_id"].astype(str)) != sorted(run_ids):
        raise ValueError(
            f"{path} does not hold exactly the runs of group {group_id!r}; it was edited or is from another "
            f"sweep. Move it away to recompute the group.")
    return frame


def write_group(workdir: Path, group_id: str, frame: pd.DataFrame) -> None:
    atomic_write_text(group_path(workdir, group_id), frame.to_csv(index=False))


def write_runs(workdir: Path, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Rebuild ``runs.csv`` from the finished groups' rows (config columns first); returns the
    table as read back from the file, so fresh and resumed sweeps return identical tables."""
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not table.empty and table["run_id"].duplicated().any():
        duplicated = table.loc[table["run_id"].duplicated(), "run_id"].iloc[0]
        raise ValueError(f"run {duplicated!r} appears in two groups; the work directory is inconsistent")
    atomic_write_text(workdir / RUNS_FILE, table.to_csv(index=False))
    return pd.read_csv(workdir / RUNS_FILE).copy()  # .copy() consolidates the wide frame's blocks
