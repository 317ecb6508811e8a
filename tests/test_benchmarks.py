"""Smoke runs of benchmark scripts at tiny sizes: they run end to end and print what they promise.

Speed is never asserted (the numbers come from full-size runs, docs/performance.md); these tests
keep the scripts working between the sessions that measure with them, and check the results the
scripts compare against each other.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_bench_metrics_tiny_agrees_with_scikit_learn():
    out = subprocess.run([sys.executable, "scripts/bench_metrics.py", "--runs", "6", "--examples", "60", "--classes",
                          "3", "--sklearn-runs", "3", "--rounds", "2", "--repeats", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    record = last_json_line(out.stdout)
    assert (record["runs"], record["examples"], record["classes"], record["rounds"]) == (6, 60, 3, 2)
    assert len(record["speedups"]) == 2 and record["speedup"] > 0 and record["jax_seconds"] > 0
    assert record["max_difference"] < 1e-5  # compute_all_runs against scikit-learn / imbalanced-learn


@pytest.mark.slow
def test_gpu_bench_tiny_runs_every_measurement_on_cpu(tmp_path):
    env = {**os.environ, "IMBJAX_BENCH_TINY": "1"}
    out = subprocess.run(["bash", "scripts/gpu_bench.sh", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_bench_tiny.json").read_text())
    assert result["tiny"] is True and result["backend"] == "cpu"
    rows = {(row["workload"], row["layout"], row["runs"]): row for row in result["rows"]}
    assert set(rows) == {(name, layout, 2) for name in ("mlp", "lenet5") for layout in ("vmap", "loop")}
    for key, row in rows.items():
        assert "error" not in row and "skipped" not in row, (key, row)
        assert row["runs_per_s"] > 0 and 0.0 <= row["mean_accuracy"] <= 1.0, key
    for name in ("mlp", "lenet5"):  # the same two runs, vmapped and one by one
        assert rows[name, "vmap", 2]["mean_accuracy"] == pytest.approx(rows[name, "loop", 2]["mean_accuracy"], abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("workload, runs, steps", [("mlp", 2, 60), ("lenet5", 2, 2)])
def test_jax_floor_trains_its_workload(workload, runs, steps):
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "scripts/jax_floor.py", workload, "--runs", str(runs), "--steps", str(steps)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    assert out.returncode == 0, out.stderr[-3000:]
    record = last_json_line(out.stdout)
    assert (record["workload"], record["runs"], record["steps"]) == (workload, runs, steps)
    # Each timed part is positive and the whole fits inside the process's wall time.
    assert record["compile_seconds"] > 0 and record["run_seconds"] > 0 and 0 < record["seconds"] < wall
    if workload == "mlp":  # 60 Adam steps on digits learn (chance is 0.1); the random LeNet-5 data has nothing to learn
        assert record["mean_accuracy"] > 0.6
    else:
        assert 0.0 <= record["mean_accuracy"] <= 1.0


def test_jax_floor_rejects_an_unknown_workload(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from jax_floor import workload_parts

    with pytest.raises(ValueError, match=r"unknown floor workload 'resnet'.*'mlp', 'lenet5'"):
        workload_parts("resnet", None, None)
