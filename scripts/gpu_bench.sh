#!/usr/bin/env bash
# GPU sweep benchmark, one prepared script (at most ~8 minutes): the MLP, LeNet-5, MNIST-1D CNN and
# ResNet-32 workloads of scripts/benchlib.py (WORKLOADS), each trained through imbjax's engine
# (scripts/benchlib.py timed_sweep) as one vmapped sweep of several widths (jit(vmap(run)) over the
# run axis, sharded over every device) and as a per-run loop (one jitted run called for 16 runs).
# For every vmapped width it reports runs/s, run-steps/s and the speedup over the per-run loop
# (runs/s against runs/s, compilation excluded), with the GPU's utilisation over the training part
# from `nvidia-smi` sampled every 200 ms (mean and max %). Prints a table, writes JSON.
#
#   scripts/gpu_bench.sh [OUT_DIR]           # default OUT_DIR: results/gpu_bench
#   IMBJAX_BENCH_TINY=1 scripts/gpu_bench.sh # CPU smoke run (the tests run it): width 2, 2-5 steps, tiny
#                                            # data, ResNet-8 in place of ResNet-32
#
# Steps are shortened where the workload's own would not fit the time (runs/s scale with them;
# the speedups compare equal steps): MLP 300, LeNet-5 100, MNIST-1D CNN 1,000 (its recipe: 8,000),
# ResNet-32 50. Widths: 1, 16, 256 and 1,024 runs (ResNet-32: 1, 4, 16, 64).
#
# JAX: uses the python of .venv/ if there is one, else python3. If JAX sees no GPU (and the run
# is not tiny), it tries `pip install "jax[cuda12]==<installed jax version>"` once (2 minutes at
# most, no retries, so it fails fast when offline) and otherwise benchmarks whatever backend JAX
# has, which the JSON records. Every measurement is guarded by a deadline: each workload gets a
# quarter of IMBJAX_BENCH_BUDGET_S seconds (default 420), and a width that would start after its
# workload's share is recorded as skipped; an out-of-memory width is recorded with its error.
#
# On a lent GPU machine (../.library/device): its python3 has JAX with CUDA but lacks
# ml_collections, evosax, dotmap and mnist1d. Run scripts/device_wheels.sh here first, then
# `bash scripts/gpu_bench.sh $OUT` there with ".whl" in `carry`: wheels found in .whl/ are
# installed into a temporary folder on PYTHONPATH.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT_DIR="${1:-results/gpu_bench}"
mkdir -p "$OUT_DIR"
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
export PYTHONPATH="$ROOT:$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then  # carried wheels (scripts/device_wheels.sh)
  SITE="$(mktemp -d)"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:$SITE" && echo "installed $(ls .whl | tr '\n' ' ')into $SITE"
fi
TINY="${IMBJAX_BENCH_TINY:-0}"
START=$(date +%s)

backend() { "$PY" -c 'import jax; print(jax.default_backend())' 2>/dev/null || echo none; }
BACKEND="$(backend)"
echo "python: $PY; JAX backend: $BACKEND"
if [[ "$BACKEND" != "gpu" && "$TINY" != "1" ]]; then
  VERSION="$("$PY" -c 'import jax; print(jax.__version__)' 2>/dev/null || echo "")"
  echo "no GPU backend; trying pip install jax[cuda12]${VERSION:+==$VERSION} (at most 120 s)"
  timeout 120 "$PY" -m pip install -q --retries 0 --timeout 10 "jax[cuda12]${VERSION:+==$VERSION}" || echo "pip install failed; continuing on $BACKEND"
  BACKEND="$(backend)"
  echo "JAX backend now: $BACKEND"
fi
BUDGET=$(( ${IMBJAX_BENCH_BUDGET_S:-420} - ($(date +%s) - START) ))

UTILISATION="$OUT_DIR/nvidia_smi.csv"
rm -f "$UTILISATION"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 \
    > "$UTILISATION" &
  SAMPLER=$!
  trap 'kill $SAMPLER 2>/dev/null || true' EXIT
fi

timeout $(( BUDGET + 120 )) "$PY" - "$OUT_DIR" "$TINY" "$BUDGET" "$UTILISATION" <<'PYTHON'
import dataclasses, datetime, json, platform, sys, time
from pathlib import Path

out_dir, tiny, budget, utilisation_path = Path(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3]), Path(sys.argv[4])
import jax
import numpy as np
from benchlib import WORKLOADS, load_dataset, program_spec, timed_sweep

GPU_STEPS = {"mlp": 300, "lenet5": 100, "mnist1d_cnn": 1000, "resnet32": 50}
WIDTHS = {"resnet32": (1, 4, 16, 64)}
LOOP_RUNS = 2 if tiny else 16


def workload(name):
    """The benchmark workload at this script's steps; tiny: 2-5 steps, small random data, and
    ResNet-8 for ResNet-32 (the same BatchNorm ResNet code, compiled in a fraction of the time)."""
    base = WORKLOADS[name]
    if not tiny:
        return dataclasses.replace(base, steps=GPU_STEPS[name])
    model_kwargs = (("depth", 8), ("norm", "batch")) if name == "resnet32" else base.model_kwargs
    return dataclasses.replace(base, steps=2 if name == "resnet32" else 5, train_size=min(base.train_size, 200),
                               test_size=min(base.test_size, 50), model_kwargs=model_kwargs)


def utilisation(start, end):
    """Mean and max GPU utilisation (%) of the nvidia-smi samples taken between ``start`` and ``end``
    (epoch seconds), or None without samples."""
    if not utilisation_path.exists():
        return None
    samples = []
    for line in utilisation_path.read_text().splitlines():
        parts = [part.strip() for part in line.split(",")]
        try:
            stamp = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            samples.append((stamp, float(parts[1]), float(parts[2])))
        except (ValueError, IndexError):
            continue
    inside = [(u, m) for stamp, u, m in samples if start <= stamp <= end]
    if not inside:
        return None
    return {"mean_utilisation": float(np.mean([u for u, _ in inside])), "max_utilisation": max(u for u, _ in inside),
            "max_memory_mib": max(m for _, m in inside), "samples": len(inside)}


start_time = time.perf_counter()
names = ("mlp", "lenet5", "mnist1d_cnn", "resnet32")
rows = []
for position, name in enumerate(names):
    deadline = start_time + budget * (position + 1) / len(names)
    base = workload(name)
    dataset = load_dataset(base)
    spec = program_spec(base, dataset)
    widths = (2,) if tiny else WIDTHS.get(name, (1, 16, 256, 1024))
    loop_runs_per_s = None
    for layout, sizes in (("loop", (LOOP_RUNS,)), ("vmap", widths)):
        for runs in sizes:
            row = {"workload": name, "model": base.model, "layout": layout, "runs": runs, "steps": base.steps}
            if time.perf_counter() > deadline:
                rows.append({**row, "skipped": "time budget"})
                print(f"{name:11s} {layout:5s} {runs:5d} runs: skipped (time budget)", flush=True)
                continue
            try:
                timing = timed_sweep(layout, dataclasses.replace(base, runs=runs), spec, dataset)
            except Exception as error:  # out of memory at a large width, for example
                rows.append({**row, "error": f"{type(error).__name__}: {str(error)[:300]}"})
                print(f"{name:11s} {layout:5s} {runs:5d} runs: {type(error).__name__}", flush=True)
                continue
            end = time.time()
            run_seconds = timing["run_seconds"]
            row.update(seconds=timing["seconds"], compile_seconds=timing["compile_seconds"], run_seconds=run_seconds,
                       runs_per_s=runs / run_seconds, steps_per_s=runs * base.steps / run_seconds,
                       mean_accuracy=float(np.mean(timing["metrics"]["accuracy"])),
                       utilisation=utilisation(end - run_seconds, end))
            if layout == "loop":
                loop_runs_per_s = row["runs_per_s"]
            elif loop_runs_per_s:
                row["speedup_vs_loop"] = row["runs_per_s"] / loop_runs_per_s
            rows.append(row)
            gpu = row["utilisation"]
            print(f"{name:11s} {layout:5s} {runs:5d} runs: {row['seconds']:7.2f} s (compile {row['compile_seconds']:6.2f} s,"
                  f" run {run_seconds:7.2f} s) {row['runs_per_s']:9.2f} runs/s {row['steps_per_s']:11.0f} run-steps/s"
                  + (f", {row['speedup_vs_loop']:6.1f}x the per-run loop" if "speedup_vs_loop" in row else "")
                  + (f", GPU {gpu['mean_utilisation']:.0f}% mean / {gpu['max_utilisation']:.0f}% max" if gpu else ""),
                  flush=True)

best = {}
for name in names:
    speedups = [row["speedup_vs_loop"] for row in rows if row["workload"] == name and "speedup_vs_loop" in row]
    best[name] = max(speedups) if speedups else None
print("best vmapped speedup over the per-run loop: "
      + ", ".join(f"{name} {value:.1f}x" if value else f"{name} -" for name, value in best.items()))
result = {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
          "python": platform.python_version(), "tiny": tiny, "utilisation_sampled": utilisation_path.exists(),
          "best_speedup_vs_loop": best, "rows": rows}
path = out_dir / ("gpu_bench_tiny.json" if tiny else "gpu_bench.json")
path.write_text(json.dumps(result, indent=1))
print(f"wrote {path}")
print(json.dumps(result))
PYTHON
STATUS=$?
echo "gpu_bench.sh finished in $(( $(date +%s) - START )) s (status $STATUS)"
exit $STATUS
