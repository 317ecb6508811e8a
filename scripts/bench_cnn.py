"""CNN sweeps through imbjax's engine on CPU, against a per-run PyTorch loop (issue 9's benchmark).

Workloads (each run: ``make_program`` / ``run_program`` of a ProgramSpec: method "baseline",
step profile with rho = 1, Adam 1e-3, batch 64, then evaluation on the test set):

* ``lenet5``: the workload of shared/bench/torch_lenet_sweep.py: 8 runs x 100 steps of
  LeNet-5 on 6,000 random 28x28 images with 10 (balanced) labels, uniform sampling; 1,000 random
  test images.
* ``small_cnn``: imbjax's SmallCNN on scikit-learn digits as 8x8 images, 8 runs x 300 steps.
* ``resnet20``: a CIFAR-style ResNet-20 (GroupNorm) on 2,000 random 32x32x3 images, 2 runs x
  20 steps (a CPU is slow for it; this shows the order of magnitude).

Every measurement runs twice in fresh subprocesses that share a new, empty compilation cache:
``cold`` (``compile_seconds`` = tracing + XLA compilation) and ``warm`` (the runner's saved program
and XLA executable loaded from the caches, for the ``single`` and ``vmap`` layouts); ``seconds``
is the whole sweep end to end: data to device, compilation, training, evaluation, results to host.
``--repeat N`` repeats each measurement and reports medians (the 2-core machines here are
shared, so single timings are noisy). Achieved GFLOP/s counts the model's training FLOPs
(3x the forward pass, forward from XLA's cost analysis of the ``conv_impl="xla"`` model, plus the
test-set forward passes) and is set against the GFLOP/s of a 2048x2048 float32 matmul measured
in the same child. When torch is importable, the PyTorch reference loop runs in a subprocess
too (its seconds exclude its warm-up run and imports) and the ratio torch / imbjax is printed.
For ``lenet5``, the smallest JAX program of the workload without imbjax's engine
(scripts/jax_floor.py, the *floor*) is timed cold and warm beside it (``--no-floor`` skips it).

Sweep layouts (``--layout``): ``single`` (default, what the sweep runner's ``--layout auto`` picks
for convolutional models on CPU) compiles the unbatched run in ``shard_map`` and trains one run
per device per call; ``vmap`` is the runner's ``jit(vmap(run))`` with the run axis sharded over
every CPU device; ``map`` shards the run axis over the devices too but each device runs its runs
with ``lax.map`` (``--map-batch`` runs vmapped at a time); ``loop`` calls one jitted run per run.
docs/performance.md has the measurements.

    python scripts/bench_cnn.py [--workloads lenet5 small_cnn resnet20] [--layout single]
        [--map-batch 1] [--conv-impl auto] [--repeat 3] [--no-torch] [--no-floor]

The last line printed is JSON: per workload ``runs``, ``steps``, ``seconds``,
``compile_seconds``, ``run_seconds``, ``runs_per_s``, ``gflops``, ``peak_gflops`` and, where
measured, ``torch_seconds``, ``speedup_vs_torch`` and the floor's ``floor_*`` seconds and ratios.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jax_floor import FLOOR_WORKLOADS, describe_floor, floor_command, floor_summary

ROOT = Path(__file__).resolve().parents[1]
#: The PyTorch reference loops: ``IMBJAX_TORCH_BENCH``, else the project's shared/bench beside the
#: checkout, else the workplace's /work/shared/bench (a clone elsewhere on this machine).
TORCH_BENCH = Path(os.environ.get("IMBJAX_TORCH_BENCH") or next(
    (path for path in (ROOT.parent / "shared" / "bench", Path("/work/shared/bench")) if path.is_dir()),
    ROOT.parent / "shared" / "bench"))
#: XLA:CPU flags of the imbjax children unless --xla-flags says otherwise: none, as ``imbjax run``
#: (XLA's fusion emitters trained 20-40% faster than ``--xla_cpu_use_fusion_emitters=false`` and
#: compiled 10-30% slower; docs/performance.md).
DEFAULT_XLA_FLAGS = ""
LAYOUTS = ("single", "vmap", "map", "loop")
#: The layouts of the sweep runner (imbjax.sweep.runner.over_runs), compiled as it compiles them.
RUNNER_LAYOUTS = ("single", "vmap")


@dataclasses.dataclass(frozen=True)
class Workload:
    model: str
    model_kwargs: tuple
    runs: int
    steps: int
    data: str  # "random" or a dataset name
    input_shape: tuple[int, ...]
    train_size: int = 6000
    test_size: int = 1000
    batch_size: int = 64
    torch_script: str | None = None


WORKLOADS = {
    "lenet5": Workload("lenet5", (), 8, 100, "random", (28, 28, 1), torch_script="torch_lenet_sweep.py"),
    "small_cnn": Workload("small_cnn", (), 8, 300, "digits", (8, 8, 1)),
    "resnet20": Workload("resnet", (("depth", 20),), 2, 20, "random", (32, 32, 3), train_size=2000, test_size=200),
}


def random_dataset(workload: Workload, num_classes: int = 10):
    """Random images with exactly balanced labels (speed only; nothing to learn)."""
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
    from imbjax import data

    if workload.data == "random":
        return random_dataset(workload)
    return data.load(workload.data, image=True)


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
    if model_name != "mlp":
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
    """A jitted ``f(data, keys, hparams) -> metrics`` for one call of ``layout``: ``loop`` takes
    one run's (unstacked) inputs; the others take a stacked run axis sharded over ``mesh``.
    ``vmap`` and ``single`` are the sweep runner's layouts (:func:`imbjax.sweep.runner.over_runs`)."""
    import jax
    from jax.sharding import PartitionSpec

    from imbjax.sweep.runner import RUN_AXIS, over_runs
    from imbjax.engine.program import run_program

    run = functools.partial(run_program, program, spec)
    if layout == "loop":
        return jax.jit(run)
    if layout in RUNNER_LAYOUTS:
        return over_runs(run, mesh, layout)
    if layout != "map":
        raise ValueError(f"unknown layout {layout!r}; choose one of {list(LAYOUTS)}")

    def per_device(data, keys, hparams):
        return jax.lax.map(lambda args: run(data, *args), (keys, hparams), batch_size=map_batch)

    runs = PartitionSpec(RUN_AXIS)
    return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(PartitionSpec(), runs, runs), out_specs=runs,
                                 check_vma=False))


def call_width(layout: str, num_runs: int, devices: int, width: int = 0) -> int:
    """Runs per call: 1 (``loop``), one per device (``single``), else ``width`` (0: all), a
    multiple of the device count."""
    if layout == "loop":
        return 1
    if layout == "single":
        return devices
    width = width or num_runs
    if width % devices or num_runs % width:
        raise ValueError(f"width {width} must be a multiple of the {devices} devices and divide {num_runs} runs")
    return width


def stacked_inputs(num_runs: int, rhos: tuple[float, ...] = (1.0,)):
    """Seed keys 0..num_runs-1 and hyper-parameters: rho cycling over ``rhos``, mu 0.5, lr 1e-3."""
    import jax
    import numpy as np

    keys = np.stack([np.asarray(jax.random.PRNGKey(seed)) for seed in range(num_runs)])
    hparams = {"rho": np.resize(np.asarray(rhos, np.float32), num_runs), "mu": np.full(num_runs, 0.5, np.float32),
               "learning_rate": np.full(num_runs, 1e-3, np.float32), "method_index": np.zeros(num_runs, np.int32)}
    return keys, hparams


def timed_sweep(layout: str, program, spec, dataset, num_runs: int, *, width: int = 0, map_batch: int = 1,
                rhos: tuple[float, ...] = (1.0,)) -> dict:
    """Run ``num_runs`` runs of ``program`` in ``layout``, ``call_width`` runs per call of one
    compiled program; wall seconds end to end, compile (lowering + XLA) seconds, and the runs'
    metrics on the host ``{name: [runs, ...]}``."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec

    from imbjax.sweep import program_cache
    from imbjax.sweep.runner import RUN_AXIS, run_mesh
    from imbjax.engine.program import DeviceData

    start = time.perf_counter()
    mesh = run_mesh()
    keys, hparams = stacked_inputs(num_runs, rhos)
    step = call_width(layout, num_runs, mesh.size, width)
    if layout == "loop":
        data = jax.device_put(DeviceData.from_dataset(dataset), jax.devices()[0])
        parts = [(keys[i], {k: v[i] for k, v in hparams.items()}) for i in range(num_runs)]
    else:
        data = jax.device_put(DeviceData.from_dataset(dataset), NamedSharding(mesh, PartitionSpec()))
        parts = [jax.device_put((keys[i:i + step], {k: v[i:i + step] for k, v in hparams.items()}),
                                NamedSharding(mesh, PartitionSpec(RUN_AXIS))) for i in range(0, num_runs, step)]
    compile_start = time.perf_counter()
    function = sweep_function(layout, program, spec, mesh, map_batch)
    if layout in RUNNER_LAYOUTS:  # as the sweep runner compiles them, through its saved programs
        sweep = program_cache.compile_program(function, (data, *parts[0]), name="run", spec=spec, layout=layout,
                                              out_shardings=NamedSharding(mesh, PartitionSpec(RUN_AXIS)))
    else:
        sweep = function.lower(data, *parts[0]).compile()
    compile_seconds = time.perf_counter() - compile_start
    outputs = jax.device_get([sweep(data, *part) for part in parts])
    stack = np.stack if layout == "loop" else np.concatenate
    metrics = {name: stack([o[name] for o in outputs]) for name in outputs[0]}
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "compile_seconds": compile_seconds, "run_seconds": seconds - compile_seconds,
            "metrics": metrics}


def measure(name: str, layout: str, width: int, map_batch: int, conv_impl: str) -> dict:
    """One cold measurement of workload ``name`` (call in a fresh process)."""
    import jax

    from imbjax import methods
    from imbjax.engine.program import ProgramSpec
    from imbjax.methods import make_program

    workload = WORKLOADS[name]
    dataset = load_dataset(workload)
    model_kwargs = dict(workload.model_kwargs, conv_impl=conv_impl)
    spec = ProgramSpec(num_classes=dataset.num_classes, input_shape=tuple(dataset.input_shape),
                       methods=(methods.get("baseline"),), model=workload.model,
                       model_kwargs=tuple(sorted(model_kwargs.items())), batch_size=workload.batch_size,
                       num_steps=workload.steps, profile="step",
                       n_max=int(dataset.train_class_counts().min()))
    timing = timed_sweep(layout, make_program(spec), spec, dataset, workload.runs, width=width, map_batch=map_batch)
    flops = training_flops(spec, workload.runs, len(dataset.y_test))
    accuracy = [round(float(a), 3) for a in timing["metrics"]["accuracy"]]
    return {"workload": name, "model": workload.model, "runs": workload.runs, "steps": workload.steps,
            "layout": layout, "width": width, "map_batch": map_batch, "conv_impl": conv_impl, "devices": jax.device_count(),
            "seconds": timing["seconds"], "compile_seconds": timing["compile_seconds"],
            "run_seconds": timing["run_seconds"], "gflop": flops / 1e9,
            "gflops": flops / 1e9 / timing["run_seconds"], "peak_gflops": matmul_peak_gflops(),
            "accuracy": accuracy}


def run_child(args: list[str], env: dict | None = None) -> dict:
    """Run a command, return the JSON of its last output line (raise with its stderr on failure)."""
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def torch_script(name: str | None) -> Path | None:
    """The PyTorch reference loop ``name`` in :data:`TORCH_BENCH` when it exists and torch is
    importable, else ``None`` (with a line saying why the comparison is skipped)."""
    if name is None:
        return None
    if importlib.util.find_spec("torch") is None:
        print(f"torch is not importable: {name} skipped (pip install torch==2.13.0)", flush=True)
        return None
    path = TORCH_BENCH / name
    if not path.exists():
        print(f"{path} not found: the PyTorch loop is skipped (set IMBJAX_TORCH_BENCH)", flush=True)
        return None
    return path


TIMINGS = ("seconds", "compile_seconds", "run_seconds", "gflops", "peak_gflops")


def median_of(rows: list[dict], keys=TIMINGS) -> dict:
    """The first row with each of ``keys`` replaced by its median over ``rows``."""
    merged = dict(rows[0])
    for key in keys:
        merged[key] = statistics.median(r[key] for r in rows)
    return merged


def describe(name: str, row: dict) -> str:
    return (f"{row['seconds']:.2f} s end to end (compile {row['compile_seconds']:.2f} s, run {row['run_seconds']:.2f} s), "
            f"{row['runs'] / row['seconds']:.2f} runs/s, {row['gflops']:.1f} GFLOP/s "
            f"= {100 * row['gflops'] / row['peak_gflops']:.0f}% of matmul peak {row['peak_gflops']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--layout", default="single", choices=LAYOUTS)
    parser.add_argument("--width", type=int, default=0, help="runs per call for vmap/map (0: all)")
    parser.add_argument("--map-batch", type=int, default=1, help="runs vmapped at a time per device (--layout map)")
    parser.add_argument("--conv-impl", default="auto", choices=["auto", "patches", "xla"])
    parser.add_argument("--devices", type=int, default=None, help="CPU devices (default: one per core)")
    parser.add_argument("--xla-flags", default=DEFAULT_XLA_FLAGS, help="XLA_FLAGS for the imbjax children")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per workload; medians are reported")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference loop")
    parser.add_argument("--no-floor", action="store_true", help="skip the minimal JAX program (lenet5)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        os.environ["XLA_FLAGS"] = args.xla_flags
        from imbjax import runtime

        runtime.configure(cpu_devices=args.devices)
        print(json.dumps(measure(args.child, args.layout, args.width, args.map_batch, args.conv_impl)))
        return

    results = {}
    for name in args.workloads:
        workload = WORKLOADS[name]
        cold, warm, torch_seconds, floor_cold, floor_warm = [], [], [], [], []
        with_floor = not args.no_floor and name in FLOOR_WORKLOADS
        torch_loop = None if args.no_torch else torch_script(workload.torch_script)
        command = [sys.executable, __file__, "--child", name, "--layout", args.layout, "--width", str(args.width),
                   "--map-batch", str(args.map_batch), "--conv-impl", args.conv_impl, f"--xla-flags={args.xla_flags}"]
        if args.devices:
            command += ["--devices", str(args.devices)]
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="imbjax-bench-cache-") as cache:
                env = {**os.environ, "IMBJAX_CACHE_DIR": cache}
                cold.append(run_child(command, env))
                warm.append(run_child(command, env))
                if with_floor:
                    floor_env = {**env, "XLA_FLAGS": args.xla_flags}
                    floor_cold.append(run_child(floor_command(name, args.devices), floor_env))
                    floor_warm.append(run_child(floor_command(name, args.devices), floor_env))
            if torch_loop:
                torch_seconds.append(run_child([sys.executable, str(torch_loop), str(workload.runs),
                                                str(workload.steps)])["seconds"])
        result = median_of(cold)
        result.update({f"warm_{key}": value for key, value in median_of(warm).items() if key in TIMINGS})
        result.update(repeats=args.repeat, runs_per_s=result["runs"] / result["seconds"])
        head = f"{name:10s} {result['runs']} runs x {result['steps']} steps, {result['layout']} on {result['devices']} device(s)"
        print(f"{head}\n  cold cache: {describe(name, result)}\n  warm cache: {describe(name, median_of(warm))}")
        if torch_seconds:
            result.update(torch_seconds=statistics.median(torch_seconds))
            result.update(speedup_vs_torch=result["torch_seconds"] / result["seconds"],
                          warm_speedup_vs_torch=result["torch_seconds"] / result["warm_seconds"])
            print(f"  torch loop: {result['torch_seconds']:.2f} s -> imbjax {result['speedup_vs_torch']:.2f}x "
                  f"(cold), {result['warm_speedup_vs_torch']:.2f}x (warm)")
        if floor_cold:
            result.update(floor_summary(floor_cold, floor_warm, result.get("torch_seconds")))
            print(f"  {describe_floor(result)}")
        print(f"  [medians of {args.repeat}]", flush=True)
        results[name] = result
    print(json.dumps({"xla_flags": args.xla_flags, "workloads": results}))


if __name__ == "__main__":
    main()
