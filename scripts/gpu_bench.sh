#!/usr/bin/env bash
# GPU sweep benchmark, one prepared script (at most ~5 minutes): the MLP workload of
# scripts/bench_sweep.py (digits, ROS, rho cycling over 1/10/50/100, 300 steps) and the LeNet-5
# workload of scripts/bench_cnn.py (random 28x28 images, 100 steps), each as one vmapped sweep of
# 1, 16, 256 and 1,024 runs (jit(vmap(run)) over the run axis, sharded over every device) and as a
# per-run loop (one jitted run called for min(width, 16) runs). Prints a table, writes JSON.
#
#   scripts/gpu_bench.sh [OUT_DIR]           # default OUT_DIR: results/gpu_bench
#   IMBJAX_BENCH_TINY=1 scripts/gpu_bench.sh # CPU smoke run (the tests run it): width 2, 5 steps, tiny data
#
# JAX: uses the python of .venv/ if there is one, else python3. If JAX sees no GPU (and the run
# is not tiny), it tries `pip install "jax[cuda12]==<installed jax version>"` once (2 minutes at
# most, no retries, so it fails fast when offline) and otherwise benchmarks whatever backend JAX
# has, which the JSON records. Every measurement is guarded by a deadline: sizes that would start
# after IMBJAX_BENCH_BUDGET_S seconds (default 230) are recorded as skipped instead of run.
#
# On a lent GPU machine (../.library/device): its python3 has JAX with CUDA (0.11 when last read;
# imbjax is tested with 0.10) but lacks ml_collections, evosax and dotmap. Run
# scripts/device_wheels.sh here first, then `bash scripts/gpu_bench.sh $OUT` there with ".whl" in
# `carry`: wheels found in .whl/ are installed into a temporary folder on PYTHONPATH.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT_DIR="${1:-results/gpu_bench}"
mkdir -p "$OUT_DIR"
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
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
BUDGET=$(( ${IMBJAX_BENCH_BUDGET_S:-230} - ($(date +%s) - START) ))

timeout 290 "$PY" - "$OUT_DIR" "$TINY" "$BUDGET" <<'PYTHON'
import json, sys, time, platform
from pathlib import Path

out_dir, tiny, budget = Path(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3])
deadline = time.perf_counter() + budget
sys.path.insert(0, "scripts")
import jax
import numpy as np
from imbjax import data, methods
from imbjax.engine.program import ProgramSpec
from imbjax.methods import make_program
from bench_cnn import Workload, random_dataset, timed_sweep

widths = (2,) if tiny else (1, 16, 256, 1024)
loop_runs = 2 if tiny else 16
rhos = (1.0, 10.0, 50.0, 100.0)


def spec_for(name, dataset, steps):
    method = "ros" if name == "mlp" else "baseline"
    model_kwargs = (("hidden", (128, 128)),) if name == "mlp" else (("conv_impl", "auto"),)
    return ProgramSpec(num_classes=dataset.num_classes, input_shape=tuple(dataset.input_shape),
                       methods=(methods.get(method),), model=name, model_kwargs=model_kwargs, batch_size=64,
                       num_steps=steps, profile="step", n_max=int(dataset.train_class_counts().min()))


def workloads():
    lenet = Workload("lenet5", (), 0, 0, "random", (28, 28, 1), train_size=600 if tiny else 6000,
                     test_size=100 if tiny else 1000)
    return {"mlp": (data.load("digits"), 5 if tiny else 300, rhos),
            "lenet5": (random_dataset(lenet), 5 if tiny else 100, (1.0,))}


rows = []
for name, (dataset, steps, run_rhos) in workloads().items():
    spec = spec_for(name, dataset, steps)
    program = make_program(spec)
    for layout, sizes in (("vmap", widths), ("loop", (loop_runs,))):
        for runs in sizes:
            row = {"workload": name, "layout": layout, "runs": runs, "steps": steps}
            if time.perf_counter() > deadline:
                rows.append({**row, "skipped": "time budget"})
                print(f"{name:7s} {layout:5s} {runs:5d} runs: skipped (time budget)", flush=True)
                continue
            try:
                timing = timed_sweep(layout, program, spec, dataset, runs, rhos=run_rhos)
            except Exception as error:  # out of memory on a small device, for example
                rows.append({**row, "error": f"{type(error).__name__}: {str(error)[:300]}"})
                print(f"{name:7s} {layout:5s} {runs:5d} runs: {type(error).__name__}", flush=True)
                continue
            run_seconds = timing["run_seconds"]
            row.update(seconds=timing["seconds"], compile_seconds=timing["compile_seconds"],
                       run_seconds=run_seconds, runs_per_s=runs / run_seconds,
                       steps_per_s=runs * steps / run_seconds,
                       mean_accuracy=float(np.mean(timing["metrics"]["accuracy"])))
            rows.append(row)
            print(f"{name:7s} {layout:5s} {runs:5d} runs: {row['seconds']:7.2f} s (compile {row['compile_seconds']:6.2f} s,"
                  f" run {run_seconds:7.2f} s) {row['runs_per_s']:9.1f} runs/s {row['steps_per_s']:11.0f} run-steps/s",
                  flush=True)

result = {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
          "jax": jax.__version__, "python": platform.python_version(), "tiny": tiny, "rows": rows}
path = out_dir / ("gpu_bench_tiny.json" if tiny else "gpu_bench.json")
path.write_text(json.dumps(result, indent=1))
print(f"wrote {path}")
print(json.dumps(result))
PYTHON
STATUS=$?
echo "gpu_bench.sh finished in $(( $(date +%s) - START )) s (status $STATUS)"
exit $STATUS
