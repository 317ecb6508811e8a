"""The core sweep benchmark (issue 2): 40 MLP runs as one sharded sweep, as a per-run loop, and
as the PyTorch reference loop.

Workload: scikit-learn digits, step imbalance mu = 0.5, rho in {1, 10, 50, 100}, 10 seeds
(40 runs), MLP 64-128-128-10, Adam lr 1e-3, batch 64, 300 steps, ROS sampling; each run ends
with every test-set metric. Measured, in one invocation:

(a) ``sweep``: ``imbjax.sweep.runner.train_group``, one ``jit(vmap(run))`` with the run axis
    sharded over every local CPU device (``imbjax.runtime.configure()``: one device per core);
(b) ``loop``: the same run as one jitted function called 40 times (one compile);
(c) ``torch``: shared/bench/torch_mlp_sweep.py (``bench_cnn.TORCH_BENCH``) in a subprocess, when torch is importable
    (its seconds exclude imports and its warm-up run);
(d) ``floor``: the smallest JAX program of the workload, without imbjax's engine
    (scripts/jax_floor.py), cold and warm: what any JAX implementation pays on this machine.

(a) and (b) run twice in fresh subprocesses that share a new, empty persistent compilation
cache: ``cold`` (compiles) then ``warm`` (loads the compiled programs from the cache). Seconds
are wall time end to end (data to device, compilation, training, evaluation, results to host).
Achieved GFLOP/s counts the MLP's training FLOPs (3x forward per step plus the test-set forward
passes) against a 2048x2048 float32 matmul measured in the same process. ``--repeat N``
reports medians of N such measurements (the 2-core machines here are shared, timings are noisy).

    python scripts/bench_sweep.py [--repeat 3] [--no-torch] [--no-floor] [--xla-flags ...]

The last line is JSON with ``runs``, ``devices``, ``sweep_seconds``, ``sweep_compile_seconds``,
``loop_seconds``, ``loop_compile_seconds`` (cold), the same prefixed ``warm_``, GFLOP/s, and
when measured ``torch_seconds`` and the speedups ``torch / sweep`` cold and warm, and the
floor's seconds (``floor_*``, ``warm_floor_*``) and ratios ``floor_speedup_*`` (torch / floor).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cnn import (DEFAULT_XLA_FLAGS, forward_flops, matmul_peak_gflops, run_child,  # noqa: E402
                       torch_script)
from jax_floor import describe_floor, floor_command, floor_summary  # noqa: E402

TIMINGS = ("sweep_seconds", "sweep_compile_seconds", "loop_seconds", "loop_compile_seconds", "sweep_gflops",
           "loop_gflops", "peak_gflops")


def sweep_config():
    from imbjax.config import base_config

    config = base_config()
    config.datasets = ("digits",)
    config.profiles = ("step",)
    config.mus = (0.5,)
    config.rhos = (1.0, 10.0, 50.0, 100.0)
    config.seeds = 10
    config.methods = ("ros",)
    config.model = "mlp"
    config.model_kwargs.hidden = (128, 128)
    config.learning_rates = (1e-3,)
    config.batch_size = 64
    config.num_steps = 300
    return config


def measure() -> dict:
    """(a) and (b) once, in this process (call after ``runtime.configure``)."""
    import jax
    import numpy as np

    from imbjax import data
    from imbjax.sweep import grid, runner
    from imbjax.config import program_spec
    from imbjax.engine.program import DeviceData, run_program
    from imbjax.methods import make_program

    config = sweep_config()
    (group,) = grid.expand(config)
    dataset = data.load("digits")
    spec = program_spec(config, dataset, profile="step", method_names=group.methods)
    model_flops = len(group.runs) * (
        3 * spec.num_steps * forward_flops("mlp", {"hidden": (128, 128)}, spec.input_shape, spec.batch_size, 10)
        + forward_flops("mlp", {"hidden": (128, 128)}, spec.input_shape, len(dataset.y_test), 10))

    start = time.perf_counter()
    mesh = runner.run_mesh()
    sharded_data = jax.device_put(DeviceData.from_dataset(dataset), runner.NamedSharding(mesh, runner.PartitionSpec()))
    sweep_columns, sweep_compile, sweep_run = runner.train_group(spec, sharded_data, group.runs, mesh=mesh)
    sweep_seconds = time.perf_counter() - start

    start = time.perf_counter()
    device_data = jax.device_put(DeviceData.from_dataset(dataset), jax.devices()[0])
    hparams = grid.stack_hparams(group.runs, spec.hparam_defaults())
    run_inputs = [(jax.random.PRNGKey(run.seed), {k: v[i] for k, v in hparams.items()})
                  for i, run in enumerate(group.runs)]
    compile_start = time.perf_counter()
    train = jax.jit(functools.partial(run_program, make_program(spec), spec)).lower(
        device_data, *run_inputs[0]).compile()
    loop_compile = time.perf_counter() - compile_start
    loop_accuracy = [float(jax.device_get(train(device_data, key, h)["balanced_accuracy"])) for key, h in run_inputs]
    loop_seconds = time.perf_counter() - start
    loop_run = loop_seconds - loop_compile

    return {"runs": len(group.runs), "devices": jax.device_count(), "steps": spec.num_steps,
            "sweep_seconds": sweep_seconds, "sweep_compile_seconds": sweep_compile,
            "loop_seconds": loop_seconds, "loop_compile_seconds": loop_compile,
            "sweep_gflops": model_flops / 1e9 / sweep_run, "loop_gflops": model_flops / 1e9 / loop_run,
            "peak_gflops": matmul_peak_gflops(),
            "max_balanced_accuracy_difference": float(np.max(np.abs(
                np.asarray(loop_accuracy) - sweep_columns["balanced_accuracy"]))),
            "mean_balanced_accuracy": float(np.mean(sweep_columns["balanced_accuracy"]))}


def median_rows(rows: list[dict]) -> dict:
    merged = dict(rows[0])
    for key in TIMINGS:
        merged[key] = statistics.median(r[key] for r in rows)
    return merged


def report(label: str, row: dict, torch_seconds: float | None) -> None:
    runs = row["runs"]
    print(f"[{label}] sweep ({row['devices']} devices): {row['sweep_seconds']:.2f} s "
          f"(compile {row['sweep_compile_seconds']:.2f} s), {runs / row['sweep_seconds']:.1f} runs/s, "
          f"{row['sweep_gflops']:.1f} GFLOP/s; per-run loop: {row['loop_seconds']:.2f} s "
          f"(compile {row['loop_compile_seconds']:.2f} s), {runs / row['loop_seconds']:.1f} runs/s, "
          f"{row['loop_gflops']:.1f} GFLOP/s; matmul peak {row['peak_gflops']:.0f} GFLOP/s"
          + (f"; torch loop {torch_seconds:.2f} s -> sweep {torch_seconds / row['sweep_seconds']:.1f}x, "
             f"loop {torch_seconds / row['loop_seconds']:.1f}x" if torch_seconds else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="cold+warm measurements; medians are reported")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference loop")
    parser.add_argument("--no-floor", action="store_true", help="skip the minimal JAX program")
    parser.add_argument("--xla-flags", default=DEFAULT_XLA_FLAGS, help="XLA_FLAGS for the imbjax children")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        os.environ["XLA_FLAGS"] = args.xla_flags
        from imbjax import runtime

        runtime.configure()
        print(json.dumps(measure()))
        return

    cold, warm, torch_runs, floor_cold, floor_warm = [], [], [], [], []
    torch_loop = None if args.no_torch else torch_script("torch_mlp_sweep.py")
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="imbjax-bench-cache-") as cache:
            env = {**os.environ, "IMBJAX_CACHE_DIR": cache}
            env.pop("JAX_NUM_CPU_DEVICES", None)
            command = [sys.executable, __file__, "--child", f"--xla-flags={args.xla_flags}"]
            cold.append(run_child(command, env))
            warm.append(run_child(command, env))
            if not args.no_floor:
                floor_env = {**env, "XLA_FLAGS": args.xla_flags}
                floor_cold.append(run_child(floor_command("mlp"), floor_env))
                floor_warm.append(run_child(floor_command("mlp"), floor_env))
        if torch_loop:
            torch_runs.append(run_child([sys.executable, str(torch_loop)])["seconds"])
    cold_row, warm_row = median_rows(cold), median_rows(warm)
    torch_seconds = statistics.median(torch_runs) if torch_runs else None
    report("cold cache", cold_row, torch_seconds)
    report("warm cache", warm_row, torch_seconds)
    summary = {"runs": cold_row["runs"], "devices": cold_row["devices"], "steps": cold_row["steps"],
               "repeats": args.repeat, "xla_flags": args.xla_flags,
               **{key: cold_row[key] for key in TIMINGS},
               **{f"warm_{key}": warm_row[key] for key in TIMINGS},
               "max_balanced_accuracy_difference": cold_row["max_balanced_accuracy_difference"]}
    if torch_seconds:
        summary.update(torch_seconds=torch_seconds,
                       speedup_cold=torch_seconds / cold_row["sweep_seconds"],
                       speedup_warm=torch_seconds / warm_row["sweep_seconds"],
                       loop_speedup_cold=torch_seconds / cold_row["loop_seconds"],
                       loop_speedup_warm=torch_seconds / warm_row["loop_seconds"])
    if floor_cold:
        summary.update(floor_summary(floor_cold, floor_warm, torch_seconds))
        print(f"[{cold_row['runs']} runs] {describe_floor(summary)}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
