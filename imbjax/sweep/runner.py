"""Run a sweep: every group as one compiled program with the run axis sharded over all devices.

A group's runs are stacked on a leading *run axis* (seed keys and hyper-parameter arrays),
padded to a multiple of the device count (and of ``max_parallel`` chunks), sharded with a
``NamedSharding`` over a 1-D mesh of every device JAX sees, and the padding is dropped from the
results. Finished groups are skipped on a re-run of the same work directory.

How each device trains its share of the runs, the *layout*:

* ``"vmap"``: ``jit(vmap(run))``, all its runs of a part batched into one program;
* ``"single"``: the unbatched program (``shard_map``), one run per device per call; the runs go
  through successive calls of that one compiled program (parts as wide as the device count).
  Vmapped convolutions become grouped convolutions, which XLA:CPU runs slowly, and ``lax.map``
  over a device's runs compiled and ran slower still (docs/performance.md), so
* ``"auto"`` (default) is ``"single"`` for convolutional models on CPU, else ``"vmap"``.

The layout is an execution choice (``imbjax run --layout``), not part of the config: it computes
the same runs, and a work directory can be resumed with another layout; ``meta.json`` records each
group's. Floating-point rounding differs between the layouts (grouped against plain
convolutions), which long training of deep networks can amplify (docs/performance.md).

With several processes (``imbjax run --coordinator ...``), the mesh spans every process's
devices, each process computes its share of every group's runs, outputs are all-gathered, and
process 0 alone writes results; the work directory must be on a file system all processes see.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

import jax
import ml_collections
import numpy as np
import pandas as pd
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from imbjax import data as datasets
from imbjax.models import CONVOLUTIONAL_MODELS
from imbjax.run_axis import RUN_AXIS, pad_runs, padded_size
from imbjax.runtime import is_writer
from imbjax.sweep import grid, program_cache, store
from imbjax.sweep.checkpoint import CHECKPOINT_DIR, PartCheckpoints, abstract
from imbjax.train import DeviceData, ProgramSpec, make_program, program_spec, run_program


@dataclasses.dataclass
class GroupTiming:
    group_id: str
    runs: int
    compile_seconds: float
    run_seconds: float
    layout: str


def run_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, axis name ``"runs"``.

    The axis is ``Auto`` (sharding propagated by the compiler): runs are independent, so XLA
    partitions every op along the run axis without collectives.
    """
    return jax.make_mesh((jax.device_count(),), (RUN_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


LAYOUTS = ("auto", "vmap", "single")


def check_layout(layout: str) -> None:
    """Raise a ``ValueError`` naming ``layout`` and the valid choices if it is not one of :data:`LAYOUTS`."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {list(LAYOUTS)}")


def resolve_layout(layout: str, model: str, device_platform: str) -> str:
    """The layout ``"auto"`` stands for: ``"single"`` for a convolutional ``model`` on ``"cpu"``,
    else ``"vmap"``; an explicit ``"vmap"`` or ``"single"`` is kept."""
    check_layout(layout)
    if layout != "auto":
        return layout
    return "single" if device_platform == "cpu" and model in CONVOLUTIONAL_MODELS else "vmap"


def mesh_layout(layout: str, model: str, mesh: Mesh) -> str:
    """:func:`resolve_layout` for the platform of ``mesh``'s devices."""
    return resolve_layout(layout, model, mesh.devices.flat[0].platform)


def over_runs(function: Callable, mesh: Mesh, layout: str) -> Callable:
    """``jit`` of ``function(data, per_run, hparams)`` over a run axis sharded on ``mesh``: ``per_run``
    and ``hparams`` carry the run axis, ``data`` is shared. ``layout="vmap"`` batches any number of
    runs; ``"single"`` takes exactly one run per device."""
    runs = PartitionSpec(RUN_AXIS)
    if layout == "vmap":
        return jax.jit(jax.vmap(function, in_axes=(None, 0, 0)), out_shardings=NamedSharding(mesh, runs))

    def the_devices_run(data, per_run, hparams):
        first = functools.partial(jax.tree.map, lambda leaf: leaf[0])
        return jax.tree.map(lambda leaf: leaf[None], function(data, first(per_run), first(hparams)))

    return jax.jit(jax.shard_map(the_devices_run, mesh=mesh, in_specs=(PartitionSpec(), runs, runs),
                                 out_specs=runs, check_vma=False))


# Share of device memory a group's training state may take; the rest is left for activations,
# gradients, the data and XLA's temporaries.
MEMORY_FRACTION = 0.25


def device_memory_bytes(device) -> int:
    """Memory of one (addressable) device: the accelerator's limit, or the host's RAM split over
    the local CPU devices."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return host // max(1, jax.local_device_count())


def auto_max_parallel(run_state_bytes: int, mesh: Mesh) -> int:
    """The most runs trained at once so that their states fill at most :data:`MEMORY_FRACTION`
    of device memory (training state x 3 for gradients and temporaries)."""
    per_device = int(MEMORY_FRACTION * device_memory_bytes(jax.local_devices()[0]) // (3 * max(run_state_bytes, 1)))
    return max(1, per_device) * mesh.size


def runs_at_once(num_runs: int, layout: str, max_parallel: int, run_state_bytes: int, mesh: Mesh) -> int:
    """How many runs of a group train in one call: one per device with ``layout="single"``, else
    ``max_parallel`` (0: :func:`auto_max_parallel`), as a multiple of the device count."""
    if layout == "single":
        max_parallel = mesh.size
    elif max_parallel <= 0:
        max_parallel = auto_max_parallel(run_state_bytes, mesh)
    return padded_size(num_runs, mesh.size, max_parallel)[0]


def gather(tree):
    """Fetch run-sharded outputs to host NumPy on every process (all-gather across hosts)."""
    if jax.process_count() > 1:
        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


class _Compiled:
    """Programs compiled on first use, keyed by name, with the seconds compilation took.

    ``saved=True`` compiles through :mod:`.program_cache` (a warm start skips tracing): for the
    whole-run program, whose inputs and outputs are plain arrays and dicts.
    """

    def __init__(self, spec: ProgramSpec, layout: str, out_shardings):
        self.saved_program = functools.partial(program_cache.compile_program, spec=spec, layout=layout,
                                               out_shardings=out_shardings)
        self.programs: dict = {}
        self.seconds = 0.0

    def __call__(self, key, function, *args, saved: bool = False):
        if key not in self.programs:
            start = time.perf_counter()
            self.programs[key] = (self.saved_program(function, args, name=str(key)) if saved
                                  else function.lower(*args).compile())
            self.seconds += time.perf_counter() - start
        return self.programs[key](*args)


def train_group(spec: ProgramSpec, data: DeviceData, runs: tuple[grid.Run, ...], *, mesh: Mesh,
                max_parallel: int = 0, checkpoint_every: int = 0, workdir: Path | None = None,
                group_id: str = "", layout: str = "auto",
                report: Callable[[str, dict], None] = lambda event, info: None,
                ) -> tuple[dict[str, np.ndarray], float, float]:
    """Train every run of a group; returns ``(metric columns, compile seconds, run seconds)``.

    ``layout``: how each device trains its runs, see the module docstring and :func:`resolve_layout`.

    Runs train in parts of at most ``max_parallel`` (0: as many as fit in
    :data:`MEMORY_FRACTION` of device memory, see :func:`auto_max_parallel`; the ``"single"``
    layout uses parts of one run per device). Without
    checkpoints a part is one compiled program. With
    ``checkpoint_every = K`` the program is split into ``init``, ``advance(K)`` and ``evaluate``,
    and the stacked training state is saved after every K steps (see :mod:`.checkpoint`).
    """
    hparams = grid.stack_hparams(runs, spec.hparam_defaults())
    keys = np.stack([np.asarray(jax.random.PRNGKey(run.seed)) for run in runs])
    layout = mesh_layout(layout, spec.model, mesh)
    run_state_bytes = state_bytes(spec, data) if layout == "vmap" and max_parallel <= 0 else 0
    width = runs_at_once(len(runs), layout, max_parallel, run_state_bytes, mesh)
    num_parts = -(-len(runs) // width)
    hparams = {k: pad_runs(v, width * num_parts) for k, v in hparams.items()}
    keys = pad_runs(keys, width * num_parts)
    sharded = NamedSharding(mesh, PartitionSpec(RUN_AXIS))

    def part_inputs(i):
        part = slice(i * width, (i + 1) * width)
        return jax.device_put((keys[part], {k: v[part] for k, v in hparams.items()}), sharded)

    program = make_program(spec)
    compiled = _Compiled(spec, layout, sharded)
    compiled_over_runs = functools.partial(over_runs, mesh=mesh, layout=layout)

    def train_part(i, part_keys, part_hparams):
        """The part's outputs: one whole-run program, or init / advance(K)... / evaluate with checkpoints."""
        if checkpoint_every <= 0:
            whole = compiled_over_runs(functools.partial(run_program, program, spec))
            return compiled("run", whole, data, part_keys, part_hparams, saved=True)
        state = compiled("init", compiled_over_runs(program.init), data, part_keys, part_hparams)
        checkpoints = PartCheckpoints(workdir, group_id, i)
        done, restored = checkpoints.restore(abstract(state))
        state = state if restored is None else restored
        while done < spec.num_steps:
            steps = min(checkpoint_every, spec.num_steps - done)
            advance = compiled_over_runs(lambda d, s, h, n=steps: program.advance(d, s, h, n))
            state = compiled(("advance", steps), advance, data, state, part_hparams)
            done += steps
            checkpoints.save(done, state)
            report("chunk_done", {"part": i, "parts": num_parts, "steps_done": done, "steps": spec.num_steps})
        return compiled("evaluate", compiled_over_runs(program.evaluate), data, state, part_hparams)

    outputs, start = [], time.perf_counter()
    for i in range(num_parts):
        outputs.append(gather(train_part(i, *part_inputs(i))))
        report("part_done", {"part": i, "parts": num_parts, "runs_done": min((i + 1) * width, len(runs))})
    run_seconds = time.perf_counter() - start - compiled.seconds
    return _merge(outputs, len(runs)), compiled.seconds, run_seconds


def discard_checkpoints(workdir: Path, group_id: str) -> None:
    """Remove a group's checkpoints once its results are stored."""
    shutil.rmtree(Path(workdir) / CHECKPOINT_DIR / group_id, ignore_errors=True)


def _merge(outputs: list[dict], num_runs: int) -> dict[str, np.ndarray]:
    """Concatenate the parts' outputs, drop the padding runs, and flatten metric arrays
    ``[runs]`` / ``[runs, C]`` to columns ``name`` / ``name_<c>``."""
    columns = {}
    for name in outputs[0]:
        values = np.concatenate([o[name] for o in outputs])[:num_runs]
        if values.ndim == 1:
            columns[name] = values
        else:
            for index in range(values.shape[1]):
                columns[f"{name}_{index}"] = values[:, index]
    return columns


def state_bytes(spec: ProgramSpec, data: DeviceData) -> int:
    """Bytes of one run's training state (parameters, optimizer state, weights, method state)."""
    program = make_program(spec)
    hparams = {k: jax.ShapeDtypeStruct((), np.asarray(v).dtype)
               for k, v in grid.stack_hparams((), spec.hparam_defaults()).items()}
    shapes = jax.eval_shape(program.init, data, jax.ShapeDtypeStruct((2,), np.uint32), hparams)
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(shapes))


def _load_once(loaded: dict, group: grid.Group) -> datasets.Dataset:
    """The group's dataset, loaded on first use and kept in ``loaded``."""
    key = json.dumps([group.dataset, group.dataset_kwargs], sort_keys=True)
    if key not in loaded:
        loaded[key] = datasets.load(group.dataset, **group.dataset_kwargs)
    return loaded[key]


@dataclasses.dataclass(frozen=True)
class GroupPlan:
    """What the dry run shows of a group: data and one run's state in bytes, the layout, and how
    many runs train at once (a multiple of the device count, padding included)."""

    data_bytes: int
    run_state_bytes: int
    layout: str
    width: int

    @property
    def memory_estimate_bytes(self) -> int:
        """Data + width x state x 3 (state, gradients and temporaries of the same size)."""
        return self.data_bytes + 3 * self.width * self.run_state_bytes


def sweep_plan(config: ml_collections.ConfigDict, groups: list[grid.Group], *, layout: str = "auto"
               ) -> dict[str, GroupPlan]:
    """``{group id: GroupPlan}`` without training (loads the data, traces nothing but shapes)."""
    mesh, plan, loaded = run_mesh(), {}, {}
    for group in groups:
        dataset = _load_once(loaded, group)
        data = DeviceData.from_dataset(dataset)
        spec = program_spec(config, dataset, profile=group.profile, method_names=group.methods, model=group.model)
        group_layout = mesh_layout(layout, spec.model, mesh)
        run_state_bytes = state_bytes(spec, data)
        width = runs_at_once(len(group.runs), group_layout, config.max_parallel, run_state_bytes, mesh)
        plan[group.group_id] = GroupPlan(sum(a.nbytes for a in data), run_state_bytes, group_layout, width)
    return plan


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


def run_sweep(config: ml_collections.ConfigDict, workdir: str | Path, *, report: Reporter | None = None,
              layout: str = "auto") -> pd.DataFrame:
    """Run every group of ``config`` not yet finished in ``workdir``; return the full run table.

    ``layout``: how each device trains its runs (see the module docstring).

    ``report(event, info)`` is called for progress displays with ``"group_start"``, ``"part_done"``
    (a group's runs done so far, after each part), ``"chunk_done"`` (steps, with checkpoints),
    ``"group_done"`` and ``"group_skipped"``; ``info`` holds the group's index, id and runs, and the
    sweep's ``total_runs``.
    """
    report = report or (lambda event, info: None)
    check_layout(layout)
    workdir = Path(workdir)
    groups = grid.expand(config)
    loaded: dict[str, datasets.Dataset] = {}
    # Every group's static program is resolved (data loaded, n_max and method settings checked)
    # before the work directory is claimed or anything trains: a bad setting fails in one line.
    specs = {group.group_id: program_spec(config, _load_once(loaded, group), profile=group.profile,
                                          method_names=group.methods, model=group.model) for group in groups}
    if is_writer():
        store.claim_workdir(workdir, config_payload(config))
    mesh = run_mesh()
    frames, timings = [], []
    total_runs = sum(len(group.runs) for group in groups)
    sweep_start = time.perf_counter()
    for index, group in enumerate(groups):
        run_ids = [run.run_id for run in group.runs]
        info = {"index": index, "groups": len(groups), "group": group.group_id, "runs": len(run_ids),
                "total_runs": total_runs}
        finished = store.read_group(workdir, group.group_id, run_ids)
        if finished is not None:
            frames.append(finished)
            report("group_skipped", info)
            continue
        report("group_start", info)
        spec = specs[group.group_id]
        device_data = jax.device_put(DeviceData.from_dataset(_load_once(loaded, group)),
                                     NamedSharding(mesh, PartitionSpec()))
        group_layout = mesh_layout(layout, spec.model, mesh)
        columns, compile_seconds, run_seconds = train_group(
            spec, device_data, group.runs, mesh=mesh, max_parallel=config.max_parallel,
            checkpoint_every=config.checkpoint_every, workdir=workdir, group_id=group.group_id, layout=group_layout,
            report=lambda event, extra: report(event, {**info, **extra}))
        frame = pd.concat([pd.DataFrame({"run_id": run_ids, "group": group.group_id}),
                           pd.DataFrame([run.columns for run in group.runs]),
                           pd.DataFrame(columns)], axis=1)
        if is_writer():
            store.write_group(workdir, group.group_id, frame)
            discard_checkpoints(workdir, group.group_id)
        frames.append(frame)
        timings.append(GroupTiming(group.group_id, len(run_ids), compile_seconds, run_seconds, group_layout))
        report("group_done", {**info, "compile_seconds": compile_seconds, "run_seconds": run_seconds})
    if not is_writer():
        return pd.concat(frames, ignore_index=True)
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
