"""Run a sweep: every group as one compiled program with the run axis sharded over all devices.

A group's runs are stacked on a leading *run axis* (seed keys and hyper-parameter arrays),
padded to a multiple of the device count (and of ``max_parallel`` chunks), sharded with a
``NamedSharding`` over a 1-D mesh of every device JAX sees, and the padding is dropped from the
results. A sweep trains only the runs not stored in its work directory yet (:func:`prepare_sweep`
resolves what to train, and refuses what cannot run, before anything is written).

How each device trains its share of the runs, the *layout*:

* ``"vmap"``: ``jit(vmap(run))``, all its runs of a part batched into one program;
* ``"single"``: the unbatched program (``shard_map``), one run per device per call; the runs go
  through successive calls of that one compiled program (parts as wide as the device count).
  Vmapped convolutions become grouped convolutions, which XLA:CPU runs slowly, and ``lax.map``
  over a device's runs compiled and ran slower still (docs/performance.md), so
* ``"auto"`` (default) is ``"single"`` for convolutional models on CPU, else ``"vmap"``.

How many runs train at once (the *width* of a part, shown by ``imbjax run --dry-run``): ``config.max_parallel``,
or, at its default 0, what fits in a quarter of device memory and, on CPU devices, in the last-level cache
the local devices share (:func:`runs_at_once`); wider parts train fewer runs per second on a CPU. A run's
results do not depend on its part's width beyond float32 rounding (the quickstart's 200 runs in parts of
34 against one part of 200: every balanced accuracy equal, other metrics within 2e-7).

The layout is an execution choice (``imbjax run --layout``), not part of the config: it computes
the same runs, and a work directory can be resumed with another layout; ``meta.json`` records each
group's. Floating-point rounding differs between the layouts (grouped against plain
convolutions), which long training of deep networks can amplify (docs/performance.md).

With several processes (``imbjax run --coordinator ...``), the mesh spans every process's
devices, each process computes its share of every group's runs, outputs are all-gathered, and
process 0 alone writes results; the work directory must be on a file system all processes see.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import glob
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
from imbjax import imbalance, models
from imbjax import methods as method_registry
from imbjax.config import base_config, model_choices, program_spec
from imbjax.engine.program import DeviceData, ProgramSpec, run_outputs, scored
from imbjax.metrics import suite
from imbjax.models import CONVOLUTIONAL_MODELS
from imbjax.run_axis import RUN_AXIS, pad_runs, padded_size
from imbjax.runtime import is_writer
from imbjax.sweep import contracts, grid, program_cache, store
from imbjax.sweep.checkpoint import CHECKPOINT_DIR, PartCheckpoints, abstract


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


def runs_fitting(budget_per_device: float, bytes_per_run: int, mesh: Mesh) -> int:
    """The most runs trained at once, over ``mesh``, when each device holds ``budget_per_device`` bytes of
    runs of ``bytes_per_run`` each; at least one run per device."""
    return max(1, int(budget_per_device // max(bytes_per_run, 1))) * mesh.size


def auto_max_parallel(run_state_bytes: int, mesh: Mesh) -> int:
    """The most runs trained at once so that their states fill at most :data:`MEMORY_FRACTION`
    of device memory (training state x 3 for gradients and temporaries)."""
    return runs_fitting(MEMORY_FRACTION * device_memory_bytes(jax.local_devices()[0]), 3 * run_state_bytes, mesh)


#: Last-level cache assumed where the operating system does not report one (bytes).
DEFAULT_CACHE_BYTES = 32 * 2**20
_CACHE_SIZE_FILES = "/sys/devices/system/cpu/cpu0/cache/index*/size"
_CACHE_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


def last_level_cache_bytes() -> int:
    """The largest CPU cache the operating system reports (Linux sysfs: ``32768K``), else
    :data:`DEFAULT_CACHE_BYTES`."""
    sizes = []
    for path in glob.glob(_CACHE_SIZE_FILES):
        text = Path(path).read_text().strip().upper()
        number, unit = (text[:-1], _CACHE_UNITS[text[-1]]) if text[-1:] in _CACHE_UNITS else (text, 1)
        if number.isdigit():
            sizes.append(int(number) * unit)
    return max(sizes, default=DEFAULT_CACHE_BYTES)


#: A run's working set in a training step, in units of its state: the state, its gradients, the optimizer's
#: temporaries and the activations (fitted: on the 2-core machine the MLP workload trains fastest at 10
#: runs per device, ``scripts/bench_scaling.py``).
WORKING_SET_FACTOR = 6
#: The most of the last-level cache one CPU device's runs count on. A virtual machine reports its host
#: socket's cache, which other tenants' cores share: a 2-core VM reporting 480 MiB trained the MLP workload at
#: 37 runs/s in parts of 16-40 runs and at 28-29 in parts of 160-250 (``scripts/bench_scaling.py``), as the
#: machine reporting 32 MiB did beyond parts of 16; 16 MiB a device picks parts of 16 on both.
MAX_CACHE_BYTES_PER_DEVICE = 16 * 2**20


def cache_max_parallel(run_state_bytes: int, mesh: Mesh, cache_bytes: int | None = None) -> int:
    """On CPU devices, the most runs trained at once so that the working sets of all of them
    (:data:`WORKING_SET_FACTOR` x the state) fit in each local CPU device's share of the last-level cache
    they share, at most :data:`MAX_CACHE_BYTES_PER_DEVICE`; at least one run per device. A vmapped CPU sweep
    wider than its cache streams every run's state from memory at every step, and its runs/s fall
    (``results/scaling/``: the MLP workload at widths 10-40 against 200-1,000)."""
    cache_bytes = last_level_cache_bytes() if cache_bytes is None else cache_bytes
    per_device = min(cache_bytes / max(1, jax.local_device_count()), MAX_CACHE_BYTES_PER_DEVICE)
    return runs_fitting(per_device, WORKING_SET_FACTOR * run_state_bytes, mesh)


def runs_at_once(num_runs: int, layout: str, max_parallel: int, run_state_bytes: int, mesh: Mesh) -> int:
    """How many runs of a group train in one call: one per device with ``layout="single"``, else
    ``max_parallel``; 0 picks the width itself: what fits in :data:`MEMORY_FRACTION` of device memory
    (:func:`auto_max_parallel`) and, on CPU devices, in their shared cache (:func:`cache_max_parallel`).
    A multiple of the device count."""
    if layout == "single":
        max_parallel = mesh.size
    elif max_parallel <= 0:
        max_parallel = auto_max_parallel(run_state_bytes, mesh)
        if mesh.devices.flat[0].platform == "cpu":
            max_parallel = min(max_parallel, cache_max_parallel(run_state_bytes, mesh))
    return padded_size(num_runs, mesh.size, max_parallel)[0]


def gather(tree):
    """Fetch run-sharded outputs to host NumPy on every process (all-gather across hosts)."""
    if jax.process_count() > 1:
        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


#: The scoring programs of this process (:func:`imbjax.metrics.compute_all_runs`), by
#: :func:`program_cache.program_key`: one per test set, shared by every group that tests on it.
_SCORING_PROGRAMS: dict[str, jax.stages.Compiled] = {}


def scoring_program(program: jax.stages.Wrapped, args: tuple) -> jax.stages.Compiled:
    """``compute_all_runs``' jitted ``program`` compiled for ``args`` (its ``compile_program``), or loaded
    through :mod:`.program_cache`, once per test set in this process."""
    sharding = args[1].sharding
    platform = sharding.mesh.devices.flat[0].platform
    description = f"chunk={suite.default_chunk(platform)}"  # the runner scores at the default chunk
    key = program_cache.program_key("compute_all", description, args)
    if key not in _SCORING_PROGRAMS:
        _SCORING_PROGRAMS[key] = program_cache.compile_saved(
            program, args, name="compute_all", description=description, out_shardings=sharding,
            compiler_options=suite.COMPILER_OPTIONS.get(platform))
    return _SCORING_PROGRAMS[key]


class _Compiled:
    """Programs compiled on first use, keyed by name, with the seconds compilation took.

    ``saved=True`` compiles through :mod:`.program_cache` (a warm start skips tracing): for the
    whole-run program, whose inputs and outputs are plain arrays and dicts. :meth:`score` scores
    a part's outputs with the process's shared scoring program, counting its compile here.
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

    def scoring_program(self, program: jax.stages.Wrapped, args: tuple) -> jax.stages.Compiled:
        """:func:`scoring_program`, its compile counted here."""
        start = time.perf_counter()
        compiled = scoring_program(program, args)
        self.seconds += time.perf_counter() - start
        return compiled

    def score(self, outputs: dict[str, np.ndarray], y_test: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric of a stack of runs from their gathered ``evaluate`` outputs."""
        probs = outputs["test_probs"]
        return scored(outputs, suite.compute_all_runs(y_test, probs, num_classes=probs.shape[-1],
                                                      compile_program=self.scoring_program))


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

    program = method_registry.make_program(spec)
    compiled = _Compiled(spec, layout, sharded)
    compiled_over_runs = functools.partial(over_runs, mesh=mesh, layout=layout)

    def train_part(i, part_keys, part_hparams):
        """The part's outputs: one whole-run program, or init / advance(K)... / evaluate with checkpoints."""
        if checkpoint_every <= 0:
            whole = compiled_over_runs(functools.partial(run_outputs, program, spec))
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

    y_test = np.asarray(data.y_test.addressable_data(0))  # replicated: every process holds it
    # Parts' outputs wait until they fill a call of the scoring program (or the group ends), so narrow
    # parts (one run per device) are not each padded to a whole call.
    local_devices = tuple(jax.local_devices())
    scoring_call = suite.runs_per_call(local_devices, suite.default_chunk(local_devices[0].platform))
    outputs, unscored, start = [], [], time.perf_counter()
    running = train_part(0, *part_inputs(0))
    for i in range(num_parts):
        # The next part is dispatched before this one is gathered and scored, so the devices do not
        # wait for the host between parts.
        done, running = running, (train_part(i + 1, *part_inputs(i + 1)) if i + 1 < num_parts else None)
        part_runs = min(width, len(runs) - i * width)
        unscored.append({name: value[:part_runs] for name, value in gather(done).items()})
        if i == num_parts - 1 or sum(len(part["diverged"]) for part in unscored) >= scoring_call:
            outputs.append(compiled.score(_concatenate(unscored), y_test))
            unscored = []
        report("part_done", {"part": i, "parts": num_parts, "runs_done": min((i + 1) * width, len(runs))})
    run_seconds = time.perf_counter() - start - compiled.seconds
    return _merge(outputs), compiled.seconds, run_seconds


def discard_checkpoints(workdir: Path, group_id: str) -> None:
    """Remove a group's checkpoints once its results are stored, and the checkpoint folder once empty."""
    folder = Path(workdir) / CHECKPOINT_DIR
    shutil.rmtree(folder / group_id, ignore_errors=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The parts' arrays joined along the run axis."""
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _merge(outputs: list[dict]) -> dict[str, np.ndarray]:
    """Concatenate the parts' results and flatten metric arrays ``[runs]`` / ``[runs, C]`` to columns
    ``name`` / ``name_<c>``."""
    columns = {}
    for name, values in _concatenate(outputs).items():
        if values.ndim == 1:
            columns[name] = values
        else:
            for index in range(values.shape[1]):
                columns[f"{name}_{index}"] = values[:, index]
    return columns


def state_bytes(spec: ProgramSpec, data: DeviceData) -> int:
    """Bytes of one run's training state (parameters, optimizer state, weights, method state)."""
    program = method_registry.make_program(spec)
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


#: Where the compile and per-step times of this machine's groups are kept (beside JAX's compilation
#: cache), for the dry run's runtime estimate.
TIMINGS_FILE = "imbjax-timings.json"


def timings_path() -> Path | None:
    """:data:`TIMINGS_FILE` in JAX's compilation cache directory; ``None`` without a cache."""
    directory = jax.config.jax_compilation_cache_dir
    return Path(directory) / TIMINGS_FILE if directory else None


def timing_key(spec: ProgramSpec, layout: str, mesh: Mesh) -> str:
    """What a group's compile and per-run-step times depend on: the program but its step count and
    ``n_max``, the layout and the devices."""
    device = mesh.devices.flat[0]
    program = (spec.model, spec.model_kwargs, tuple(m.name for m in spec.methods), spec.num_classes, spec.input_shape,
               spec.batch_size, spec.optimizer, spec.batch_sampling, spec.augmentation,
               spec.validation_fraction > 0, layout, device.platform, getattr(device, "device_kind", ""), mesh.size)
    return grid.stable_id({"program": repr(program)}, 16)


def cached_timings() -> dict:
    """``{timing key: {"compile_seconds", "seconds_per_run_step"}}`` measured on this machine."""
    path = timings_path()
    try:
        return json.loads(path.read_text()) if path is not None and path.exists() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def record_timing(key: str, runs: int, num_steps: int, compile_seconds: float, run_seconds: float) -> None:
    """Keep a group's measured times under ``key`` (the newest measurement wins)."""
    path = timings_path()
    if path is None:
        return
    timings = cached_timings()
    timings[key] = {"compile_seconds": round(compile_seconds, 3),
                    "seconds_per_run_step": run_seconds / max(runs * num_steps, 1)}
    try:
        store.atomic_write_json(path, timings)
    except OSError:  # a read-only cache: no estimates, nothing lost
        pass


@dataclasses.dataclass(frozen=True)
class GroupPlan:
    """What the dry run shows of a group: data and one run's state in bytes, the layout, how many
    runs train at once (a multiple of the device count, padding included), and the group's compile and
    per-run-step seconds measured on this machine (``None`` where it never ran here)."""

    data_bytes: int
    run_state_bytes: int
    layout: str
    width: int
    timing: dict | None = None

    @property
    def memory_estimate_bytes(self) -> int:
        """Data + width x state x 3 (state, gradients and temporaries of the same size)."""
        return self.data_bytes + 3 * self.width * self.run_state_bytes

    def seconds_estimate(self, runs: int, num_steps: int) -> float | None:
        """Compile plus ``runs`` x ``num_steps`` steps at the cached times; 0 for no run, ``None`` unknown."""
        if not runs:
            return 0.0
        if self.timing is None:
            return None
        return self.timing["compile_seconds"] + self.timing["seconds_per_run_step"] * runs * num_steps


def sweep_plan(config: ml_collections.ConfigDict, groups: list[grid.Group], *, layout: str = "auto"
               ) -> dict[str, GroupPlan]:
    """``{group id: GroupPlan}`` without training (loads the data, traces nothing but shapes)."""
    mesh, plan, loaded, timings = run_mesh(), {}, {}, cached_timings()
    for group in groups:
        dataset = _load_once(loaded, group)
        data = DeviceData.from_dataset(dataset)
        spec = program_spec(config, dataset, profile=group.profile, method_names=group.methods, model=group.model)
        group_layout = mesh_layout(layout, spec.model, mesh)
        run_state_bytes = state_bytes(spec, data)
        width = runs_at_once(len(group.runs), group_layout, config.max_parallel, run_state_bytes, mesh)
        plan[group.group_id] = GroupPlan(sum(a.nbytes for a in data), run_state_bytes, group_layout, width,
                                         timings.get(timing_key(spec, group_layout, mesh)))
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


def recorded_config(workdir: Path) -> dict | None:
    """``workdir``'s recorded config (:func:`imbjax.sweep.store.recorded_config`), keys that
    :func:`~imbjax.config.base_config` gained since it was written at their defaults (a key at its
    default leaves a run as it was before the key existed: run ids, programs)."""
    recorded = store.recorded_config(workdir)
    return None if recorded is None else {**config_payload(base_config()), **recorded}


def hparam_defaults(config: ml_collections.ConfigDict) -> dict[str, dict[str, float]]:
    """``{method: {hyper-parameter: default}}`` of the config's methods."""
    return {name: dict(method_registry.get(name).hparams) for name in grid.as_tuple(config.methods)}


def _with_rhos(config: ml_collections.ConfigDict, rhos) -> ml_collections.ConfigDict:
    """A copy of ``config`` with ``rhos`` (``n_max`` is chosen so that every rho of a config is exact)."""
    copied = copy.deepcopy(config)
    with copied.ignore_type():
        copied.rhos = tuple(float(rho) for rho in rhos)
    return copied


def _as_floats(value) -> list[float]:
    return [float(v) for v in grid.as_tuple(value)]


def group_spec(config: ml_collections.ConfigDict, group: grid.Group, dataset: datasets.Dataset, workdir: Path,
               union: dict, recorded: dict | None) -> ProgramSpec:
    """The group's static program, its ``n_max`` chosen for every rho the work directory holds (the
    ``union``'s), so that a sweep adding rhos trains its runs at the ``n_max`` of the stored runs; a rho
    not exact at that ``n_max`` is refused (:class:`~imbjax.sweep.store.ConfigMismatchError`). The
    ``natural`` profile has no ``n_max``."""
    def spec_at(rhos) -> ProgramSpec:
        return program_spec(_with_rhos(config, rhos), dataset, profile=group.profile, method_names=group.methods,
                            model=group.model)

    if group.profile == imbalance.NATURAL:
        return spec_at((1.0,))
    rhos = _as_floats(union["rhos"])
    if recorded is not None and set(_as_floats(recorded["rhos"])) != set(rhos):
        stored_n_max = spec_at(_as_floats(recorded["rhos"])).n_max
        inexact = [rho for rho in rhos if not imbalance.exact_rhos(stored_n_max, [rho])]
        if inexact:
            raise store.mismatch(workdir, f"its {group.dataset} runs trained at n_max {stored_n_max}, where rho "
                                          f"{', '.join(f'{r:g}' for r in inexact)} is not exact (n_max / rho must be "
                                          f"whole): choose rhos that divide {stored_n_max}")
    return spec_at(rhos)


def config_from_payload(payload: dict) -> ml_collections.ConfigDict:
    """A config from its ``config.json`` form (lists where the config had tuples)."""
    return ml_collections.ConfigDict(payload)


def _known(config: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, set[str], set[str]]:
    """``config`` less the methods and architectures not registered in this process, with the names of
    those methods and the labels of those architectures (their stored runs cannot be re-identified)."""
    registered = set(method_registry.available())
    unknown_methods = {name for name in grid.as_tuple(config.methods) if name not in registered}
    unknown_labels = {choice.label for choice in model_choices(config) if choice.name not in models.MODELS}
    known = copy.deepcopy(config)
    with known.ignore_type():
        known.methods = tuple(name for name in grid.as_tuple(config.methods) if name not in unknown_methods)
        if unknown_labels:
            known.models = tuple((c.label, {"model": c.name, **dict(c.kwargs)}) for c in model_choices(config)
                                 if c.label not in unknown_labels)
    return known, unknown_methods, unknown_labels


def stored_runs(workdir: Path, union: dict) -> pd.DataFrame:
    """The stored rows (text) of every run of the ``union`` config's grid, in the grid's order (a fresh
    sweep's order), by run id. Rows of methods or architectures not registered in this process are kept
    (after the others); rows of other runs (e.g. of a user's method before its code changed) are not."""
    if not store.record_files(workdir):
        return store.stored_rows(workdir, {}, lambda rows: rows["run_id"].isin(()))
    known, unknown_methods, unknown_labels = _known(config_from_payload(union))
    position = {run.run_id: i for i, run in enumerate(run for group in grid.expand(known) for run in group.runs)}

    def unplaced(rows: pd.DataFrame) -> pd.Series:
        kept = pd.Series(False, index=rows.index)
        for column, names in (("method", unknown_methods), ("model", unknown_labels)):
            if names and column in rows:
                kept |= rows[column].isin(names)
        return kept

    return store.stored_rows(workdir, position, unplaced)


@dataclasses.dataclass
class Sweep:
    """What a sweep will do in a work directory, resolved before anything is written.

    ``groups``: the config's groups; ``specs``: their static programs; ``union``: the config
    ``config.json`` will record (:func:`imbjax.sweep.store.merge_configs`); ``stored``: the text rows of
    runs already stored, by run id.
    """

    config: ml_collections.ConfigDict
    workdir: Path
    groups: list[grid.Group]
    specs: dict[str, ProgramSpec]
    loaded: dict
    union: dict
    stored: pd.DataFrame

    def missing(self, group: grid.Group) -> tuple[grid.Run, ...]:
        """The group's runs not stored yet."""
        return tuple(run for run in group.runs if run.run_id not in self.stored.index)

    @property
    def total_runs(self) -> int:
        return sum(len(group.runs) for group in self.groups)

    @property
    def finished_runs(self) -> int:
        return self.total_runs - sum(len(self.missing(group)) for group in self.groups)


def prepare_sweep(config: ml_collections.ConfigDict, workdir: str | Path) -> Sweep:
    """Resolve everything a sweep of ``config`` in ``workdir`` needs, writing nothing: the work directory
    is usable (:func:`~imbjax.sweep.store.check_workdir`), ``config`` extends the runs stored there
    (:func:`~imbjax.sweep.store.merge_configs`, else :class:`~imbjax.sweep.store.ConfigMismatchError`),
    every group's data loads and its static program resolves (``n_max``, the methods' settings), and the
    user's pieces keep their contracts (:mod:`imbjax.sweep.contracts`). Every refusal is one
    ``ValueError``, before anything is written."""
    workdir = Path(workdir)
    store.check_workdir(workdir)
    groups = grid.expand(config)
    payload = config_payload(config)
    recorded = recorded_config(workdir)
    union = payload if recorded is None else store.merge_configs(workdir, recorded, payload, hparam_defaults(config))
    loaded: dict[str, datasets.Dataset] = {}
    specs = {}
    for group in groups:
        dataset = _load_once(loaded, group)
        specs[group.group_id] = spec = group_spec(config, group, dataset, workdir, union, recorded)
        contracts.check_program(spec, len(dataset.y_train))
    return Sweep(config, workdir, groups, specs, loaded, union, stored_runs(workdir, union))


def workdir_accepts(config: ml_collections.ConfigDict, workdir: Path) -> bool:
    """Whether ``config`` may run in ``workdir``: it holds no finished run, or runs ``config`` extends."""
    try:
        recorded = recorded_config(workdir)
        if recorded is not None:
            store.merge_configs(workdir, recorded, config_payload(config), hparam_defaults(config))
    except ValueError:
        return False
    return True


Reporter = Callable[[str, dict], None]


def run_sweep(config: ml_collections.ConfigDict, workdir: str | Path, *, report: Reporter | None = None,
              layout: str = "auto") -> pd.DataFrame:
    """Train every run of ``config`` not yet stored in ``workdir``; return the work directory's run table.

    ``layout``: how each device trains its runs (see the module docstring). Everything is resolved first
    (:func:`prepare_sweep`); then :func:`train_sweep`.
    """
    check_layout(layout)
    return train_sweep(prepare_sweep(config, workdir), report=report, layout=layout)


def _group_frame(group: grid.Group, runs: tuple[grid.Run, ...], columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The rows of ``runs``: id, group, config columns, metrics; a ``natural`` run's rho is the ratio
    it trained at (the pool's own, ``train_rho``)."""
    frame = pd.concat([pd.DataFrame({"run_id": [run.run_id for run in runs], "group": group.group_id}),
                       pd.DataFrame([run.columns for run in runs]), pd.DataFrame(columns)], axis=1)
    if group.profile == imbalance.NATURAL:
        frame["rho"] = frame["train_rho"]
    return frame


def train_sweep(sweep: Sweep, *, report: Reporter | None = None, layout: str = "auto") -> pd.DataFrame:
    """Train the runs of ``sweep`` not stored yet, group by group; return the work directory's run table.

    A group's missing runs train as one program (the group's whole program when none is stored) and are
    stored together in ``groups/``; ``config.json`` records the union config with the first of them.
    ``runs.csv`` is rebuilt after every group from the stored rows (text, so finished rows stay byte
    for byte as they were).

    ``report(event, info)`` is called for progress displays with ``"sweep_start"`` (``total_runs``, the
    sweep's runs, and ``finished_runs``, those stored already), ``"group_start"``, ``"part_done"`` (the
    group's runs trained so far, after each part), ``"chunk_done"`` (steps, with checkpoints),
    ``"group_done"`` and ``"group_skipped"``; ``info`` holds the group's index, id, ``runs`` (to train;
    for a skipped group, all of its runs) and the sweep's ``total_runs``.
    """
    report = report or (lambda event, info: None)
    check_layout(layout)
    workdir, config = sweep.workdir, sweep.config
    mesh = run_mesh()
    trained, timings = [], []
    total_runs = sweep.total_runs
    report("sweep_start", {"total_runs": total_runs, "finished_runs": sweep.finished_runs,
                           "groups": len(sweep.groups)})
    sweep_start = time.perf_counter()
    table = None
    for index, group in enumerate(sweep.groups):
        missing = sweep.missing(group)
        info = {"index": index, "groups": len(sweep.groups), "group": group.group_id, "runs": len(missing),
                "total_runs": total_runs}
        if not missing:
            report("group_skipped", {**info, "runs": len(group.runs)})
            continue
        report("group_start", info)
        spec = sweep.specs[group.group_id]
        stored_id = store.new_group_id(workdir, group.group_id, [run.run_id for run in missing],
                                       whole_group=len(missing) == len(group.runs))
        device_data = jax.device_put(DeviceData.from_dataset(_load_once(sweep.loaded, group)),
                                     NamedSharding(mesh, PartitionSpec()))
        group_layout = mesh_layout(layout, spec.model, mesh)
        columns, compile_seconds, run_seconds = train_group(
            spec, device_data, missing, mesh=mesh, max_parallel=config.max_parallel,
            checkpoint_every=config.checkpoint_every, workdir=workdir, group_id=stored_id, layout=group_layout,
            report=lambda event, extra, info=info: report(event, {**info, **extra}))
        frame = _group_frame(group, missing, columns)
        trained.append(frame)
        timings.append(GroupTiming(stored_id, len(missing), compile_seconds, run_seconds, group_layout))
        if is_writer():
            store.record_config(workdir, sweep.union)
            store.write_group(workdir, stored_id, frame)
            discard_checkpoints(workdir, stored_id)
            record_timing(timing_key(spec, group_layout, mesh), len(missing), spec.num_steps, compile_seconds,
                          run_seconds)
            table = store.write_runs(workdir, stored_runs(workdir, sweep.union))
        report("group_done", {**info, "compile_seconds": compile_seconds, "run_seconds": run_seconds})
    if not is_writer():
        return pd.concat(trained, ignore_index=True) if trained else pd.DataFrame()
    if table is None:  # nothing trained: rebuild runs.csv from the stored rows (a hand-edited one is replaced)
        table = store.write_runs(workdir, sweep.stored)
    _write_meta(workdir, sweep.union, timings, time.perf_counter() - sweep_start)
    return table


def _write_meta(workdir: Path, union: dict, timings: list[GroupTiming], seconds: float) -> None:
    path = workdir / store.META_FILE
    previous = json.loads(path.read_text()) if path.exists() else {}
    groups = {**previous.get("groups", {}), **{t.group_id: dataclasses.asdict(t) for t in timings}}
    meta = {
        "config": union,
        "versions": package_versions(),
        "devices": device_info(),
        "groups": groups,
        "compile_seconds": sum(g["compile_seconds"] for g in groups.values()),
        "run_seconds": sum(g["run_seconds"] for g in groups.values()),
        "last_invocation_seconds": seconds,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    store.atomic_write_json(path, meta)
