"""The research workflow (issue 19): a work directory grows in place, execution-only keys, no lock
before the first finished group, idempotent --fork, a calm Ctrl-C, the public extension API and its
contract checks, the natural profile, one-line errors, the dry run's plan and estimate, figure titles.

References: a sweep grown in steps equals one fresh sweep of the union config (same run ids, same
metrics); a user's per-example cross-entropy registered through ``imbjax.register_method`` equals the
built-in baseline (mean cross-entropy) run for run; the natural profile's ratio is NumPy's max/min
of the pool's class counts. Every config is tiny (digits or wine, an 8-unit MLP, 3 steps).
"""
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import imbjax
from imbjax import data, methods, models
from imbjax.cli import SigintLatch, main
from imbjax.config import base_config
from imbjax.data import tfds_loader
from imbjax.engine.method import Method
from imbjax.sweep import contracts, grid, progress, runner, store

ROOT = Path(__file__).resolve().parents[1]


def tiny(**changes):
    """Digits, rho 1 and 10 (n_max 120), one seed, the baseline, an 8-unit MLP, 3 steps of batch 16,
    two runs at a time (every program of a test has width 2, so most load from the compilation cache)."""
    config = base_config()
    config.name = "workflow"
    config.rhos = (1.0, 10.0)
    config.seeds = 1
    config.methods = ("baseline",)
    config.model_kwargs.hidden = (8,)
    config.batch_size = 16
    config.num_steps = 3
    config.max_parallel = 2
    with config.ignore_type():
        for key, value in changes.items():
            config[key] = value
    return config


CONFIG_FILE = textwrap.dedent("""
    from imbjax.config import base_config

    def get_config():
        config = base_config()
        config.name = "workflow"
        config.rhos = (1.0, 10.0)
        config.seeds = 1
        config.model_kwargs.hidden = (8,)
        config.batch_size = 16
        config.num_steps = 3
        config.max_parallel = 2
        return config
""")


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "study.py"
    path.write_text(CONFIG_FILE)
    return path


@pytest.fixture
def registries(monkeypatch):
    """Methods, models and data sets a test registers leave with it."""
    monkeypatch.setattr(methods, "REGISTRY", dict(methods.REGISTRY))
    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))
    monkeypatch.setattr(data, "LOADERS", dict(data.LOADERS))


def sweep(config, workdir, **kwargs):
    """``(table, [(event, runs), ...])`` of a run_sweep."""
    events = []
    table = runner.run_sweep(config, workdir, report=lambda event, info: events.append((event, info.get("runs"))),
                             **kwargs)
    return table, [(event, runs) for event, runs in events if event != "part_done"]


METRICS = ["accuracy", "balanced_accuracy", "ovr_roc_auc", "train_loss", "train_rho"]


# --- Grow in place -------------------------------------------------------------------------------

@pytest.mark.slow
def test_grow_by_seeds_methods_and_rhos_trains_only_the_missing_runs(tmp_path):
    """Each step trains only the new runs, leaves every stored group file and runs.csv line as it was,
    records the union in config.json, and ends equal to one fresh sweep of the union config."""
    work = tmp_path / "work"
    _, events = sweep(tiny(), work)
    assert events == [("sweep_start", None), ("group_start", 2), ("group_done", 2)]
    steps = [({"seeds": 2}, 2), ({"seeds": 2, "methods": ("baseline", "ros")}, 4),
             ({"seeds": 2, "methods": ("baseline", "ros"), "rhos": (1.0, 10.0, 20.0)}, 4)]
    for changes, new_runs in steps:
        files = {path: path.read_text() for path in store.group_files(work)}
        lines = (work / "runs.csv").read_text().splitlines()[1:]
        table, events = sweep(tiny(**changes), work)
        assert [runs for event, runs in events if event == "group_done"] == [new_runs], changes
        assert all(path.read_text() == text for path, text in files.items())  # stored runs untouched
        grown = (work / "runs.csv").read_text().splitlines()
        assert set(lines) <= set(grown[1:]) and len(grown) == len(lines) + new_runs + 1
    recorded = json.loads((work / "config.json").read_text())
    assert (recorded["seeds"], recorded["methods"], recorded["rhos"]) == (2, ["baseline", "ros"], [1.0, 10.0, 20.0])
    fresh = runner.run_sweep(tiny(seeds=2, methods=("baseline", "ros"), rhos=(1.0, 10.0, 20.0)), tmp_path / "fresh")
    assert list(table["run_id"]) == list(fresh["run_id"])  # the union grid's order, the same ids
    np.testing.assert_allclose(table[METRICS].to_numpy(), fresh[METRICS].to_numpy(), rtol=1e-5, atol=1e-6)
    _, events = sweep(tiny(seeds=1), work)  # fewer runs than stored: nothing to train, nothing lost
    assert events == [("sweep_start", None), ("group_skipped", 2)] and len(pd.read_csv(work / "runs.csv")) == 12
    with pytest.raises(store.ConfigMismatchError, match=r"n_max 120, where rho 50 is not exact.*--fork"):
        runner.prepare_sweep(tiny(rhos=(1.0, 10.0, 50.0)), work)  # 50 would change n_max, so the stored runs


@pytest.mark.slow
def test_a_study_committed_without_its_groups_resumes_grows_and_keeps_every_row(tmp_path):
    """A results directory as git holds it (runs.csv, config.json and meta.json; groups/ is ignored):
    the same config trains nothing and leaves runs.csv as it is; a grown config trains only the new runs and
    keeps every committed line; another config is refused."""
    work = tmp_path / "work"
    sweep(tiny(), work)
    shutil.rmtree(work / store.GROUPS_DIR)
    committed = (work / "runs.csv").read_text()
    _, events = sweep(tiny(), work)
    assert events == [("sweep_start", None), ("group_skipped", 2)]
    assert (work / "runs.csv").read_text() == committed and not (work / store.GROUPS_DIR).exists()
    table, events = sweep(tiny(seeds=2), work)
    assert [runs for event, runs in events if event == "group_done"] == [2]
    grown = (work / "runs.csv").read_text().splitlines()
    assert set(committed.splitlines()[1:]) <= set(grown[1:]) and len(grown) == 5
    assert (store.group_path(work, store.IMPORTED_GROUP).read_text() == committed)
    fresh = runner.run_sweep(tiny(seeds=2), tmp_path / "fresh")
    assert list(table["run_id"]) == list(fresh["run_id"])
    np.testing.assert_allclose(table[METRICS].to_numpy(), fresh[METRICS].to_numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(store.ConfigMismatchError, match="num_steps: 3 there, 4 here"):
        runner.prepare_sweep(tiny(num_steps=4), work)


@pytest.mark.slow
def test_grow_by_architectures_and_learning_rates(tmp_path):
    work = tmp_path / "work"
    small = ("small", {"model": "mlp", "hidden": (8,)})  # tiny()'s program: loaded from the cache
    wide = ("wide", {"model": "mlp", "hidden": (12,)})
    sweep(tiny(models=(small,)), work)
    _, events = sweep(tiny(models=(small, wide)), work)
    assert [(event, runs) for event, runs in events if event.startswith("group")] == [
        ("group_skipped", 2), ("group_start", 2), ("group_done", 2)]
    _, events = sweep(tiny(models=(small,), learning_rates=(1e-3, 1e-2)), work)
    assert [runs for event, runs in events if event == "group_done"] == [2]
    recorded = json.loads((work / "config.json").read_text())
    assert recorded["learning_rates"] == [1e-3, 1e-2]
    assert [label for label, _ in recorded["models"]] == ["small", "wide"]
    table = pd.read_csv(work / "runs.csv")
    assert sorted(table.groupby(["model", "hp_learning_rate"]).size().items()) == [
        (("small", 1e-3), 2), (("small", 1e-2), 2), (("wide", 1e-3), 2)]
    with pytest.raises(store.ConfigMismatchError, match=r"models\['wide'\]"):
        runner.prepare_sweep(tiny(models=(("wide", {"model": "mlp", "hidden": (4,)}),)), work)


def test_merge_of_seeds_hyper_parameters_and_identity_keys():
    """merge_configs, against hand-written unions: explicit seeds stay a list, seeds 0..n-1 an int, a
    method's default counts as the value it ran with; identity keys are refused naming both values."""
    def payload(**changes):
        return runner.config_payload(tiny(**changes))

    defaults = {"baseline": {}, "cs_ce": {"cost_ratio": 2.0}}
    merge = functools.partial(store.merge_configs, Path("w"), hparam_defaults=defaults)
    assert merge(payload(seeds=(3, 7)), payload(seeds=(7, 11)))["seeds"] == [3, 7, 11]
    assert merge(payload(seeds=2), payload(seeds=(2,)))["seeds"] == 3
    assert merge(payload(seeds=2), payload(seeds=(5,)))["seeds"] == [0, 1, 5]
    assert merge(payload(data_seeds=(1,)), payload(data_seeds=(4,)))["data_seeds"] == [1, 4]
    grown = merge(payload(methods=("cs_ce",)), payload(methods=("cs_ce",), hparams={"cs_ce": {"cost_ratio": (5.0,)}}))
    assert grown["hparams"] == {"cs_ce": {"cost_ratio": [2.0, 5.0]}}
    same = merge(payload(methods=("cs_ce",)), payload(methods=("cs_ce",), hparams={"cs_ce": {"cost_ratio": (2.0,)}}))
    assert same["hparams"] == {}
    with pytest.raises(store.ConfigMismatchError, match="data_seeds"):
        merge(payload(), payload(data_seeds=(0,)))
    with pytest.raises(store.ConfigMismatchError, match=r"datasets: \['digits'\] there, \['wine'\] here"):
        merge(payload(), payload(datasets=("wine",)))
    explicit = {run.run_id for group in grid.expand(tiny(seeds=(3,))) for run in group.runs}
    both = {run.run_id: run.seed for group in grid.expand(tiny(seeds=(3, 8))) for run in group.runs}
    assert explicit == {run_id for run_id, seed in both.items() if seed == 3}  # kept when seed 8 is added


@pytest.mark.slow
def test_execution_only_keys_are_not_part_of_the_identity(tmp_path):
    work = tmp_path / "work"
    sweep(tiny(), work)
    recorded, table = (work / "config.json").read_text(), (work / "runs.csv").read_text()
    changed = tiny(checkpoint_every=2, max_parallel=1, figure_metrics=("accuracy",), name="renamed")
    _, events = sweep(changed, work, layout="single")
    assert events == [("sweep_start", None), ("group_skipped", 2)]
    assert (work / "config.json").read_text() == recorded and (work / "runs.csv").read_text() == table
    older = {k: v for k, v in json.loads(recorded).items() if k not in ("lr_schedule", "augment", "batch_sampling")}
    (work / "config.json").write_text(json.dumps(older))  # written before those keys existed: at their defaults
    _, events = sweep(tiny(), work)
    assert events == [("sweep_start", None), ("group_skipped", 2)]
    with pytest.raises(store.ConfigMismatchError, match="num_steps: 3 there, 4 here.*--fork"):
        runner.prepare_sweep(tiny(num_steps=4), work)


# --- Failures that lock nothing, fork, Ctrl-C -----------------------------------------------------

def test_a_config_that_failed_before_any_run_finished_locks_nothing(tmp_path, monkeypatch, config_file, capsys):
    work = tmp_path / "work"
    bad_path = ["--set", "datasets=('keel',)", "--set", f"dataset_kwargs.keel.path={tmp_path / 'missing.dat'}"]
    assert main(["run", str(config_file), "--workdir", str(work), *bad_path]) == 2
    assert "missing.dat" in capsys.readouterr().err and not work.exists()

    def compile_error(*args, **kwargs):
        raise RuntimeError("XLA compilation failed")

    with monkeypatch.context() as patch:
        patch.setattr(runner, "train_group", compile_error)
        with pytest.raises(RuntimeError, match="compilation failed"):
            runner.run_sweep(tiny(num_steps=5), work)
    store.atomic_write_json(work / "config.json", runner.config_payload(tiny(num_steps=5)))  # an older claim
    _, events = sweep(tiny(), work)  # another config: not refused, nothing finished there
    assert events[-1] == ("group_done", 2)
    assert json.loads((work / "config.json").read_text())["num_steps"] == 3


def test_fork_is_idempotent(tmp_path, config_file, capsys):
    work = tmp_path / "work"
    sweep(tiny(), work)
    forked = work.with_name("work-2")
    other_split = ["--set", "dataset_kwargs.digits.split_seed=1"]  # another data set: the same program
    for _ in range(2):  # the second call finds the fork it made and resumes there
        assert main(["run", str(config_file), "--workdir", str(work), *other_split, "--fork"]) == 0
        assert f"writing to {forked}" in capsys.readouterr().err
    assert len(store.group_files(forked)) == 1 and len(pd.read_csv(forked / "runs.csv")) == 2
    assert main(["run", str(config_file), "--workdir", str(work), "--set", "num_steps=4", "--fork", "--dry-run"]) == 0
    assert f"writing to {work.with_name('work-3')}" in capsys.readouterr().err
    assert not work.with_name("work-3").exists()


SIGINT_CONFIG = textwrap.dedent("""
    from imbjax.config import base_config

    def get_config():
        config = base_config()
        config.datasets = ("wine", "digits")
        config.rhos = (1.0, 10.0)
        config.seeds = 4
        config.model_kwargs.hidden = (8,)
        config.batch_size = 16
        config.num_steps = 20000  # the second group trains for seconds: the signal lands before it is done
        config.max_parallel = 1
        return config
""")


@pytest.mark.slow
def test_ctrl_c_prints_one_line_exits_130_and_resumes(tmp_path):
    """SIGINT once the first group is stored: one line, exit 130, no traceback; the stored group stays."""
    config_path, work = tmp_path / "long.py", tmp_path / "work"
    config_path.write_text(SIGINT_CONFIG)
    # As from a terminal, whose Ctrl-C reaches a process with SIGINT's default action: a test runner's
    # worker may ignore SIGINT, and a child would inherit that.
    command = [sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "from imbjax.cli import main; sys.exit(main(sys.argv[1:]))",
               "run", str(config_path), "--workdir", str(work)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "JAX_NUM_CPU_DEVICES": "1"})
    lines = []
    for line in process.stderr:
        lines.append(line)
        if ": done" in line:
            process.send_signal(signal.SIGINT)
            break
    stderr = "".join(lines) + process.stderr.read()
    assert process.wait(timeout=120) == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        "imbjax: interrupted after 8 of 16 runs; run the same command again to resume"), stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    from imbjax.config import load_config

    resumed = runner.prepare_sweep(load_config(config_path), work)
    assert (resumed.finished_runs, resumed.total_runs) == (8, 16)


@pytest.fixture
def python_sigint():
    """SIGINT with Python's default handler for the test (a test runner's worker may ignore it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class RaisesInFinaliser:
    def __init__(self, error):
        self.error = error

    def __del__(self):
        raise self.error


def test_a_sigint_dropped_where_python_raised_it_stops_the_sweep_at_its_next_event(python_sigint):
    seen, unraisable = [], []
    sys.unraisablehook, previous_hook = unraisable.append, sys.unraisablehook
    try:
        with SigintLatch() as latch:
            report = latch.checked(lambda event, info: seen.append(event))
            report("part_done", {})  # no signal yet: the event passes
            try:  # where jaxlib's garbage-collector callback drops it
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                pass
            with pytest.raises(KeyboardInterrupt):
                report("part_done", {})
            RaisesInFinaliser(KeyboardInterrupt())  # dropped by Python: not printed
            RaisesInFinaliser(ValueError("kept"))  # any other unraisable error still reaches the hook
        assert seen == ["part_done", "part_done"]
        assert [type(error.exc_value) for error in unraisable] == [ValueError]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert sys.unraisablehook == unraisable.append
    finally:
        sys.unraisablehook = previous_hook


def test_the_latch_leaves_an_ignored_sigint_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with SigintLatch() as latch:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            latch.checked(lambda event, info: None)("part_done", {})  # nothing received: no interrupt
        assert not latch.received
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_after_the_last_group_is_stored_says_so(tmp_path, config_file, monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt

    work = tmp_path / "work"
    monkeypatch.setattr(progress, "write_figure", interrupted)
    assert main(["run", str(config_file), "--workdir", str(work)]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "imbjax: interrupted after all 2 runs were stored, while writing the summary and figure; "
        "run the same command again to write them")
    assert len(pd.read_csv(work / "runs.csv")) == 2


# --- The public extension API ---------------------------------------------------------------------

def per_example_ce(logits, labels, ctx):
    return imbjax.losses.cross_entropy(logits, labels)


@pytest.mark.slow
def test_a_users_per_example_loss_is_averaged_and_equals_the_baseline(registries, tmp_path):
    imbjax.register_method("user_ce", per_example_ce, reference="the baseline, written by a user")
    assert not methods.is_built_in(methods.get("user_ce"))
    table = runner.run_sweep(tiny(methods=("baseline", "user_ce")), tmp_path)
    runs = table.pivot(index=["rho", "seed"], columns="method", values="train_loss")
    np.testing.assert_allclose(runs["user_ce"], runs["baseline"], rtol=1e-6)
    with pytest.raises(ValueError, match="method 'user_ce' is already registered"):
        imbjax.register_method("user_ce", per_example_ce)


def class_scores(logits, labels, ctx):
    return logits  # [batch, C]: neither a scalar nor per-example


def broken(logits, labels, ctx):
    return logits @ jnp.ones((3, 3))


def half_weights(key, labels, mask, ctx):
    return mask[: labels.shape[0] // 2].astype(jnp.float32)


def one_column(logits, ctx):
    return logits[:, :1]


@pytest.mark.parametrize("register, message", [
    (lambda: imbjax.register_method("bad", class_scores),
     (r"loss .*test_workflow.class_scores returned values of shape \(16, 10\); a loss returns a scalar or one "
      r"value per example, shape \(16,\)")),
    (lambda: methods.register(Method("bad", loss=per_example_ce)),
     (r"loss .*test_workflow.per_example_ce of method 'bad' returned an array of shape \(16,\); a loss returns a "
      r"scalar \(per-example values only when registered with imbjax.register_method")),
    (lambda: imbjax.register_method("bad", broken),
     r"loss .*test_workflow.broken of method 'bad' failed on the engine's arguments: TypeError"),
    (lambda: imbjax.register_method("bad", sampler=half_weights),
     r"sampler .*test_workflow.half_weights of method 'bad' must return one weight per pool example"),
    (lambda: imbjax.register_method("bad", postprocess=one_column),
     (r"post-processing .*test_workflow.one_column of method 'bad' must return class probabilities of shape "
      r"\(16, 10\)")),
], ids=["loss-shape", "unwrapped-per-example", "loss-raises", "sampler-shape", "postprocess-shape"])
def test_a_method_breaking_its_contract_is_refused_in_one_line_before_compiling(
        registries, tmp_path, register, message, config_file, capsys):
    register()
    with pytest.raises(ValueError, match=message):
        runner.prepare_sweep(tiny(methods=("baseline", "bad")), tmp_path / "work")
    assert not (tmp_path / "work").exists()
    code = main(["run", str(config_file), "--workdir", str(tmp_path / "work"), "--dry-run",
                 "--set", "methods=('baseline', 'bad')"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("imbjax: error: ")


class LogitsOnly(nn.Module):
    num_classes: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.num_classes)(x)


class TwoHeads(nn.Module):
    num_classes: int
    width: int = 8

    @nn.compact
    def __call__(self, x):
        features = nn.relu(nn.Dense(self.width)(x))
        return nn.Dense(self.num_classes)(features), features


def test_model_contract(registries, tmp_path):
    with pytest.raises(ValueError, match=r"model .*test_workflow.per_example_ce must be a flax.linen.Module class"):
        imbjax.register_model("not_a_module", per_example_ce)
    imbjax.register_model("logits_only", LogitsOnly)
    imbjax.register_model("two_heads", TwoHeads)
    with pytest.raises(ValueError, match="model 'two_heads' is already registered"):
        imbjax.register_model("two_heads", TwoHeads)
    with pytest.raises(ValueError, match=r"model 'logits_only' \(.*test_workflow.LogitsOnly\) must return \(logits "
                                         r"\[batch, 10\], features \[batch, d\]\); on a batch of 16 it returned an "
                                         r"array of shape \(16, 10\)"):
        runner.prepare_sweep(tiny(model="logits_only", model_kwargs={}), tmp_path / "a")
    prepared = runner.prepare_sweep(tiny(model="two_heads", model_kwargs={"width": 4}), tmp_path / "b")
    assert [spec.model for spec in prepared.specs.values()] == ["two_heads"]


@pytest.mark.slow
def test_a_users_data_set_at_its_natural_imbalance(registries, tmp_path):
    """A user's arrays, registered by name and trained at their own imbalance (30 : 10 : 5): runs record
    the data set by its name and rho as the pool's ratio (NumPy max/min), the trained ratio."""
    rng = np.random.default_rng(0)
    y_train = np.repeat([0, 1, 2], [30, 10, 5])
    x_train = rng.normal(size=(45, 4)) + y_train[:, None]
    y_test = np.repeat([0, 1, 2], 6)
    x_test = rng.normal(size=(18, 4)) + y_test[:, None]
    imbjax.register_dataset("mine", lambda: imbjax.data.from_arrays(x_train, y_train, x_test, y_test, name="mine"))
    table = runner.run_sweep(tiny(datasets=("mine",), profiles=("natural",), seeds=2), tmp_path / "work")
    counts = np.bincount(y_train)
    assert list(table["dataset"]) == ["mine", "mine"] and table["mu"].isna().all()
    np.testing.assert_allclose(table["rho"], counts.max() / counts.min())
    np.testing.assert_allclose(table["train_rho"], table["rho"])
    assert (table["train_examples"] == 45).all()
    imbjax.register_dataset("as_tuple", lambda: (x_train, y_train))
    with pytest.raises(ValueError, match=r"dataset 'as_tuple': loader .*test_workflow.*<lambda> returned a tuple; "
                                         r"a loader returns an imbjax.data.Dataset"):
        data.load("as_tuple")
    with pytest.raises(ValueError, match="data set 'mine' is already registered"):
        imbjax.register_dataset("mine", lambda: None)
    with pytest.raises(ValueError, match=r"y_train must be a 1-D array of integer class labels"):
        data.from_arrays(x_train, y_train + 0.5, x_test, y_test, name="halves")


def test_keel_files_are_data_sets_recorded_by_their_own_names(tmp_path):
    header = "@relation unknow\n@attribute a real [0, 9]\n@attribute b real [0, 9]\n" \
             "@attribute Class {positive, negative}\n@data\n"
    paths = []
    for name in ("glass1", "glass2"):
        path = tmp_path / name / f"{name}.dat"
        path.parent.mkdir()
        rows = [f"{i % 10}, {i % 7}, {'positive' if i % 3 == 0 else 'negative'}" for i in range(60)]
        path.write_text(header + "\n".join(rows) + "\n")
        paths.append(f"keel:{path}")
    config = tiny(datasets=tuple(paths), rhos=(1.0, 2.0))
    groups = grid.expand(config)
    assert [group.runs[0].columns["dataset"] for group in groups] == ["glass1", "glass2"]
    assert all(group.group_id.startswith(name) for group, name in zip(groups, ("glass1", "glass2")))
    assert data.record_name("keel", {"path": "x/yeast3-5-1tra.dat"}) == "yeast3"
    same_name = tiny(datasets=(paths[0], paths[0].replace("glass1.dat", "../glass1/glass1.dat")))
    with pytest.raises(ValueError, match="would both be recorded as 'glass1'"):
        grid.expand(same_name)


# --- One-line errors ------------------------------------------------------------------------------

def _syntax_error(tmp_path, config_file):
    config_file.write_text(CONFIG_FILE.replace("config.num_steps = 3", "config.num_steps = = 3"))
    return [], f"{config_file}:11: syntax error in the config file"


def _keel_without_path(tmp_path, config_file):
    return ["--set", "datasets=('keel',)"], "data set 'keel' needs 'path': set config.dataset_kwargs"


def _workdir_is_a_file(tmp_path, config_file):
    (tmp_path / "work").write_text("not a directory")
    return [], "is a file, not a directory; choose another --workdir"


def _read_only(tmp_path, config_file):
    (tmp_path / "work").mkdir()
    os.chmod(tmp_path / "work", 0o555)  # root ignores the mode: the check asks os.access, patched below
    return [], "cannot be written"


def _empty_group_file(tmp_path, config_file):
    (tmp_path / "work" / "groups").mkdir(parents=True)
    (tmp_path / "work" / "groups" / "g.csv").write_text("")
    return [], f"{tmp_path / 'work' / 'groups' / 'g.csv'} is empty"


def _tfds_module_missing(tmp_path, config_file):
    return (["--set", "datasets=('mnist',)", "--set", "dataset_kwargs.mnist.download=True",
             "--set", f"dataset_kwargs.mnist.data_dir='{tmp_path / 'tfds'}'"],
            ("preparing (download=True) tensorflow-datasets 'mnist' needs a module that is not installed: "
             "ModuleNotFoundError: No module named 'tensorflow'"))


@pytest.mark.parametrize("setup, overrides, message", [
    (_syntax_error, [], None),
    (None, ["--set", "dataset_kwargs.digits.imgae=True"],
     "data set 'digits' has no keyword 'imgae'; did you mean 'image'? its keywords are"),
    (None, ["--set", "rhos=(1, ten)"], "--set rhos=(1, ten): '(1, ten)' is not a Python literal"),
    (None, ["--set", "seeds=ten"], "--set seeds=ten: 'ten' is not a Python literal"),
    (None, ["--set", "rhos=(10, 10.0)"], "config.rhos repeats 10.0: (10, 10.0); name each value once"),
    (None, ["--set", "methods=('baseline', 'ros', 'baseline')"], "config.methods repeats 'baseline'"),
    (None, ["--set", "learning_rates=(0.001, 0.001)"], "config.learning_rates repeats 0.001"),
    (None, ["--set", "methods=('baseline', 'focal')", "--set", "hparams={'focal': {'gamma': (1.0, 1.0)}}"],
     "config.hparams.focal.gamma repeats 1.0"),
    (_workdir_is_a_file, [], None),
    (_read_only, [], None),
    (_empty_group_file, [], None),
    (_keel_without_path, [], None),
    (_tfds_module_missing, [], None),
], ids=["syntax", "dataset-keyword", "set-literal", "set-int", "repeated-rho", "repeated-method",
        "repeated-learning-rate", "repeated-hparam", "workdir-file", "read-only", "empty-group", "keel-path",
        "tfds-module"])
def test_each_refusal_is_one_line_exit_2_and_writes_nothing(tmp_path, config_file, capsys, monkeypatch, setup,
                                                           overrides, message):
    if setup is not None:
        overrides, message = setup(tmp_path, config_file)
    if setup is _read_only:
        monkeypatch.setattr(store.os, "access", lambda path, mode: Path(path) != tmp_path / "work")
    if setup is _tfds_module_missing:
        builder = tfds_loader._builder

        def without_tensorflow(name, data_dir):
            made = builder(name, data_dir)
            made.download_and_prepare = lambda: (_ for _ in ()).throw(
                ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow"))
            return made

        monkeypatch.setattr(tfds_loader, "_builder", without_tensorflow)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    code = main(["run", str(config_file), "--workdir", str(tmp_path / "work"), *overrides])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("imbjax: error: "), err
    assert message in err, err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


# --- What a person sees ---------------------------------------------------------------------------

@pytest.mark.slow
def test_dry_run_fits_80_columns_and_estimates_from_this_machines_timings(tmp_path, config_file, capsys):
    sweep(tiny(), tmp_path / "measured")  # caches this program's compile and step times
    assert main(["run", str(config_file), "--workdir", str(tmp_path / "work"), "--dry-run",
                 "--set", "methods=('baseline', 'threshold')"]) == 0
    unmeasured = capsys.readouterr().out
    assert main(["run", str(config_file), "--workdir", str(tmp_path / "work"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in (out + unmeasured).splitlines())
    assert "workflow: 2 runs in 1 group (1 compile); 0 stored, 2 to train" in out
    assert "estimated runtime ~" in out and "never run here" not in out
    assert "estimated runtime: unknown (none of the 1 group(s) to train has run here)" in unmeasured
    assert "~0.0 s" not in unmeasured
    assert main(["run", str(config_file), "--workdir", str(tmp_path / "measured"), "--dry-run"]) == 0
    assert "2 stored, 0 to train" in (measured := capsys.readouterr().out)
    assert "estimated runtime: nothing to train" in measured


def test_figure_title_names_data_set_mu_seeds_and_band(tmp_path, monkeypatch):
    table = pd.DataFrame({"dataset": "digits", "profile": "step", "mu": 0.5, "seed": [0, 1, 2, 0, 1, 2],
                          "rho": [1.0] * 3 + [10.0] * 3, "method": "baseline", "balanced_accuracy": 0.5})
    assert progress.figure_title(table) == "digits, mu 0.5, 3 seeds"
    assert progress.figure_title(table.assign(profile="exp", mu=np.nan)) == "digits, exp profile, 3 seeds"
    titles = []
    monkeypatch.setattr(progress, "plot_metric_vs", lambda *args, **kwargs: titles.append(kwargs["title"]))
    progress.write_figure(table, tmp_path, ["balanced_accuracy"])
    assert titles == ["digits, mu 0.5, 3 seeds"]  # plot_metric_vs adds the band and n after it


@pytest.mark.slow
def test_readme_example_sweeps_a_users_loss_next_to_built_in_methods(registries, tmp_path):
    """The README's 20-line example, run as written at 3 steps and 1 seed."""
    text = (ROOT / "README.md").read_text()
    example = text.split("```python\n# my_study.py\n", 1)[1].split("```", 1)[0]
    assert len(example.strip().splitlines()) <= 20
    path = tmp_path / "my_study.py"
    path.write_text(example)
    config = imbjax.load_config(path, ["num_steps=3", "seeds=1", "rhos=(1.0, 10.0)"])
    table = imbjax.run_sweep(config, tmp_path / "work")
    assert set(table["method"]) == set(config.methods) and "focal_ce" in set(table["method"])
    assert contracts.user_function(methods.get("focal_ce").loss).__name__ == "focal_ce"
