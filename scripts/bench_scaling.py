"""How sweep throughput grows with the sweep width and the device count (issue 7's benchmark).

The MLP workload of the core benchmark (digits, step mu = 0.5, MLP 64-128-128-10, Adam 1e-3,
batch 64, ROS) at widths of 1, 10, 100 and 1,000 runs, each width on 1 and on 2 CPU devices
(every measurement in a fresh subprocess with ``JAX_NUM_CPU_DEVICES`` set, compilation cache
off, so compile seconds are real). Prints runs/s (training only), compile seconds and the
process's peak memory, writes ``results/scaling/scaling.json`` and ``scaling.png``.

    python scripts/bench_scaling.py [--steps 300] [--widths 1 10 100 1000] [--devices 1 2]
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


def measure(width: int, steps: int) -> dict:
    """Train ``width`` ROS runs in one sharded group; runs inside the child process."""
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
    _, compile_seconds, run_seconds = runner.train_group(spec, device_data, runs, mesh=mesh)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"width": width, "devices": jax.device_count(), "steps": steps, "compile_seconds": compile_seconds,
            "run_seconds": run_seconds, "runs_per_s": width / run_seconds, "peak_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "scaling")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.steps)))
        return
    rows = []
    print(f"{'devices':>7} {'width':>6} {'compile s':>9} {'train s':>8} {'runs/s':>8} {'peak MiB':>9}")
    for devices in args.devices:
        for width in args.widths:
            env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(devices), "JAX_ENABLE_COMPILATION_CACHE": "false"}
            out = subprocess.run([sys.executable, __file__, "--child", str(width), "--steps", str(args.steps)],
                                 env=env, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{row['devices']:>7} {width:>6} {row['compile_seconds']:>9.1f} {row['run_seconds']:>8.2f} "
                  f"{row['runs_per_s']:>8.1f} {row['peak_mib']:>9.0f}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(rows, indent=2) + "\n")
    from imbjax.analysis.plots import plot_scaling  # here, not at the top: keeps matplotlib out of the children

    plot_scaling(rows, args.out / "scaling.png")
    print(json.dumps({"rows": len(rows), "max_runs_per_s": max(r["runs_per_s"] for r in rows),
                      "figure": str(args.out / "scaling.png")}))


if __name__ == "__main__":
    main()
