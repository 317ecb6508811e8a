"""Smoke runs of benchmark scripts at tiny sizes: they run end to end and print what they promise.

Speed is never asserted (the numbers come from full-size runs, docs/performance.md); these tests
keep the scripts working between the sessions that measure with them, and check the results the
scripts compare against each other.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


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
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_bench_tiny.json").read_text())
    assert result["tiny"] is True and result["backend"] == "cpu" and result["utilisation_sampled"] is False
    names = ("mlp", "lenet5", "mnist1d_cnn", "resnet32")
    rows = {(row["workload"], row["layout"], row["runs"]): row for row in result["rows"]}
    assert set(rows) == {(name, layout, 2) for name in names for layout in ("vmap", "loop")}
    for key, row in rows.items():
        assert "error" not in row and "skipped" not in row, (key, row)
        assert row["runs_per_s"] > 0 and 0.0 <= row["mean_accuracy"] <= 1.0 and row["utilisation"] is None, key
    for name in names:  # the same two runs, vmapped and one by one; the speedup is of their runs/s
        vmapped, loop = rows[name, "vmap", 2], rows[name, "loop", 2]
        assert vmapped["mean_accuracy"] == pytest.approx(loop["mean_accuracy"], abs=0.02)
        assert vmapped["speedup_vs_loop"] == pytest.approx(vmapped["runs_per_s"] / loop["runs_per_s"])
        assert result["best_speedup_vs_loop"][name] == vmapped["speedup_vs_loop"]


@pytest.mark.slow
@pytest.mark.parametrize("workload, runs, steps", [("mlp", 2, 60), ("lenet5", 2, 2), ("mnist1d_cnn", 2, 200)])
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
    if workload != "lenet5":  # digits and MNIST-1D are learnt (chance is 0.1); random LeNet-5 data is not
        assert record["mean_accuracy"] > 0.5
    else:
        assert 0.0 <= record["mean_accuracy"] <= 1.0


def test_jax_floor_rejects_an_unknown_workload(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from jax_floor import measure_floor

    with pytest.raises(ValueError, match=r"unknown workload 'resnet'.*'mlp', 'lenet5', 'mnist1d_cnn'"):
        measure_floor("resnet")


def script_imports(path: Path) -> set[str]:
    """The top-level module names ``path`` imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("folder, library", [("scripts", "benchlib"), ("scripts/torch_peers", "peerlib")])
def test_scripts_import_no_other_script_than_their_library(folder, library):
    scripts = {path.stem: path for path in (ROOT / folder).glob("*.py")}
    assert library in scripts and len(scripts) > 2
    for name, path in scripts.items():
        siblings = script_imports(path) & (set(scripts) | {"torch_peers"})
        assert siblings <= {library} - {name}, f"{path.relative_to(ROOT)} imports {sorted(siblings)}"


@pytest.fixture()
def benchlib(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import benchlib

    return benchlib


def test_median_of_takes_the_median_of_the_named_keys_only(benchlib):
    rows = [{"seconds": 3.0, "label": "a"}, {"seconds": 1.0, "label": "b"}, {"seconds": 2.0, "label": "c"}]
    assert benchlib.median_of(rows, ("seconds",)) == {"seconds": 2.0, "label": "a"}


def test_peer_ratios_divide_each_peer_by_imbjax(benchlib):
    summary = {"sweep_seconds": 4.0, "warm_sweep_seconds": 2.0, "torch_seconds": 8.0, "torch_vmap_seconds": None,
               "floor_seconds": 3.0, "warm_floor_seconds": 2.5}
    assert benchlib.peer_ratios(summary) == {"torch_speedup_cold": 2.0, "torch_speedup_warm": 4.0,
                                             "floor_ratio_cold": 0.75, "floor_ratio_warm": 1.25}


def test_run_child_returns_the_last_json_line_and_raises_with_stderr(benchlib):
    ok = [sys.executable, "-c", "print('talk'); print('{\"seconds\": 1.5}')"]
    assert benchlib.run_child(ok) == {"seconds": 1.5}
    with pytest.raises(RuntimeError, match="boom"):
        benchlib.run_child([sys.executable, "-c", "import sys; sys.exit('boom')"])


def test_torch_peer_command_and_workloads_reject_unknown_names(benchlib):
    with pytest.raises(ValueError, match=r"unknown torch peer mode 'jit'.*'loop', 'vmap'"):
        benchlib.torch_peer_command(benchlib.WORKLOADS["mlp"], "jit")
    with pytest.raises(ValueError, match=r"unknown workload 'vgg'.*'mlp'"):
        benchlib.check_workload("vgg")


def test_a_missing_torch_is_skipped_with_one_line(benchlib, monkeypatch, capsys):
    monkeypatch.setattr(benchlib.importlib.util, "find_spec", lambda name: None)
    assert benchlib.torch_available() is False
    assert capsys.readouterr().out.count("\n") == 1


def test_every_peer_workload_has_its_peer_script(benchlib):
    peers = {name: w.torch_peer for name, w in benchlib.WORKLOADS.items() if w.torch_peer}
    assert set(peers) == {"mlp", "lenet5", "mnist1d_cnn"}
    assert all((benchlib.TORCH_PEERS / peer).is_file() for peer in peers.values())


PEER_KEYS = ("sweep_seconds", "warm_sweep_seconds", "floor_seconds", "warm_floor_seconds", "torch_seconds",
             "torch_vmap_seconds")


def check_peer_summary(summary: dict) -> None:
    """Every peer measured (torch only when importable), and each ratio the quotient it names."""
    assert all(key in summary for key in PEER_KEYS)
    assert summary["sweep_seconds"] > summary["sweep_compile_seconds"] > 0 and summary["warm_sweep_seconds"] > 0
    assert summary["floor_seconds"] > 0 and summary["warm_floor_seconds"] > 0
    assert summary["floor_ratio_warm"] == pytest.approx(summary["warm_floor_seconds"] / summary["warm_sweep_seconds"])
    with_torch = importlib.util.find_spec("torch") is not None
    for peer in ("torch", "torch_vmap"):
        assert (summary[f"{peer}_seconds"] is not None) == with_torch
        if with_torch:
            assert summary[f"{peer}_speedup_cold"] == pytest.approx(summary[f"{peer}_seconds"] / summary["sweep_seconds"])


@pytest.mark.slow
def test_bench_sweep_times_every_peer_in_one_invocation():
    out = subprocess.run([sys.executable, "scripts/bench_sweep.py", "--steps", "20"], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = last_json_line(out.stdout)
    assert (summary["runs"], summary["steps"]) == (40, 20)
    check_peer_summary(summary)
    assert summary["max_balanced_accuracy_difference"] < 0.02  # the sweep and the per-run loop train the same runs


@pytest.mark.slow
def test_bench_cnn_times_every_peer_of_the_mnist1d_cnn():
    out = subprocess.run([sys.executable, "scripts/bench_cnn.py", "--workloads", "mnist1d_cnn", "--runs", "2",
                          "--steps", "5"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = last_json_line(out.stdout)["workloads"]["mnist1d_cnn"]
    assert (summary["runs"], summary["steps"], summary["layout"]) == (2, 5, "single")
    check_peer_summary(summary)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["loop", "vmap"])
@pytest.mark.parametrize("peer", ["mlp.py", "lenet5.py", "mnist1d_cnn.py"])
def test_torch_peer_trains_its_runs(peer, mode):
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, f"scripts/torch_peers/{peer}", "--mode", mode, "--runs", "2", "--steps", "30",
                          "--warmup-steps", "1", "--threads", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    record = last_json_line(out.stdout)
    assert (record["mode"], record["runs"], record["steps"], record["threads"]) == (mode, 2, 30, 1)
    assert record["seconds"] > 0
    if peer == "lenet5.py":  # random images: nothing to learn, the loss stays near log(10)
        assert record["last_loss"] == pytest.approx(2.303, abs=0.1)
    else:  # digits and MNIST-1D are learnt within 30 steps
        assert record["last_loss"] < 0.8 * record["first_loss"] and record["mean_accuracy"] > 0.3


def test_bench_gemm_products_are_the_mlp_training_steps(benchlib):
    """The products bench_gemm times are those of an MLP training step: three per layer (forward,
    weight and input gradients) but the first layer's input gradient, and each einsum computes the
    gradient it names (against ``jax.grad``)."""
    import jax
    import jax.numpy as jnp
    import bench_gemm

    runs, batch, widths = 3, 5, (4, 6, 6, 2)
    found = bench_gemm.products(runs, batch, widths)
    assert len(found) == 3 * (len(widths) - 1) - 1
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 8))
    ws = [jax.random.normal(next(keys), (runs, i, o)) for i, o in zip(widths[:-1], widths[1:])]
    x = jax.random.normal(next(keys), (runs, batch, widths[0]))

    def loss(ws, x):
        h = x
        for w in ws:
            h = jnp.einsum("rbi,rio->rbo", h, w)
        return jnp.sum(jnp.sin(h))

    dot_flops = sum(p["flops"] for p in found)
    assert dot_flops == 3 * sum(2 * runs * batch * i * o for i, o in zip(widths[:-1], widths[1:])) - found[0]["flops"]
    # the weight gradient of the last layer, from its einsum, is jax.grad's
    h = jnp.einsum("rbi,rio->rbo", jnp.einsum("rbi,rio->rbo", x, ws[0]), ws[1])
    dy = jnp.cos(jnp.einsum("rbi,rio->rbo", h, ws[2]))
    last = [p for p in found if p["name"] == f"weight gradient {len(ws)}"][0]
    np.testing.assert_allclose(jnp.einsum(last["equation"], h, dy), jax.grad(loss)(ws, x)[-1], rtol=1e-5, atol=1e-5)
    dx = [p for p in found if p["name"] == f"input gradient {len(ws)}"][0]
    np.testing.assert_allclose(jnp.einsum(dx["equation"], dy, ws[2]), jax.grad(loss, argnums=1)([ws[2]], h),
                               rtol=1e-5, atol=1e-5)


def test_bench_gemm_tiny_prints_every_product_and_the_workload_seconds():
    out = subprocess.run([sys.executable, "scripts/bench_gemm.py", "--runs-per-device", "2", "--calls", "2",
                          "--repeat", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = last_json_line(out.stdout)
    assert [p["name"] for p in summary["products"]] == [
        "forward 1", "weight gradient 1", "forward 2", "weight gradient 2", "input gradient 2",
        "forward 3", "weight gradient 3", "input gradient 3"]
    assert all(p["xla_gflops"] > 0 for p in summary["products"])
    with_torch = importlib.util.find_spec("torch") is not None
    assert all((p["torch_gflops"] is not None) == with_torch for p in summary["products"])
    calls = 300 * 40 / summary["runs_per_device"]  # the workload's steps x runs, runs_per_device runs a call
    expected = sum(p["flops"] / p["xla_gflops"] / 1e9 for p in summary["products"]) * calls / summary["cores"]
    assert summary["xla_workload_seconds"] == pytest.approx(expected)
