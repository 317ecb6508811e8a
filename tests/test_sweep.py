"""The engine end to end: grid, identical results alone / vmapped / sharded, errors, resume."""
import copy
import dataclasses
import functools
import io
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from imbjax import config as config_lib
from imbjax import data as datasets
from imbjax import methods
from imbjax.config import make_train
from imbjax.engine.method import Method, mean_ce
from imbjax.methods import standard
from imbjax.run_axis import padded_size
from imbjax.sweep import grid, progress, runner, store

ROOT = Path(__file__).resolve().parents[1]


def test_grid_expands_every_axis_and_groups_by_family(tiny_config):
    tiny_config.hparams = {"ros": {}}
    groups = grid.expand(tiny_config)
    assert len(groups) == 1
    runs = groups[0].runs
    assert len(runs) == 2 * 2 * 2  # rho x seed x method
    assert len({r.run_id for r in runs}) == len(runs)
    assert {(r.columns["method"], r.columns["rho"], r.seed) for r in runs} == {
        (m, rho, s) for m in ("baseline", "ros") for rho in (1.0, 10.0) for s in (0, 1)}


def test_hparam_grid_becomes_a_sweep_axis(tiny_config):
    tiny_config.methods = ("cs_ce",)
    config_lib.apply_overrides(tiny_config, ["hparams.cs_ce.cost_ratio=(1.0, 2.0, 5.0)"])
    runs = grid.expand(tiny_config)[0].runs
    assert sorted({r.columns["hp_cost_ratio"] for r in runs}) == [1.0, 2.0, 5.0]
    assert len(runs) == 2 * 2 * 3


def test_non_step_profiles_record_mu_as_nan(tiny_config):
    tiny_config.profiles = ("exp",)
    tiny_config.mus = (0.2, 0.5)
    runs = grid.expand(tiny_config)[0].runs
    assert all(np.isnan(r.columns["mu"]) for r in runs)
    assert len(runs) == 2 * 2 * 2


@pytest.mark.slow
def test_run_alone_equals_vmapped_sweep(tiny_config, tiny_sweep):
    """The same run gives the same metrics alone (make_train) and inside a vmapped group."""
    (group,) = grid.expand(tiny_config)
    table = tiny_sweep[1]
    one_per_method = {run.columns["method"]: run for run in group.runs if run.columns["rho"] == 10.0}
    for run in one_per_method.values():
        train = make_train(tiny_config, method=run.columns["method"])
        alone = jax.jit(train)(jax.random.PRNGKey(run.seed), {"rho": run.hparams["rho"]})
        row = table.set_index("run_id").loc[run.run_id]
        for metric in ("accuracy", "balanced_accuracy", "ovr_roc_auc", "log_loss", "ece", "train_loss"):
            np.testing.assert_allclose(float(alone[metric]), row[metric], atol=1e-5, err_msg=metric)
        for c in range(10):  # class-wise metrics, scored in the run's program alone and by the runner
            np.testing.assert_allclose(np.asarray(alone["average_precision_per_class"])[c],
                                       row[f"average_precision_per_class_{c}"], atol=1e-5)


@pytest.mark.slow
def test_a_diverged_run_has_nan_metrics_and_keeps_what_it_trained_on(tiny_config, tmp_path):
    """The runner scores a part's gathered outputs outside the training program: a run whose
    parameters overflow still reports NaN test and validation metrics, never a NaN network's chance
    scores, while the other runs of its part are untouched."""
    tiny_config.optimizer = "sgd"
    tiny_config.learning_rates = (0.1, 1e38)
    tiny_config.validation_fraction = 0.1
    table = runner.run_sweep(tiny_config, tmp_path / "work")
    blown = table["hp_learning_rate"] > 1.0
    assert blown.sum() == len(table) // 2
    assert (table.loc[blown, "diverged"] == 1.0).all() and (table.loc[~blown, "diverged"] == 0.0).all()
    scores = ["balanced_accuracy", "ovr_roc_auc", "ece", "recall_per_class_0", "val_balanced_accuracy"]
    assert table.loc[blown, scores].isna().all().all()
    assert np.isfinite(table.loc[~blown, scores].to_numpy()).all()
    assert (table.loc[blown, "train_examples"] > 0).all() and np.isfinite(table.loc[blown, "train_rho"]).all()


@pytest.mark.slow
def test_groups_of_one_test_set_share_one_scoring_program(tiny_config, tmp_path, monkeypatch):
    """The metric suite is compiled once per test set, not into every group's program, and narrow parts
    are scored together."""
    monkeypatch.setattr(runner, "_SCORING_PROGRAMS", {})
    scored_stacks = []
    compute_all_runs = runner.suite.compute_all_runs
    monkeypatch.setattr(runner.suite, "compute_all_runs", lambda y, probs, **kwargs: (
        scored_stacks.append(len(probs)) or compute_all_runs(y, probs, **kwargs)))
    tiny_config.profiles = ("step", "linear")  # two groups, two training programs, one test set
    groups = grid.expand(tiny_config)
    assert len(groups) == 2
    runner.run_sweep(tiny_config, tmp_path / "work", layout="single")
    assert len(runner._SCORING_PROGRAMS) == 1
    # Parts of one run per device wait for each other: one scoring call per group, not one per part.
    assert scored_stacks == [len(group.runs) for group in groups]


SHARDED_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    from imbjax import config as config_lib
    from imbjax.sweep import runner
    config = config_lib.load_config(sys.argv[1])
    table = runner.run_sweep(config, sys.argv[2], layout=sys.argv[3])
    print(json.dumps({"devices": jax.device_count()}))
""")


def _tiny_config_file(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(textwrap.dedent("""
        from imbjax.config import base_config
        def get_config():
            c = base_config()
            c.rhos = (1.0, 10.0)
            c.seeds = 3
            c.methods = ("baseline", "ros", "rus")
            c.model_kwargs.hidden = (32,)
            c.batch_size = 32
            c.num_steps = 40
            return c
    """))
    return path


@pytest.mark.slow
def test_sharded_over_two_and_four_devices_equals_one_device(tmp_path):
    """Both layouts: vmapped runs, and one run per device per call (``shard_map``, 18 runs in 9 calls)."""
    config_path = _tiny_config_file(tmp_path)
    tables = {}
    for devices, layout in ((1, "vmap"), (2, "vmap"), (4, "vmap"), (2, "single")):
        env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(devices)}
        workdir = tmp_path / f"d{devices}-{layout}"
        out = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT, str(config_path), str(workdir), layout],
                             env=env, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout.strip().splitlines()[-1])["devices"] == devices
        tables[devices, layout] = pd.read_csv(workdir / "runs.csv").set_index("run_id").sort_index()
    one_device = tables[1, "vmap"]
    assert len(one_device) == 2 * 3 * 3  # 18 runs: the padding to 4 devices is dropped
    metrics = ["accuracy", "balanced_accuracy", "macro_f1", "g_mean", "ovr_roc_auc", "train_loss"]
    for key in ((2, "vmap"), (4, "vmap"), (2, "single")):
        np.testing.assert_allclose(one_device[metrics].to_numpy(), tables[key][metrics].to_numpy(), atol=1e-5,
                                   err_msg=str(key))


@pytest.mark.slow
def test_resume_skips_finished_groups_and_never_duplicates(tiny_config, tiny_sweep, tiny_workdir):
    events = []
    second = runner.run_sweep(tiny_config, tiny_workdir, report=lambda event, info: events.append(event))
    assert events == ["sweep_start", "group_skipped"]
    pd.testing.assert_frame_equal(tiny_sweep[1], second)
    assert pd.read_csv(tiny_workdir / "runs.csv")["run_id"].is_unique
    meta = json.loads((tiny_workdir / "meta.json").read_text())
    assert meta["devices"]["device_count"] == jax.device_count()
    assert meta["versions"]["jax"] == jax.__version__


def test_changed_config_in_existing_workdir_is_refused(tiny_config, tiny_workdir):
    before = (tiny_workdir / "runs.csv").read_text()
    tiny_config.num_steps = 41
    with pytest.raises(store.ConfigMismatchError, match="num_steps: 30 there, 41 here.*--fork"):
        runner.run_sweep(tiny_config, tiny_workdir)
    assert (tiny_workdir / "runs.csv").read_text() == before
    fork = tiny_workdir.with_name(tiny_workdir.name + "-2")
    assert store.fork_workdir(tiny_workdir, functools.partial(runner.workdir_accepts, tiny_config)) == fork


def test_a_run_stored_twice_is_refused_naming_where(tiny_config, tiny_workdir):
    group = store.group_files(tiny_workdir)[0]
    text = group.read_text()
    group.write_text(text + text.splitlines()[1] + "\n")  # its first run's row again, in the same file
    with pytest.raises(ValueError, match=rf"is stored twice in {re.escape(str(group))}; delete one of its two rows"):
        runner.prepare_sweep(tiny_config, tiny_workdir)
    group.write_text(text)
    group.with_name("copy.csv").write_text(text)
    with pytest.raises(ValueError, match=r"is stored in .* and in .*; move one of the two files away"):
        runner.prepare_sweep(tiny_config, tiny_workdir)


def test_hand_edited_runs_csv_is_rebuilt_from_the_group_files(tiny_config, tiny_sweep, tiny_workdir):
    edited = tiny_sweep[1].copy()
    edited.loc[0, "balanced_accuracy"] = 0.0
    edited.iloc[:-2].to_csv(tiny_workdir / "runs.csv", index=False)
    recovered = runner.run_sweep(tiny_config, tiny_workdir)
    pd.testing.assert_frame_equal(recovered, tiny_sweep[1])
    pd.testing.assert_frame_equal(pd.read_csv(tiny_workdir / "runs.csv"), pd.read_csv(tiny_sweep[0] / "runs.csv"))


@pytest.mark.slow
def test_runs_in_parts_of_max_parallel_equal_one_part(tiny_config, tiny_sweep, tmp_path):
    tiny_config.max_parallel = 3  # 8 runs in 3 parts of 3 (the last padded)
    parts = runner.run_sweep(tiny_config, tmp_path)
    metrics = ["accuracy", "balanced_accuracy", "ovr_roc_auc", "train_loss"]
    np.testing.assert_allclose(parts[metrics].to_numpy(), tiny_sweep[1][metrics].to_numpy(), atol=1e-5)
    assert padded_size(8, 2, 3) == (4, 2) and padded_size(8, 1, 0) == (8, 1)


@pytest.mark.slow
def test_single_layout_equals_vmap_and_is_not_part_of_the_config(tiny_config, tiny_sweep, tiny_workdir, tmp_path):
    """One run per device per call gives the vmapped sweep's results, with checkpoints too; a work
    directory made with one layout resumes with the other (the layout is not in ``config.json``)."""
    metrics = ["accuracy", "balanced_accuracy", "ovr_roc_auc", "train_loss"]
    checkpointed = copy.deepcopy(tiny_config)
    checkpointed.checkpoint_every = 12  # init, advance(12), advance(12), advance(6), evaluate, unbatched
    single = runner.run_sweep(checkpointed, tmp_path / "single", layout="single")
    np.testing.assert_allclose(single[metrics].to_numpy(), tiny_sweep[1][metrics].to_numpy(), atol=1e-5)
    events = []
    resumed = runner.run_sweep(tiny_config, tiny_workdir, layout="single",
                               report=lambda event, info: events.append(event))
    assert events == ["sweep_start", "group_skipped"]
    pd.testing.assert_frame_equal(resumed, tiny_sweep[1])
    with pytest.raises(ValueError, match=r"unknown layout 'pmap'; choose one of \['auto', 'vmap', 'single'\]"):
        runner.run_sweep(tiny_config, tmp_path / "bad", layout="pmap")
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_single_layout_equals_vmap_for_a_convolutional_model(tiny_config, tmp_path):
    """Plain convolutions (``single``) against the grouped convolutions of vmapped runs: the same
    runs to float rounding over 30 steps (long training of deep networks can amplify the rounding,
    docs/performance.md)."""
    tiny_config.model, tiny_config.model_kwargs = "small_cnn", {}
    tiny_config.dataset_kwargs.digits = {"image": True}
    tables = {layout: runner.run_sweep(tiny_config, tmp_path / layout, layout=layout) for layout in ("vmap", "single")}
    metrics = ["accuracy", "balanced_accuracy", "ovr_roc_auc", "train_loss", "log_loss"]
    np.testing.assert_allclose(tables["single"][metrics].to_numpy(), tables["vmap"][metrics].to_numpy(), atol=1e-5)
    meta = json.loads((tmp_path / "single" / "meta.json").read_text())
    assert {group["layout"] for group in meta["groups"].values()} == {"single"}


def test_sweep_plan_shows_each_groups_layout_and_runs_at_once(tiny_config, capsys):
    groups = grid.expand(tiny_config)  # one group of 8 runs
    devices = jax.device_count()
    whole = -(-8 // devices) * devices
    (vmapped,) = runner.sweep_plan(tiny_config, groups).values()
    assert (vmapped.layout, vmapped.width) == ("vmap", whole)
    assert vmapped.memory_estimate_bytes == vmapped.data_bytes + 3 * whole * vmapped.run_state_bytes > 0
    (single,) = runner.sweep_plan(tiny_config, groups, layout="single").values()
    assert (single.layout, single.width) == ("single", devices)
    tiny_config.max_parallel = 3
    (capped,) = runner.sweep_plan(tiny_config, groups).values()
    assert capped.width == -(-3 // devices) * devices
    tiny_config.model, tiny_config.model_kwargs = "small_cnn", {}
    tiny_config.dataset_kwargs.digits = {"image": True}
    plan = runner.sweep_plan(tiny_config, grid.expand(tiny_config))
    assert [(p.layout, p.width) for p in plan.values()] == [("single", devices)]  # the CPU default for CNNs
    progress.print_plan(tiny_config, grid.expand(tiny_config), plan)
    assert "single" in capsys.readouterr().out


def test_cpu_width_keeps_every_runs_state_in_the_shared_cache(tmp_path, monkeypatch):
    """At max_parallel 0 a CPU sweep trains at once as many runs as keep the working set of each in its
    device's share of the last-level cache the local devices share, at most MAX_CACHE_BYTES_PER_DEVICE (a VM
    reports its host's cache), at least one per device; the cache size is read from sysfs."""
    for index, size in enumerate(["32K", "1024K", "32768K"]):
        (tmp_path / f"index{index}").mkdir()
        (tmp_path / f"index{index}" / "size").write_text(size + "\n")
    monkeypatch.setattr(runner, "_CACHE_SIZE_FILES", str(tmp_path / "index*" / "size"))
    assert runner.last_level_cache_bytes() == 32 * 2**20
    monkeypatch.setattr(runner, "_CACHE_SIZE_FILES", str(tmp_path / "none*"))
    assert runner.last_level_cache_bytes() == runner.DEFAULT_CACHE_BYTES
    mesh = runner.run_mesh()
    devices = jax.local_device_count()
    state = 2**20 // runner.WORKING_SET_FACTOR  # 1 MiB of working set per run
    capped = runner.MAX_CACHE_BYTES_PER_DEVICE // 2**20
    assert runner.cache_max_parallel(state, mesh, cache_bytes=32 * 2**20) == min(32 // devices, capped) * mesh.size
    assert runner.cache_max_parallel(10**9, mesh, cache_bytes=32 * 2**20) == mesh.size
    # a host's 480 MiB seen from a VM: each device counts on at most MAX_CACHE_BYTES_PER_DEVICE
    assert runner.cache_max_parallel(state, mesh, cache_bytes=480 * 2**20) == min(480 // devices, capped) * mesh.size
    assert runner.cache_max_parallel(state, mesh, cache_bytes=2**20) == mesh.size
    width = runner.runs_at_once(1000, "vmap", 0, state, mesh)
    assert width == runner.padded_size(1000, mesh.size, runner.cache_max_parallel(state, mesh))[0] < 1000
    assert runner.runs_at_once(1000, "vmap", 500, state, mesh) == runner.padded_size(1000, mesh.size, 500)[0]


@pytest.mark.parametrize("model, platform, expected", [
    ("lenet5", "cpu", "single"), ("resnet", "cpu", "single"), ("small_cnn", "cpu", "single"),
    ("all_cnn", "cpu", "single"),
    ("mlp", "cpu", "vmap"), ("lenet5", "gpu", "vmap"), ("lenet5", "tpu", "vmap"),
])
def test_auto_layout_runs_convolutional_models_one_at_a_time_on_cpu(model, platform, expected):
    assert runner.resolve_layout("auto", model, platform) == expected
    assert runner.resolve_layout("vmap", model, platform) == "vmap"
    assert runner.resolve_layout("single", model, platform) == "single"


def test_mesh_layout_reads_the_platform_of_the_mesh():  # the test process's devices are CPUs
    assert runner.mesh_layout("auto", "lenet5", runner.run_mesh()) == "single"
    assert runner.mesh_layout("auto", "mlp", runner.run_mesh()) == "vmap"


@pytest.mark.slow
def test_progress_counts_runs_part_by_part_against_the_sweeps_total(tiny_config, tmp_path):
    tiny_config.max_parallel = 3  # 8 runs in parts as wide as 3 rounded up to the device count
    width = -(-3 // jax.device_count()) * jax.device_count()
    events = []
    runner.run_sweep(tiny_config, tmp_path, report=lambda event, info: events.append((event, dict(info))))
    parts = [info for event, info in events if event == "part_done"]
    assert [info["runs_done"] for info in parts] == [min(8, (i + 1) * width) for i in range(-(-8 // width))]
    assert {info["total_runs"] for _, info in events} == {8}
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with progress.SweepProgress(console) as display:
        completed = []
        for event, info in events:
            display.report(event, info)
            completed.append(display.progress.tasks[0].completed)
    assert display.progress.tasks[0].total == 8 and completed[-1] == 8
    assert completed == sorted(completed) and len(set(completed)) > 2  # advanced within the group


@pytest.mark.slow
def test_a_run_missing_from_a_group_file_trains_again(tiny_config, tiny_sweep, tiny_workdir):
    """A work directory holds runs: a row cut from a group file is a run to train, the others are kept
    as they were, and a file that is not a group file is refused naming it."""
    (group_file,) = (tiny_workdir / "groups").glob("*.csv")
    lines = group_file.read_text().splitlines(keepends=True)
    group_file.write_text("".join(lines[:-1]))
    events = []
    table = runner.run_sweep(tiny_config, tiny_workdir, report=lambda event, info: events.append((event, info)))
    assert [(event, info["runs"]) for event, info in events if event.startswith("group")] == [
        ("group_start", 1), ("group_done", 1)]
    assert set(table["run_id"]) == set(tiny_sweep[1]["run_id"]) and table["run_id"].is_unique
    assert group_file.read_text() == "".join(lines[:-1])
    group_file.write_text("")
    with pytest.raises(ValueError, match=f"{group_file} is empty"):
        runner.run_sweep(tiny_config, tiny_workdir)


@pytest.mark.parametrize("override, message", [
    ("methods=('baseline', 'smote_magic')", "unknown method 'smote_magic'; choose one of"),
    ("datasets=('mnist2',)", "unknown dataset 'mnist2'; choose one of"),
    ("rhos=(0.5, 10.0)", "rho must be >= 1, got 0.5"),
    ("mus=(1.5,)", "mu must lie in the open interval (0, 1), got 1.5"),
    ("num_stepz=10", "config has no key 'num_stepz'; valid keys are ['models', 'augment', "),
    ("model='resnet9000'", "unknown model 'resnet9000'; choose one of"),
    ("hparams.ros.gamma=(1.0,)", "method 'ros' has no hyper-parameter 'gamma'"),
    ("optimizer='lbfgs'", "unknown optimizer 'lbfgs'; choose one of"),
])
def test_bad_config_fails_before_compute_and_overwrites_nothing(tmp_path, capsys, override, message):
    from imbjax.cli import main

    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "runs.csv").write_text("precious\n")
    code = main(["run", str(ROOT / "experiments" / "quickstart.py"), "--workdir", str(workdir), "--set", override])
    stderr = capsys.readouterr().err
    assert code == 2
    assert message in stderr
    assert stderr.count("error") == 1
    assert (workdir / "runs.csv").read_text() == "precious\n"
    assert sorted(p.name for p in workdir.iterdir()) == ["runs.csv"]


@pytest.mark.slow
def test_cli_run_writes_table_meta_and_figure(tmp_path):
    config_path = _tiny_config_file(tmp_path)
    workdir = tmp_path / "cli"
    result = subprocess.run([sys.executable, "-m", "imbjax.cli", "run", str(config_path), "--workdir", str(workdir),
                             "--set", "seeds=2"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(workdir / "runs.csv")
    assert len(table) == 2 * 2 * 3
    assert list(table.columns[:5]) == ["run_id", "group", "dataset", "profile", "rho"]
    assert table["balanced_accuracy"].between(0, 1).all()
    meta = json.loads((workdir / "meta.json").read_text())
    assert meta["compile_seconds"] > 0 and meta["devices"]["device_count"] >= 1
    assert (workdir / "figure.png").stat().st_size > 10_000
    assert "balanced_accuracy on digits" in result.stdout

    from imbjax.cli import main

    assert main(["report", str(workdir), "--out", str(tmp_path / "report"), "--baseline", "baseline"]) == 0
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    ros = summary[(summary["method"] == "ros") & (summary["rho"] == 10.0) & (summary["metric"] == "balanced_accuracy")]
    expected = table[(table["method"] == "ros") & (table["rho"] == 10.0)]["balanced_accuracy"].mean()
    np.testing.assert_allclose(ros["mean"].iloc[0], expected, rtol=1e-9)


@pytest.mark.slow
def test_make_train_is_vmappable_over_hyperparameters(tiny_config):
    tiny_config.methods = ("cs_ce",)
    train = make_train(tiny_config)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    batched = jax.jit(jax.vmap(train))(keys, {"cost_ratio": jnp.array([1.0, 2.0, 4.0]), "rho": jnp.full(3, 10.0)})
    for i, ratio in enumerate([1.0, 2.0, 4.0]):
        single = jax.jit(train)(keys[i], {"cost_ratio": ratio, "rho": 10.0})
        np.testing.assert_allclose(batched["balanced_accuracy"][i], single["balanced_accuracy"], atol=1e-5)
    with pytest.raises(ValueError, match="unknown hyper-parameter 'gamma'"):
        train(keys[0], {"gamma": 2.0})


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path):
    """jax.distributed over a loopback coordinator: each process computes its share, process 0
    writes; the table equals a single-process run's, with every run exactly once."""
    config_path = _tiny_config_file(tmp_path)
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1"}
    base = [sys.executable, "-m", "imbjax.cli", "run", str(config_path), "--set", "seeds=2"]
    subprocess.run([*base, "--workdir", str(tmp_path / "one")], env=env, check=True, capture_output=True)
    coordinator = f"localhost:{_free_port()}"
    processes = [subprocess.Popen([*base, "--workdir", str(tmp_path / "two"), "--coordinator", coordinator,
                                   "--num-processes", "2", "--process-id", str(i)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in (1, 0)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    one = pd.read_csv(tmp_path / "one" / "runs.csv").set_index("run_id").sort_index()
    two = pd.read_csv(tmp_path / "two" / "runs.csv").set_index("run_id").sort_index()
    assert two.index.is_unique and list(two.index) == list(one.index)
    metrics = ["accuracy", "balanced_accuracy", "ovr_roc_auc", "train_loss"]
    np.testing.assert_allclose(one[metrics].to_numpy(), two[metrics].to_numpy(), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("layout, model", [("vmap", "mlp"), ("single", "small_cnn")])
def test_saved_programs_give_bitwise_the_same_runs(tiny_config, tmp_path, monkeypatch, layout, model):
    """A group's whole-run program saved with jax.export (first sweep) and loaded by a later one
    gives exactly the runs of a sweep that traced it, in both layouts."""
    tiny_config.model = model
    tiny_config.model_kwargs = {"hidden": (16,)} if model == "mlp" else {}
    tiny_config.dataset_kwargs = {"digits": {"image": True}} if model != "mlp" else {}
    monkeypatch.setenv("IMBJAX_PROGRAM_CACHE_DIR", str(tmp_path / "programs"))
    tables = {}
    monkeypatch.setattr(runner, "_SCORING_PROGRAMS", {})  # as in a new process: the scoring program is saved too
    for label, setting in (("traced", "0"), ("saved", "1"), ("loaded", "1")):
        monkeypatch.setenv("IMBJAX_PROGRAM_CACHE", setting)
        if label == "saved":
            monkeypatch.setattr(runner, "_SCORING_PROGRAMS", {})
        tables[label] = runner.run_sweep(tiny_config, tmp_path / label, layout=layout).set_index("run_id").sort_index()
        if label != "traced":  # the group's program and the scoring program, saved by the first sweep
            assert len(list((tmp_path / "programs").glob("*.jaxexport"))) == 2
    numeric = tables["traced"].select_dtypes("number").columns
    for label in ("saved", "loaded"):
        np.testing.assert_array_equal(tables[label][numeric].to_numpy(), tables["traced"][numeric].to_numpy(),
                                      err_msg=label)


def test_programs_of_code_outside_imbjax_are_not_saved(tiny_config):
    from imbjax.config import program_spec
    from imbjax.sweep import program_cache

    dataset = datasets.load("digits")
    spec = program_spec(tiny_config, dataset, profile="step", method_names=("baseline", "ros"))
    assert program_cache.spec_is_imbjax_code(spec)
    own_loss = Method("user_loss", loss=lambda logits, labels, ctx: jnp.mean(logits))
    assert not program_cache.spec_is_imbjax_code(dataclasses.replace(spec, methods=(own_loss,)))
    # imbjax's pieces under a user's method: the name says nothing of which pieces, so not saved
    imbjax_pieces = dataclasses.replace(methods.get("focal"), name="ros")
    assert not program_cache.spec_is_imbjax_code(dataclasses.replace(spec, methods=(imbjax_pieces,)))
    assert not program_cache.spec_is_imbjax_code(dataclasses.replace(spec, optimizer="unknown"))
    assert program_cache.is_imbjax_code(functools.partial(program_cache.source_digest))
    assert not program_cache.is_imbjax_code(own_loss.loss)


@pytest.mark.slow
def test_a_program_that_cannot_be_saved_still_runs(tiny_config, tmp_path, monkeypatch):
    from imbjax.sweep import program_cache

    def refuse(function):
        raise ValueError("not exportable")

    monkeypatch.setenv("IMBJAX_PROGRAM_CACHE_DIR", str(tmp_path / "programs"))
    monkeypatch.setattr(program_cache.jax.export, "export", refuse)
    with pytest.warns(RuntimeWarning, match="not saving the traced program 'run'.*not exportable"):
        table = runner.run_sweep(tiny_config, tmp_path / "run")
    assert len(table) == 8 and table["balanced_accuracy"].between(0, 1).all()
    assert not list((tmp_path / "programs").glob("*.jaxexport"))


USER_METHOD = textwrap.dedent("""
    from imbjax import methods
    from imbjax.engine.method import Method, mean_ce

    def scaled_ce(logits, labels, ctx):
        return {scale}mean_ce(logits, labels, ctx)

    methods.register(Method("user_scaled_ce", loss=scaled_ce))
""")


def _register_user_method(path: Path, scale: str) -> None:
    """(Re-)register ``user_scaled_ce`` from the module file ``path``, as a user's script does."""
    import importlib.util

    methods.REGISTRY.pop("user_scaled_ce", None)
    path.write_text(USER_METHOD.format(scale=scale))
    spec = importlib.util.spec_from_file_location("user_method_module", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.mark.slow
def test_a_user_method_whose_code_changed_trains_again(tiny_config, tmp_path, monkeypatch):
    """Editing a registered loss to ``0.0 * ...`` gives new run ids: the re-run trains with the new code
    instead of reporting the old results as already finished; unchanged code is still skipped."""
    monkeypatch.setattr(methods, "REGISTRY", dict(methods.REGISTRY))  # the user's method leaves with the test
    tiny_config.methods, tiny_config.rhos, tiny_config.seeds, tiny_config.num_steps = ("user_scaled_ce",), (10.0,), 1, 10
    module, workdir = tmp_path / "user_method.py", tmp_path / "work"

    def sweep():
        events = []
        table = runner.run_sweep(tiny_config, workdir, report=lambda event, info: events.append(event))
        return table, events

    _register_user_method(module, "")
    first, events = sweep()
    assert events == ["sweep_start", "group_start", "part_done", "group_done"] and (first["train_loss"] > 0).all()
    _register_user_method(module, "0.0 * ")
    second, events = sweep()
    assert "group_skipped" not in events and set(second["run_id"]).isdisjoint(first["run_id"])
    assert (second["train_loss"] == 0).all()  # the new code's results, and only those, in runs.csv
    pd.testing.assert_frame_equal(pd.read_csv(workdir / "runs.csv"), second)
    _, events = sweep()
    assert events == ["sweep_start", "group_skipped"]


def test_user_code_description_follows_helpers_constants_closures_and_which_imbjax_pieces():
    from imbjax.sweep import program_cache

    namespace = {}
    source = textwrap.dedent("""
        SCALE = 2.0
        def helper(x):
            return SCALE * x
        def loss(logits, labels, ctx):
            return helper(logits.mean())
        def make(factor):
            return lambda logits, labels, ctx: factor * logits.mean()
    """)
    exec(compile(source, "<user>", "exec"), namespace)  # no readable source: described by bytecode
    before = program_cache.describe_code(namespace["loss"])
    assert before == program_cache.describe_code(namespace["loss"]) and "SCALE" in before
    namespace["SCALE"] = 0.0  # a constant the helper reads
    assert program_cache.describe_code(namespace["loss"]) != before
    make = namespace["make"]
    assert program_cache.describe_code(make(1.0)) != program_cache.describe_code(make(0.0))  # closure values
    assert program_cache.describe_code(mean_ce) == "imbjax.engine.method.mean_ce"
    same_pieces = Method("mine", loss=mean_ce)
    other_pieces = Method("mine", loss=standard.cost_sensitive_mean_ce)
    digests = {program_cache.user_code_digest(program_cache.user_pieces(m, None, None, None, None))
               for m in (same_pieces, other_pieces)}
    assert len(digests) == 2 and "" not in digests  # a user's method of imbjax pieces: which pieces counts


def test_imbjax_code_leaves_run_ids_as_they_were():
    """Everything imbjax registers contributes no user code, so committed studies keep their run ids."""
    from imbjax import models
    from imbjax.engine.optimizers import OPTIMIZERS
    from imbjax.methods import FAMILIES
    from imbjax.sweep import program_cache

    for name in methods.available():
        method = methods.get(name)
        for model, optimizer, loader in zip(models.MODELS.values(), itertools.cycle(OPTIMIZERS.values()),
                                            itertools.cycle(datasets.LOADERS.values())):
            assert program_cache.user_pieces(method, FAMILIES[method.family], model, optimizer, loader) == {}, name
    config = config_lib.load_config(ROOT / "experiments" / "quickstart.py")
    committed = pd.read_csv(ROOT / "results" / "quickstart" / "runs.csv", dtype={"run_id": str})
    assert {run.run_id for group in grid.expand(config) for run in group.runs} == set(committed["run_id"])


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_results_files_follow_the_umask(tmp_path, umask):
    """config.json, groups/<id>.csv, runs.csv and meta.json get the mode any new file gets, not 0600."""
    previous = os.umask(umask)
    try:
        store.record_config(tmp_path, {"name": "tiny"})
        store.write_group(tmp_path, "g", pd.DataFrame({"run_id": ["a"], "accuracy": [0.5]}))
        store.write_runs(tmp_path, store.read_rows(store.group_path(tmp_path, "g")))
        store.atomic_write_json(tmp_path / store.META_FILE, {"groups": {}})
    finally:
        os.umask(previous)
    for path in (tmp_path / store.CONFIG_FILE, store.group_path(tmp_path, "g"), tmp_path / store.RUNS_FILE,
                 tmp_path / store.META_FILE):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


@pytest.mark.slow
def test_orbax_is_imported_only_by_sweeps_that_checkpoint():
    check = ("import sys, imbjax.sweep.runner; "
             "assert 'orbax.checkpoint' not in sys.modules, 'orbax imported without checkpoints'")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
