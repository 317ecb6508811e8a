"""The core sweep benchmark: 40 MLP runs as one sharded imbjax sweep, against a per-run loop of the
same program, the PyTorch peers and the JAX floor, all in one invocation.

Workload (``benchlib.WORKLOADS["mlp"]``): scikit-learn digits, step imbalance mu = 0.5, rho in
{1, 10, 50, 100} (n_max 100, every rho exact), 10 seeds (40 runs), MLP 64-128-128-10, Adam lr 1e-3,
batch 64, 300 steps, ROS sampling; each run ends with every test-set metric. Measured:

(a) ``sweep``: ``imbjax.sweep.runner.train_group``, one ``jit(vmap(run))`` with the run axis
    sharded over every local CPU device (``imbjax.runtime.configure()``: one device per core);
(b) ``loop``: the same run as one jitted function called 40 times (one compile);
(c) ``torch`` and ``torch_vmap``: scripts/torch_peers/mlp.py as a per-run loop and as all 40 runs
    at once with ``torch.func``, when torch is importable (seconds exclude imports, data set-up and
    a warm-up run);
(d) ``floor``: the smallest JAX program of the workload, without imbjax's engine
    (scripts/jax_floor.py), cold and warm: what any JAX implementation pays on this machine.

(a) and (b) run twice in fresh subprocesses that share a new, empty compilation cache: cold
(compiles) then warm (loads the saved program and compiled executable). Seconds are wall time end
to end (data to device, compilation, training, evaluation, results to host). Achieved GFLOP/s
counts the MLP's training FLOPs (3x forward per step plus the test-set forward passes) against a
2048x2048 float32 matmul in the same process. ``--repeat N`` reports medians of N measurements.

    python scripts/bench_sweep.py [--repeat 3] [--steps N] [--no-torch] [--torch-threads N] [--no-floor] [--xla-flags ...]

The last line is JSON: ``runs``, ``devices``, ``sweep_seconds``, ``sweep_compile_seconds``,
``loop_seconds``, ``loop_compile_seconds`` (cold), the same prefixed ``warm_``, GFLOP/s,
``floor_seconds``, ``warm_floor_seconds``, ``torch_seconds``, ``torch_vmap_seconds`` (null when not
measured) and the ratios of ``benchlib.peer_ratios`` (``torch_vmap_speedup_warm`` = torch.func
vmap seconds / warm imbjax seconds, ...).
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time

from benchlib import (DEFAULT_XLA_FLAGS, WORKLOADS, describe_peers, floor_command, floor_summary, forward_flops,
                      matmul_peak_gflops, median_of, peer_ratios, print_json, run_child, torch_available,
                      torch_peer_command)

TIMINGS = ("sweep_seconds", "sweep_compile_seconds", "loop_seconds", "loop_compile_seconds", "sweep_gflops",
           "loop_gflops", "peak_gflops")


def sweep_config(steps: int):
    """The MLP workload as an imbjax config: ``WORKLOADS["mlp"]`` with ``steps`` steps."""
    from imbjax.config import base_config

    workload = WORKLOADS["mlp"]
    config = base_config()
    config.datasets = (workload.data,)
    config.profiles = ("step",)
    config.mus = (0.5,)
    config.rhos = workload.rhos
    config.seeds = workload.runs // len(workload.rhos)
    config.methods = ("ros",)
    config.model = workload.model
    config.model_kwargs.hidden = dict(workload.model_kwargs)["hidden"]
    config.learning_rates = (workload.learning_rate,)
    config.batch_size = workload.batch_size
    config.num_steps = steps
    return config


def measure(steps: int) -> dict:
    """(a) and (b) once, in this process (call after ``runtime.configure``)."""
    import jax
    import numpy as np

    from imbjax import data
    from imbjax.sweep import grid, runner
    from imbjax.config import program_spec
    from imbjax.engine.program import DeviceData, run_program
    from imbjax.methods import make_program

    config = sweep_config(steps)
    (group,) = grid.expand(config)
    dataset = data.load("digits")
    spec = program_spec(config, dataset, profile="step", method_names=group.methods)
    model_kwargs = dict(spec.model_kwargs)
    model_flops = len(group.runs) * (
        3 * spec.num_steps * forward_flops("mlp", model_kwargs, spec.input_shape, spec.batch_size, 10)
        + forward_flops("mlp", model_kwargs, spec.input_shape, len(dataset.y_test), 10))

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

    return {"runs": len(group.runs), "devices": jax.device_count(), "steps": spec.num_steps, "n_max": spec.n_max,
            "sweep_seconds": sweep_seconds, "sweep_compile_seconds": sweep_compile,
            "loop_seconds": loop_seconds, "loop_compile_seconds": loop_compile,
            "sweep_gflops": model_flops / 1e9 / sweep_run,
            "loop_gflops": model_flops / 1e9 / (loop_seconds - loop_compile),
            "peak_gflops": matmul_peak_gflops(),
            "max_balanced_accuracy_difference": float(np.max(np.abs(
                np.asarray(loop_accuracy) - sweep_columns["balanced_accuracy"]))),
            "mean_balanced_accuracy": float(np.mean(sweep_columns["balanced_accuracy"]))}


def describe(label: str, row: dict) -> str:
    runs = row["runs"]
    return (f"[{label}] sweep ({row['devices']} devices): {row['sweep_seconds']:.2f} s "
            f"(compile {row['sweep_compile_seconds']:.2f} s), {runs / row['sweep_seconds']:.1f} runs/s, "
            f"{row['sweep_gflops']:.1f} GFLOP/s; per-run loop: {row['loop_seconds']:.2f} s "
            f"(compile {row['loop_compile_seconds']:.2f} s), {runs / row['loop_seconds']:.1f} runs/s, "
            f"{row['loop_gflops']:.1f} GFLOP/s; matmul peak {row['peak_gflops']:.0f} GFLOP/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="cold+warm measurements; medians are reported")
    parser.add_argument("--steps", type=int, default=WORKLOADS["mlp"].steps, help="training steps of every run")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peers")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="threads of the PyTorch peers (0: torch's default, one per core)")
    parser.add_argument("--no-floor", action="store_true", help="skip the smallest JAX program")
    parser.add_argument("--xla-flags", default=DEFAULT_XLA_FLAGS, help="XLA_FLAGS for the imbjax children")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        os.environ["XLA_FLAGS"] = args.xla_flags
        from imbjax import runtime

        runtime.configure()
        print_json(measure(args.steps))
        return

    workload = WORKLOADS["mlp"].scaled(steps=args.steps)
    peers = ("loop", "vmap") if not args.no_torch and torch_available() else ()
    cold, warm, floor_cold, floor_warm = [], [], [], []
    torch_seconds = {mode: [] for mode in peers}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="imbjax-bench-cache-") as cache:
            env = {**os.environ, "IMBJAX_CACHE_DIR": cache}
            env.pop("JAX_NUM_CPU_DEVICES", None)
            command = [sys.executable, __file__, "--child", "--steps", str(args.steps),
                       f"--xla-flags={args.xla_flags}"]
            cold.append(run_child(command, env))
            warm.append(run_child(command, env))
            if not args.no_floor:
                floor_env = {**env, "XLA_FLAGS": args.xla_flags}
                floor_cold.append(run_child(floor_command("mlp", workload), floor_env))
                floor_warm.append(run_child(floor_command("mlp", workload), floor_env))
        for mode in peers:
            torch_seconds[mode].append(run_child(torch_peer_command(workload, mode, args.torch_threads))["seconds"])
    cold_row, warm_row = median_of(cold, TIMINGS), median_of(warm, TIMINGS)
    print(describe("cold cache", cold_row))
    print(describe("warm cache", warm_row))
    summary = {"runs": cold_row["runs"], "devices": cold_row["devices"], "steps": cold_row["steps"],
               "repeats": args.repeat, "xla_flags": args.xla_flags,
               **{key: cold_row[key] for key in TIMINGS},
               **{f"warm_{key}": warm_row[key] for key in TIMINGS},
               "max_balanced_accuracy_difference": cold_row["max_balanced_accuracy_difference"],
               "mean_balanced_accuracy": cold_row["mean_balanced_accuracy"],
               "floor_seconds": None, "warm_floor_seconds": None, "torch_seconds": None, "torch_vmap_seconds": None,
               "torch_threads": args.torch_threads}
    if floor_cold:
        summary.update(floor_summary(floor_cold, floor_warm))
    for mode, seconds in torch_seconds.items():
        summary["torch_seconds" if mode == "loop" else "torch_vmap_seconds"] = statistics.median(seconds)
    summary.update(peer_ratios(summary))
    print(f"[{summary['runs']} runs x {summary['steps']} steps, medians of {args.repeat}] {describe_peers(summary)}")
    print_json(summary)


if __name__ == "__main__":
    main()
