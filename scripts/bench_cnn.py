"""Convolutional sweeps through imbjax's engine on CPU, against the PyTorch peers and the JAX floor.

Workloads (``benchlib.WORKLOADS``; each run: ``make_program`` / ``run_program`` of a ProgramSpec:
method "baseline", step profile at rho 1, Adam, uniform batches, then every test-set metric):

* ``lenet5``: 8 runs x 100 steps of LeNet-5 on 6,000 random 28x28 images with balanced labels,
  batch 64, Adam 1e-3; 1,000 random test images (speed only: nothing to learn).
* ``mnist1d_cnn``: the CNN runs of experiments/mnist1d_benchmark.py, the MNIST-1D paper's recipe:
  10 seeds x 8,000 steps of its ConvBase on MNIST-1D (4,000 / 1,000 examples of length 40),
  batch 100, Adam 1e-2.
* ``small_cnn``: SmallCNN on scikit-learn digits as 8x8 images, 8 runs x 300 steps (no peers).
* ``resnet20``: a CIFAR-style ResNet-20 (GroupNorm), 2 runs x 20 steps on 2,000 random 32x32x3
  images (a CPU is slow for it; the order of magnitude only; no peers).

Measured for each workload, in this one invocation, ``--repeat`` times (medians reported):

* ``sweep``: imbjax, twice in fresh subprocesses sharing a new, empty compilation cache: cold
  (tracing and XLA compilation) then warm (the runner's saved program and XLA executable loaded);
  seconds end to end (data to device, compilation, training, evaluation, results to host);
* ``floor``: the smallest JAX program of the workload (scripts/jax_floor.py), cold and warm;
* ``torch``: the PyTorch per-run loop, and ``torch_vmap``: all runs at once with ``torch.func``
  (scripts/torch_peers/), when torch is importable; their seconds exclude imports, data set-up and
  a warm-up run.

Achieved GFLOP/s counts the model's training FLOPs (3x the forward pass, from XLA's cost analysis of
the ``conv_impl="xla"`` model, plus the test-set forward passes) against a 2048x2048 float32 matmul
in the same child. Sweep layouts (``--layout``): ``single`` (the default, what the runner's
``--layout auto`` picks for convolutional models on CPU) trains one run per device per call;
``vmap`` is ``jit(vmap(run))`` with the run axis sharded; ``map`` runs each device's runs with
``lax.map`` (``--map-batch`` at a time); ``loop`` calls one jitted run per run.

    python scripts/bench_cnn.py [--workloads lenet5 mnist1d_cnn] [--steps N] [--runs N] [--repeat 3]
        [--layout single] [--conv-impl auto] [--no-torch] [--torch-threads N] [--no-floor]

The last line is JSON ``{"workloads": {name: {...}}}``, per workload ``sweep_seconds``,
``sweep_compile_seconds``, ``sweep_run_seconds``, the same prefixed ``warm_``, ``floor_seconds``,
``warm_floor_seconds`` (floor workloads), ``torch_seconds``, ``torch_vmap_seconds`` (with torch), and
the ratios of ``benchlib.peer_ratios`` (``torch_speedup_warm`` = torch / warm imbjax, ...).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from benchlib import (DEFAULT_XLA_FLAGS, LAYOUTS, WORKLOADS, describe_peers, floor_command, floor_summary,
                      load_dataset, matmul_peak_gflops, median_of, peer_ratios, print_json, program_spec, run_child,
                      timed_sweep, torch_available, torch_peer_command, training_flops)

CNN_WORKLOADS = ("lenet5", "mnist1d_cnn", "small_cnn", "resnet20")
#: The workloads scripts/jax_floor.py has a floor for.
FLOOR_WORKLOADS = ("lenet5", "mnist1d_cnn")
SWEEP_TIMINGS = ("sweep_seconds", "sweep_compile_seconds", "sweep_run_seconds", "gflops", "peak_gflops")


def measure(name: str, runs: int | None, steps: int | None, layout: str, width: int, map_batch: int,
            conv_impl: str) -> dict:
    """One measurement of workload ``name`` through imbjax (call in a fresh process)."""
    import jax
    import numpy as np

    workload = WORKLOADS[name].scaled(runs, steps)
    dataset = load_dataset(workload)
    spec = program_spec(workload, dataset, conv_impl)
    timing = timed_sweep(layout, workload, spec, dataset, width=width, map_batch=map_batch)
    flops = training_flops(spec, workload.runs, len(dataset.y_test))
    return {"workload": name, "model": workload.model, "runs": workload.runs, "steps": workload.steps,
            "layout": layout, "width": width, "map_batch": map_batch, "conv_impl": conv_impl,
            "devices": jax.device_count(), "sweep_seconds": timing["seconds"],
            "sweep_compile_seconds": timing["compile_seconds"], "sweep_run_seconds": timing["run_seconds"],
            "gflop": flops / 1e9, "gflops": flops / 1e9 / timing["run_seconds"], "peak_gflops": matmul_peak_gflops(),
            "mean_accuracy": float(np.mean(timing["metrics"]["accuracy"]))}


def describe_sweep(row: dict, prefix: str = "") -> str:
    seconds, compile_seconds = row[f"{prefix}sweep_seconds"], row[f"{prefix}sweep_compile_seconds"]
    return (f"{seconds:.2f} s end to end (compile {compile_seconds:.2f} s, run {seconds - compile_seconds:.2f} s), "
            f"{row['runs'] / seconds:.2f} runs/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=list(FLOOR_WORKLOADS), choices=CNN_WORKLOADS)
    parser.add_argument("--runs", type=int, default=None, help="runs of every workload (default: its own)")
    parser.add_argument("--steps", type=int, default=None, help="steps of every workload (default: its own)")
    parser.add_argument("--layout", default="single", choices=LAYOUTS)
    parser.add_argument("--width", type=int, default=0, help="runs per call for vmap/map (0: all)")
    parser.add_argument("--map-batch", type=int, default=1, help="runs vmapped at a time per device (--layout map)")
    parser.add_argument("--conv-impl", default="auto", choices=["auto", "patches", "xla"])
    parser.add_argument("--devices", type=int, default=None, help="CPU devices (default: one per core)")
    parser.add_argument("--xla-flags", default=DEFAULT_XLA_FLAGS, help="XLA_FLAGS for the imbjax children")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per workload; medians are reported")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peers")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="threads of the PyTorch peers (0: torch's default, one per core)")
    parser.add_argument("--no-floor", action="store_true", help="skip the smallest JAX program")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        os.environ["XLA_FLAGS"] = args.xla_flags
        from imbjax import runtime

        runtime.configure(cpu_devices=args.devices)
        print_json(measure(args.child, args.runs, args.steps, args.layout, args.width, args.map_batch,
                           args.conv_impl))
        return

    with_torch = not args.no_torch and torch_available()
    results = {}
    for name in args.workloads:
        workload = WORKLOADS[name].scaled(args.runs, args.steps)
        with_floor = not args.no_floor and name in FLOOR_WORKLOADS
        peers = ("loop", "vmap") if with_torch and workload.torch_peer else ()
        command = [sys.executable, __file__, "--child", name, "--runs", str(workload.runs), "--steps",
                   str(workload.steps), "--layout", args.layout, "--width", str(args.width), "--map-batch",
                   str(args.map_batch), "--conv-impl", args.conv_impl, f"--xla-flags={args.xla_flags}"]
        if args.devices:
            command += ["--devices", str(args.devices)]
        cold, warm, floor_cold, floor_warm = [], [], [], []
        torch_seconds = {mode: [] for mode in peers}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="imbjax-bench-cache-") as cache:
                env = {**os.environ, "IMBJAX_CACHE_DIR": cache}
                cold.append(run_child(command, env))
                warm.append(run_child(command, env))
                if with_floor:
                    floor_env = {**env, "XLA_FLAGS": args.xla_flags}
                    floor_cold.append(run_child(floor_command(name, workload, args.devices), floor_env))
                    floor_warm.append(run_child(floor_command(name, workload, args.devices), floor_env))
            for mode in peers:
                torch_seconds[mode].append(run_child(torch_peer_command(workload, mode, args.torch_threads))["seconds"])
        result = median_of(cold, SWEEP_TIMINGS)
        result.update({f"warm_{key}": value for key, value in median_of(warm, SWEEP_TIMINGS).items()
                       if key in SWEEP_TIMINGS})
        result.update(repeats=args.repeat, floor_seconds=None, warm_floor_seconds=None, torch_seconds=None,
                      torch_vmap_seconds=None, torch_threads=args.torch_threads)
        if floor_cold:
            result.update(floor_summary(floor_cold, floor_warm))
        for mode, seconds in torch_seconds.items():
            result["torch_seconds" if mode == "loop" else "torch_vmap_seconds"] = statistics.median(seconds)
        result.update(peer_ratios(result))
        print(f"{name} {result['runs']} runs x {result['steps']} steps, {result['layout']} on {result['devices']} "
              f"device(s) [medians of {args.repeat}]\n  imbjax cold: {describe_sweep(result)}\n"
              f"  imbjax warm: {describe_sweep(result, 'warm_')}\n  {describe_peers(result)}", flush=True)
        results[name] = result
    print_json({"xla_flags": args.xla_flags, "workloads": results})


if __name__ == "__main__":
    main()
