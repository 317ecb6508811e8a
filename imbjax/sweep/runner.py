"""Run a sweep: every group as one ``jit(vmap(run))`` with the run axis sharded over all devices.

A group's runs are stacked on a leading *run axis* (seed keys and hyper-parameter arrays),
padded to a multiple of the device count (and of ``max_parallel`` chunks), sharded with a
``NamedSharding`` over a 1-D mesh of every device JAX sees, and the padding is dropped from the
results. Finished groups are skipped on a re-run of the same work directory.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

import jax
import ml_collections
import numpy as np
import pandas as pd
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from imbjax import data as datasets
from imbjax.sweep import grid, store
from imbjax.train import DeviceData, ProgramSpec, make_program, program_spec, run_program

RUN_AXIS = "runs"


@dataclasses.dataclass
class GroupTiming:
    group_id: str
    runs: int
    compile_seconds: float
    run_seconds: float


def run_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, axis name ``"runs"``."""
    return jax.make_mesh((jax.device_count(),), (RUN_AXIS,))


def padded_size(runs: int, devices: int, max_parallel: int = 0) -> tuple[int, int]:
    """``(chunk_width, num_chunks)``: chunks of equal width, a multiple of ``devices``, covering ``runs``."""
    width = runs if max_parallel <= 0 else min(runs, max_parallel)
    width = -(-width // devices) * devices
    return width, -(-runs // width)


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    """Pad the leading axis to ``size`` by repeating the first entry (padding runs are real runs,
    so they cannot produce NaN or slow paths; their results are dropped)."""
    extra = size - array.shape[0]
    return np.concatenate([array, np.repeat(array[:1], extra, axis=0)]) if extra else array


def compile_group(spec: ProgramSpec, mesh: Mesh, data: DeviceData, keys, hparams):
    """Lower and compile the group's sharded, vmapped run; returns ``(compiled, seconds)``."""
    program = make_program(spec)
    sharded = NamedSharding(mesh, PartitionSpec(RUN_AXIS))
    replicated = NamedSharding(mesh, PartitionSpec())
    vmapped = jax.vmap(functools.partial(run_program, program, spec), in_axes=(None, 0, 0))
    function = jax.jit(vmapped, in_shardings=(replicated, sharded, sharded), out_shardings=sharded)
    start = time.perf_counter()
    compiled = function.lower(data, keys, hparams).compile()
    return compiled, time.perf_counter() - start


def results_to_rows(results: dict[str, np.ndarray], num_runs: int) -> dict[str, np.ndarray]:
    """Flatten metric arrays ``[runs]`` / ``[runs, C]`` to columns (``name`` / ``name_<c>``)."""
    columns = {}
    for name, values in results.items():
        values = np.asarray(values)[:num_runs]
        if values.ndim == 1:
            columns[name] = values
        else:
            for index in range(values.shape[1]):
                columns[f"{name}_{index}"] = values[:, index]
    return columns


def train_group(spec: ProgramSpec, data: DeviceData, runs: tuple[grid.Run, ...], *, mesh: Mesh,
                max_parallel: int = 0) -> tuple[dict[str, np.ndarray], float, float]:
    """Train every run of a group; returns ``(metric columns, compile seconds, run seconds)``."""
    hparams = grid.stack_hparams(runs, spec.hparam_defaults())
    keys = np.stack([np.asarray(jax.random.PRNGKey(run.seed)) for run in runs])
    width, num_chunks = padded_size(len(runs), mesh.size, max_parallel)
    hparams = {k: _pad(v, width * num_chunks) for k, v in hparams.items()}
    keys = _pad(keys, width * num_chunks)

    def chunk(i):
        part = slice(i * width, (i + 1) * width)
        return keys[part], {k: v[part] for k, v in hparams.items()}

    compiled, compile_seconds = compile_group(spec, mesh, data, *chunk(0))
    start = time.perf_counter()
    outputs = [jax.device_get(compiled(data, *chunk(i))) for i in range(num_chunks)]
    run_seconds = time.perf_counter() - start
    merged = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    return results_to_rows(merged, len(runs)), compile_seconds, run_seconds


def package_versions() -> dict[str, str]:
    names = ["imbjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scikit-learn",
             "pandas", "scipy", "ml_collections", "tensorflow-datasets"]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_info() -> dict:
    return {"backend": jax.default_backend(), "device_count": jax.device_count(),
            "local_device_count": jax.local_device_count(), "process_count": jax.process_count(),
            "devices": [str(d) for d in jax.devices()]}


def config_payload(config: ml_collections.ConfigDict) -> dict:
    """The config as plain JSON data (what ``config.json`` records)."""
    return json.loads(config.to_json_best_effort(sort_keys=True))


Reporter = Callable[[str, dict], None]


def run_sweep(config: ml_collections.ConfigDict, workdir: str | Path, *, report: Reporter | None = None) -> pd.DataFrame:
    """Run every group of ``config`` not yet finished in ``workdir``; return the full run table.

    ``report(event, info)`` is called with ``"group_start"``, ``"group_compiled"``,
    ``"group_done"`` and ``"group_skipped"`` events for progress displays.
    """
    report = report or (lambda event, info: None)
    workdir = Path(workdir)
    groups = grid.expand(config)
    store.claim_workdir(workdir, config_payload(config))
    mesh = run_mesh()
    loaded: dict[str, datasets.Dataset] = {}
    frames, timings = [], []
    sweep_start = time.perf_counter()
    for index, group in enumerate(groups):
        run_ids = [run.run_id for run in group.runs]
        info = {"index": index, "groups": len(groups), "group": group.group_id, "runs": len(run_ids)}
        finished = store.read_group(workdir, group.group_id, run_ids)
        if finished is not None:
            frames.append(finished)
            report("group_skipped", info)
            continue
        report("group_start", info)
        cache_key = json.dumps([group.dataset, group.dataset_kwargs], sort_keys=True)
        if cache_key not in loaded:
            loaded[cache_key] = datasets.load(group.dataset, **group.dataset_kwargs)
        dataset = loaded[cache_key]
        spec = program_spec(config, dataset, profile=group.profile, method_names=group.methods)
        device_data = jax.device_put(DeviceData.from_dataset(dataset), NamedSharding(mesh, PartitionSpec()))
        columns, compile_seconds, run_seconds = train_group(
            spec, device_data, group.runs, mesh=mesh, max_parallel=config.max_parallel)
        frame = pd.concat([pd.DataFrame({"run_id": run_ids, "group": group.group_id}),
                           pd.DataFrame([run.columns for run in group.runs]),
                           pd.DataFrame(columns)], axis=1)
        store.write_group(workdir, group.group_id, frame)
        frames.append(frame)
        timings.append(GroupTiming(group.group_id, len(run_ids), compile_seconds, run_seconds))
        report("group_done", {**info, "compile_seconds": compile_seconds, "run_seconds": run_seconds})
    table = store.write_runs(workdir, frames)
    _write_meta(workdir, config, timings, time.perf_counter() - sweep_start)
    return table


def _write_meta(workdir: Path, config, timings: list[GroupTiming], seconds: float) -> None:
    path = workdir / store.META_FILE
    previous = json.loads(path.read_text()) if path.exists() else {}
    groups = {**previous.get("groups", {}), **{t.group_id: dataclasses.asdict(t) for t in timings}}
    meta = {
        "config": config_payload(config),
        "versions": package_versions(),
        "devices": device_info(),
        "groups": groups,
        "compile_seconds": sum(g["compile_seconds"] for g in groups.values()),
        "run_seconds": sum(g["run_seconds"] for g in groups.values()),
        "last_invocation_seconds": seconds,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    store.atomic_write_json(path, meta)
