"""What the benchmark scripts share: the workloads, their data, timing an imbjax sweep of one,
running a measurement in a fresh process, the PyTorch peers and the JAX floor as subprocesses,
medians, and the JSON line each script prints last.

Every benchmark script imports this module and no other script; the PyTorch peers
(``scripts/torch_peers/``) and the floor (``scripts/jax_floor.py``) are run as commands, so that
each is timed in a process of its own.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
#: The PyTorch peers of the workloads (each ``python FILE --mode loop|vmap [--runs N] [--steps N]``).
TORCH_PEERS = SCRIPTS / "torch_peers"
#: XLA:CPU flags of the imbjax children unless ``--xla-flags`` says otherwise: none, as ``imbjax run``
#: (docs/performance.md: the default fusion emitters train 20-40% faster than without).
DEFAULT_XLA_FLAGS = ""
#: The layouts ``timed_sweep`` knows; ``single`` and ``vmap`` are the sweep runner's.
LAYOUTS = ("single", "vmap", "map", "loop")
RUNNER_LAYOUTS = ("single", "vmap")
#: The floor's timings (scripts/jax_floor.py), reported cold and warm.
FLOOR_TIMINGS = ("seconds", "compile_seconds", "run_seconds")
TORCH_MODES = ("loop", "vmap")


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark workload: ``runs`` runs of ``model`` trained ``steps`` Adam steps of
    ``batch_size`` examples drawn uniformly with replacement (ROS for ``sampling="ros"``) at
    ``learning_rate``, then scored on the test set. ``data`` is ``"random"`` (``train_size`` and
    ``test_size`` Gaussian images of ``input_shape``, balanced labels: speed only) or a data set
    name. ``torch_peer`` is its file in :data:`TORCH_PEERS`, which trains the same runs."""

    model: str
    model_kwargs: tuple
    runs: int
    steps: int
    data: str
    input_shape: tuple[int, ...]
    train_size: int = 6000
    test_size: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-3
    sampling: str = "uniform"
    rhos: tuple[float, ...] = (1.0,)
    torch_peer: str | None = None

    def scaled(self, runs: int | None = None, steps: int | None = None) -> Workload:
        """This workload with ``runs`` and ``steps`` replaced where given."""
        return dataclasses.replace(self, runs=runs or self.runs, steps=steps or self.steps)


WORKLOADS = {
    # scripts/bench_sweep.py's sweep: digits, step imbalance mu 0.5 at 4 rhos x 10 seeds, ROS.
    "mlp": Workload("mlp", (("hidden", (128, 128)),), 40, 300, "digits", (64,), sampling="ros",
                    rhos=(1.0, 10.0, 50.0, 100.0), torch_peer="mlp.py"),
    "lenet5": Workload("lenet5", (), 8, 100, "random", (28, 28, 1), torch_peer="lenet5.py"),
    # experiments/mnist1d_benchmark.py's CNN runs: the MNIST-1D paper's recipe, 10 seeds.
    "mnist1d_cnn": Workload("mnist1d_cnn", (), 10, 8000, "mnist1d", (40,), batch_size=100, learning_rate=1e-2,
                            torch_peer="mnist1d_cnn.py"),
    "small_cnn": Workload("small_cnn", (), 8, 300, "digits", (8, 8, 1)),
    "resnet20": Workload("resnet", (("depth", 20),), 2, 20, "random", (32, 32, 3), train_size=2000, test_size=200),
    # Cao et al.'s CIFAR ResNet-32 with BatchNorm (experiments/cao2019_ldam.py), on random 32x32x3 images.
    "resnet32": Workload("resnet", (("depth", 32), ("norm", "batch")), 2, 20, "random", (32, 32, 3),
                         train_size=2000, test_size=200, batch_size=128, learning_rate=0.1),
}


def check_workload(name: str, choices=WORKLOADS) -> None:
    if name not in choices:
        raise ValueError(f"unknown workload {name!r}; choose one of {list(choices)}")


def random_dataset(workload: Workload, num_classes: int = 10):
    """Gaussian images of the workload's shape with exactly balanced labels (speed only)."""
    import numpy as np

    from imbjax.data import Dataset

    rng = np.random.default_rng(0)
    x_train = rng.standard_normal((workload.train_size, *workload.input_shape), dtype=np.float32)
    y_train = rng.permutation(np.arange(workload.train_size) % num_classes).astype(np.int32)
    x_test = rng.standard_normal((workload.test_size, *workload.input_shape), dtype=np.float32)
    y_test = (np.arange(workload.test_size) % num_classes).astype(np.int32)
    return Dataset("random", x_train, y_train, x_test, y_test, tuple(map(str, range(num_classes))),
                   workload.input_shape)


def load_dataset(workload: Workload):
    """The workload's data: :func:`random_dataset`, or ``imbjax.data.load`` (images for a
    convolutional model on digits)."""
    from imbjax import data

    if workload.data == "random":
        return random_dataset(workload)
    if workload.data == "digits":
        return data.load("digits", image=len(workload.input_shape) == 3)
    return data.load(workload.data)


def program_spec(workload: Workload, dataset, conv_impl: str | None = None):
    """The imbjax ``ProgramSpec`` of ``workload``: method ``ros`` or ``baseline`` by its sampling,
    step profile, Adam, and n_max the largest class size at which every rho of the workload is exact
    (:func:`imbjax.imbalance.exact_n_max`, as ``imbjax run`` chooses it)."""
    from imbjax import methods
    from imbjax.imbalance import exact_n_max
    from imbjax.engine.program import ProgramSpec

    model_kwargs = dict(workload.model_kwargs)
    if conv_impl is not None and workload.model != "mlp":
        model_kwargs["conv_impl"] = conv_impl
    n_max = exact_n_max(int(dataset.train_class_counts().min()), workload.rhos, dataset=dataset.name)
    return ProgramSpec(num_classes=dataset.num_classes, input_shape=tuple(dataset.input_shape),
                       methods=(methods.get("ros" if workload.sampling == "ros" else "baseline"),),
                       model=workload.model, model_kwargs=tuple(sorted(model_kwargs.items())),
                       batch_size=workload.batch_size, num_steps=workload.steps, profile="step", n_max=n_max)


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the best of ``repeats`` float32 ``size x size`` matmuls (one jitted dot)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    return 2 * size ** 3 / best_seconds(lambda: matmul(a).block_until_ready(), repeats) / 1e9


def best_seconds(function, repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``function``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def forward_flops(model_name: str, model_kwargs: dict, input_shape: tuple, batch: int, num_classes: int) -> float:
    """FLOPs of one forward pass of ``batch`` examples (XLA cost analysis of the XLA-conv model)."""
    import jax
    import jax.numpy as jnp

    from imbjax import models

    kwargs = dict(model_kwargs)
    if model_name in models.CONVOLUTIONAL_MODELS:
        kwargs["conv_impl"] = "xla"
    model = models.make_model(model_name, num_classes, **kwargs)
    x = jnp.zeros((batch, *input_shape), jnp.float32)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
    cost = jax.jit(model.apply).lower(params, x).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def training_flops(spec, num_runs: int, test_size: int) -> float:
    """Total FLOPs of ``num_runs`` runs: 3 x forward per training step (forward + backward) plus
    the forward passes over the test set."""
    kwargs = dict(spec.model_kwargs)
    step = 3 * forward_flops(spec.model, kwargs, spec.input_shape, spec.batch_size, spec.num_classes)
    test = forward_flops(spec.model, kwargs, spec.input_shape, test_size, spec.num_classes)
    return num_runs * (spec.num_steps * step + test)


def sweep_function(layout: str, program, spec, mesh, map_batch: int = 1):
    """A jitted ``f(data, keys, hparams) -> metrics`` (:func:`imbjax.engine.program.run_program`, the
    metrics inside) for one call of a layout the runner does not have: ``loop`` takes one run's
    (unstacked) inputs; ``map`` a stacked run axis sharded over ``mesh``, each device's runs trained
    with ``lax.map``, ``map_batch`` vmapped at a time."""
    import jax
    from jax.sharding import PartitionSpec

    from imbjax.sweep.runner import RUN_AXIS
    from imbjax.engine.program import run_program

    run = functools.partial(run_program, program, spec)
    if layout == "loop":
        return jax.jit(run)
    if layout != "map":
        raise ValueError(f"unknown layout {layout!r}; choose one of {list(LAYOUTS)}")

    def per_device(data, keys, hparams):
        return jax.lax.map(lambda args: run(data, *args), (keys, hparams), batch_size=map_batch)

    runs = PartitionSpec(RUN_AXIS)
    return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(PartitionSpec(), runs, runs), out_specs=runs,
                                 check_vma=False))


def call_width(layout: str, num_runs: int, devices: int, width: int = 0) -> int:
    """Runs per call: 1 (``loop``), one per device (``single``), else ``width`` (0: all), a
    multiple of the device count that divides ``num_runs``."""
    if layout == "loop":
        return 1
    if layout == "single":
        return devices
    width = width or num_runs
    if width % devices or num_runs % width:
        raise ValueError(f"width {width} must be a multiple of the {devices} devices and divide {num_runs} runs")
    return width


def stacked_inputs(num_runs: int, rhos: tuple[float, ...], learning_rate: float):
    """Seed keys 0..num_runs-1 and hyper-parameters: rho cycling over ``rhos``, mu 0.5,
    ``learning_rate``, method 0."""
    import jax
    import numpy as np

    keys = np.stack([np.asarray(jax.random.PRNGKey(seed)) for seed in range(num_runs)])
    hparams = {"rho": np.resize(np.asarray(rhos, np.float32), num_runs), "mu": np.full(num_runs, 0.5, np.float32),
               "learning_rate": np.full(num_runs, learning_rate, np.float32),
               "method_index": np.zeros(num_runs, np.int32)}
    return keys, hparams


def timed_sweep(layout: str, workload: Workload, spec, dataset, *, width: int = 0, map_batch: int = 1) -> dict:
    """Train ``workload.runs`` runs of ``spec`` in ``layout``, ``call_width`` runs per call of one
    compiled program: ``single`` and ``vmap`` by the sweep runner itself
    (:func:`imbjax.sweep.runner.train_group`: saved programs, scoring by the shared
    ``compute_all_runs`` program), ``map`` and ``loop`` as one jitted program with the metrics inside.
    Returns wall seconds end to end (data to device, compilation, training, evaluation, results to
    host), compile (lowering + XLA) seconds, run seconds (the difference) and the runs' metrics on the
    host (``{name: [runs]}``, class-wise ones as ``[runs, C]`` or, from the runner, as ``name_<c>``
    columns)."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec

    from imbjax.sweep import grid, runner
    from imbjax.sweep.runner import RUN_AXIS, run_mesh
    from imbjax.engine.program import DeviceData
    from imbjax.methods import make_program

    num_runs = workload.runs
    start = time.perf_counter()
    mesh = run_mesh()
    keys, hparams = stacked_inputs(num_runs, workload.rhos, workload.learning_rate)
    step = call_width(layout, num_runs, mesh.size, width)
    if layout in RUNNER_LAYOUTS:
        data = jax.device_put(DeviceData.from_dataset(dataset), NamedSharding(mesh, PartitionSpec()))
        runs = tuple(grid.Run(run_id=str(i), seed=i, columns={}, hparams={k: v[i].item() for k, v in hparams.items()})
                     for i in range(num_runs))
        columns, compile_seconds, _ = runner.train_group(spec, data, runs, mesh=mesh, max_parallel=step, layout=layout)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "compile_seconds": compile_seconds, "run_seconds": seconds - compile_seconds,
                "metrics": columns}
    program = make_program(spec)
    if layout == "loop":
        data = jax.device_put(DeviceData.from_dataset(dataset), jax.devices()[0])
        parts = [(keys[i], {k: v[i] for k, v in hparams.items()}) for i in range(num_runs)]
    else:
        data = jax.device_put(DeviceData.from_dataset(dataset), NamedSharding(mesh, PartitionSpec()))
        parts = [jax.device_put((keys[i:i + step], {k: v[i:i + step] for k, v in hparams.items()}),
                                NamedSharding(mesh, PartitionSpec(RUN_AXIS))) for i in range(0, num_runs, step)]
    compile_start = time.perf_counter()
    sweep = sweep_function(layout, program, spec, mesh, map_batch).lower(data, *parts[0]).compile()
    compile_seconds = time.perf_counter() - compile_start
    outputs = jax.device_get([sweep(data, *part) for part in parts])
    stack = np.stack if layout == "loop" else np.concatenate
    metrics = {name: stack([o[name] for o in outputs]) for name in outputs[0]}
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "compile_seconds": compile_seconds, "run_seconds": seconds - compile_seconds,
            "metrics": metrics}


def run_child(args: list[str], env: dict | None = None) -> dict:
    """Run a command in the repository root; the JSON of its last output line (a RuntimeError
    with the command and the end of its stderr when it fails)."""
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_of(rows: list[dict], keys) -> dict:
    """The first row with each of ``keys`` replaced by its median over ``rows``."""
    merged = dict(rows[0])
    for key in keys:
        merged[key] = statistics.median(row[key] for row in rows)
    return merged


def torch_available() -> bool:
    """Whether torch is importable; if not, says once that the PyTorch peers are skipped."""
    if importlib.util.find_spec("torch") is None:
        print("torch is not importable: the PyTorch peers are skipped (pip install torch==2.13.0)", flush=True)
        return False
    return True


def torch_peer_command(workload: Workload, mode: str, threads: int = 0) -> list[str]:
    """The command training ``workload``'s runs with its PyTorch peer in ``mode`` (``loop``: one
    run after another; ``vmap``: all runs at once with ``torch.func``) on ``threads`` threads
    (0: torch's default, one per core); JSON last."""
    if mode not in TORCH_MODES:
        raise ValueError(f"unknown torch peer mode {mode!r}; choose one of {list(TORCH_MODES)}")
    return [sys.executable, str(TORCH_PEERS / workload.torch_peer), "--mode", mode, "--runs", str(workload.runs),
            "--steps", str(workload.steps), "--threads", str(threads)]


def floor_command(name: str, workload: Workload, devices: int | None = None) -> list[str]:
    """The command measuring floor workload ``name`` (scripts/jax_floor.py) once; JSON last."""
    return ([sys.executable, str(SCRIPTS / "jax_floor.py"), name, "--runs", str(workload.runs),
             "--steps", str(workload.steps)] + (["--devices", str(devices)] if devices else []))


def floor_summary(cold: list[dict], warm: list[dict]) -> dict:
    """Medians of the cold and warm floor measurements, as ``floor_*`` and ``warm_floor_*``."""
    summary = {}
    for prefix, rows in (("floor_", cold), ("warm_floor_", warm)):
        summary.update({prefix + key: statistics.median(row[key] for row in rows) for key in FLOOR_TIMINGS})
    return summary


def peer_ratios(summary: dict) -> dict:
    """Each peer's seconds over imbjax's (``sweep_seconds`` cold, ``warm_sweep_seconds`` warm):
    ``torch_speedup_cold`` = torch_seconds / sweep_seconds and so on for ``torch_vmap`` and the
    floor (``floor_seconds`` over ``sweep_seconds``: how far imbjax is from the smallest JAX
    program, 1 = at it), for every peer the summary has."""
    ratios = {}
    for peer in ("torch", "torch_vmap"):
        if summary.get(f"{peer}_seconds"):
            ratios[f"{peer}_speedup_cold"] = summary[f"{peer}_seconds"] / summary["sweep_seconds"]
            ratios[f"{peer}_speedup_warm"] = summary[f"{peer}_seconds"] / summary["warm_sweep_seconds"]
    if summary.get("floor_seconds"):
        ratios["floor_ratio_cold"] = summary["floor_seconds"] / summary["sweep_seconds"]
        ratios["floor_ratio_warm"] = summary["warm_floor_seconds"] / summary["warm_sweep_seconds"]
    return ratios


def describe_peers(summary: dict) -> str:
    """One line of the peers' seconds and :func:`peer_ratios` (cold / warm imbjax)."""
    parts = []
    for peer, label in (("torch", "PyTorch loop"), ("torch_vmap", "torch.func vmap")):
        if summary.get(f"{peer}_seconds"):
            parts.append(f"{label} {summary[f'{peer}_seconds']:.2f} s -> imbjax {summary[f'{peer}_speedup_cold']:.2f}x "
                         f"cold, {summary[f'{peer}_speedup_warm']:.2f}x warm")
    if summary.get("floor_seconds"):
        parts.append(f"JAX floor {summary['floor_seconds']:.2f} s cold (compile {summary['floor_compile_seconds']:.2f} s), "
                     f"{summary['warm_floor_seconds']:.2f} s warm -> floor / imbjax {summary['floor_ratio_cold']:.2f} "
                     f"cold, {summary['floor_ratio_warm']:.2f} warm")
    return "; ".join(parts) or "no peers measured"


def print_json(record: dict) -> None:
    """The record as the one JSON line a benchmark prints last."""
    print(json.dumps(record), flush=True)
