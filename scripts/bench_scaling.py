"""How sweep throughput grows with the sweep width and the device count (issue 7's benchmark).

The MLP workload of the core benchmark (digits, step mu = 0.5, MLP 64-128-128-10, Adam 1e-3,
batch 64, ROS) at widths of 1, 10, 100 and 1,000 runs, each width on 1 and on 2 CPU devices
(every measurement in a fresh subprocess with ``JAX_NUM_CPU_DEVICES`` set, compilation cache
off, so compile seconds are real). Prints runs/s (training only), compile seconds and the
process's peak memory, writes ``results/scaling/scaling.json`` and ``scaling.png``.

    python scripts/bench_scaling.py [--steps 300] [--widths 1 10 100 1000] [--devices 1 2] [--auto-runs 1000]

Each width trains in one part (``max_parallel = width``); ``--auto-runs N`` adds, per device count, N runs in
parts as wide as the runner picks itself (``max_parallel = 0``: memory and, on CPU, the shared cache), and the
last JSON line gives its runs/s over the best fixed width's.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(width: int, steps: int, auto: bool = False) -> dict:
    """Train ``width`` ROS runs of one sharded group in one part, or, with ``auto``, in parts as wide as the
    runner picks (``max_parallel = 0``); runs inside the child process."""
    import jax

    from imbjax import data
    from imbjax.config import base_config, program_spec
    from imbjax.sweep import grid, runner
    from imbjax.engine.program import DeviceData

    config = base_config()
    config.methods = ("ros",)
    config.rhos = (1.0, 10.0, 50.0, 100.0)
    config.seeds = max(1, -(-width // 4))
    config.num_steps = steps
    (group,) = grid.expand(config)
    runs = group.runs[:width]
    dataset = data.load("digits")
    spec = program_spec(config, dataset, profile="step", method_names=group.methods)
    mesh = runner.run_mesh()
    device_data = jax.device_put(DeviceData.from_dataset(dataset),
                                 runner.NamedSharding(mesh, runner.PartitionSpec()))
    max_parallel = 0 if auto else width
    _, compile_seconds, run_seconds = runner.train_group(spec, device_data, runs, mesh=mesh, max_parallel=max_parallel)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    part_width = runner.runs_at_once(width, "vmap", max_parallel, runner.state_bytes(spec, device_data), mesh)
    return {"width": width, "devices": jax.device_count(), "steps": steps, "compile_seconds": compile_seconds,
            "run_seconds": run_seconds, "runs_per_s": width / run_seconds, "peak_mib": peak_mib,
            **({"auto": True, "part_width": part_width} if auto else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "scaling")
    parser.add_argument("--auto-runs", type=int, default=0,
                        help="also train this many runs at the width the runner picks (max_parallel 0)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-auto", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.steps, args.child_auto)))
        return
    rows = []
    print(f"{'devices':>7} {'width':>6} {'compile s':>9} {'train s':>8} {'runs/s':>8} {'peak MiB':>9}")
    for devices in args.devices:
        measurements = [(width, []) for width in args.widths]
        if args.auto_runs:
            measurements.append((args.auto_runs, ["--child-auto"]))
        for width, flags in measurements:
            env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(devices), "JAX_ENABLE_COMPILATION_CACHE": "false"}
            out = subprocess.run([sys.executable, __file__, "--child", str(width), "--steps", str(args.steps), *flags],
                                 env=env, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            label = f"{width} (auto, parts of {row['part_width']})" if row.get("auto") else str(width)
            print(f"{row['devices']:>7} {label:>6} {row['compile_seconds']:>9.1f} {row['run_seconds']:>8.2f} "
                  f"{row['runs_per_s']:>8.1f} {row['peak_mib']:>9.0f}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(rows, indent=2) + "\n")
    from imbjax.analysis.plots import plot_scaling  # here, not at the top: keeps matplotlib out of the children

    plot_scaling(rows, args.out / "scaling.png")
    print(json.dumps({"rows": len(rows), "max_runs_per_s": max(r["runs_per_s"] for r in rows),
                      "auto_over_best_width": auto_over_best_width(rows), "figure": str(args.out / "scaling.png")}))


def auto_over_best_width(rows: list[dict]) -> dict[int, float]:
    """``{devices: runs/s of the runner's own width / runs/s of the best fixed width}`` for each device count
    with an ``auto`` row."""
    ratios = {}
    for auto in (r for r in rows if r.get("auto")):
        fixed = [r["runs_per_s"] for r in rows if r["devices"] == auto["devices"] and not r.get("auto")]
        if fixed:
            ratios[auto["devices"]] = auto["runs_per_s"] / max(fixed)
    return ratios


if __name__ == "__main__":
    main()
