"""Every ``experiments/*.py`` config: loads, validates and expands at both scales, passes the CLI
dry run, documents its command and runtime, and trains end to end in a tiny version.

The tiny version keeps one data set, one profile, the largest rho (the hardest imbalance, class
rarity in the grand comparison), the first mu and learning rate, one seed and 5 steps, but every
method and hyper-parameter value of the config, so every program the config compiles is compiled
and run here once.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from imbjax import config as config_lib
from imbjax import data, methods
from imbjax.cli import main
from imbjax.sweep import grid, runner

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
CONFIGS = sorted(path for path in EXPERIMENTS.glob("*.py") if not path.name.startswith("_"))
BUILTIN = ("digits", "breast_cancer", "wine", "synthetic")
# The data set of a config's tiny run where its first one is not the interesting case.
TINY_DATASET = {"grand_comparison": "wine"}  # wine at rho = 30: minority classes of one example


def scale_aware(path: Path) -> bool:
    """Whether the config switches to paper scale on ``IMBJAX_SCALE``."""
    return "IMBJAX_SCALE" in path.read_text()


def module_docstring(path: Path) -> str:
    match = re.match(r'\s*"""(.*?)"""', path.read_text(), re.DOTALL)
    return match.group(1) if match else ""


def tiny_version(path: Path):
    """The config of ``path`` cut to one data set, profile, rho, mu, learning rate and seed, 5 steps."""
    config = config_lib.load_config(path)
    dataset = TINY_DATASET.get(path.stem, config.datasets[0])
    config_lib.apply_overrides(config, [
        "num_steps=5", "seeds=1", f"rhos=({max(config.rhos)},)", f"mus=({config.mus[0]},)",
        f"learning_rates=({config.learning_rates[0]},)", f"profiles=({config.profiles[0]!r},)",
        f"datasets=({dataset!r},)"])
    config.dataset_kwargs = {name: kwargs for name, kwargs in config.dataset_kwargs.items() if name == dataset}
    config_lib.validate(config)
    return config


def check_menon2021(table):
    """Post-hoc adjustment trains exactly as the baseline; balanced softmax is logit adjustment at tau = 1."""
    baseline = table.loc[table["method"] == "baseline", "train_loss"].to_numpy()
    posthoc = table.loc[table["method"] == "logit_adjust_posthoc", "train_loss"].to_numpy()
    np.testing.assert_array_equal(posthoc, np.broadcast_to(baseline, posthoc.shape))
    columns = ["train_loss", "balanced_accuracy", "ovr_roc_auc"]
    balanced = table.loc[table["method"] == "balanced_softmax", columns].to_numpy()
    adjusted = table.loc[(table["method"] == "logit_adjusted") & (table["hp_tau"] == 1.0), columns].to_numpy()
    np.testing.assert_allclose(balanced, adjusted, rtol=1e-4, atol=1e-5)


# Study-specific properties of a config's tiny run (claims its docstring makes).
TINY_CHECKS = {"menon2021_logit_adjustment": check_menon2021}


@pytest.fixture(params=CONFIGS, ids=[path.stem for path in CONFIGS])
def experiment(request):
    return request.param


def test_every_study_config_exists():
    names = {path.stem for path in CONFIGS}
    assert {"hensman2015_ros", "lee2016_two_phase", "pouyanfar2018_dynamic", "wang2016_mfe", "lin2017_focal",
            "wang2018_costs", "zhang2018_centres", "cao2019_ldam", "menon2021_logit_adjustment",
            "grand_comparison"} <= names


def test_docstring_gives_command_and_runtime(experiment):
    doc = module_docstring(experiment)
    assert f"imbjax run experiments/{experiment.name}" in doc
    assert re.search(r"runtime|minutes|\bmin\b", doc, re.IGNORECASE), "docstring states no expected runtime"


def check_expands(config):
    """The grid is non-empty, has no duplicate runs and holds every configured method and data set."""
    groups = grid.expand(config)
    runs = [run for group in groups for run in group.runs]
    assert runs
    assert len({run.run_id for run in runs}) == len(runs)
    assert {run.columns["method"] for run in runs} == set(config.methods)
    assert {group.dataset for group in groups} == set(config.datasets)
    return groups


def test_small_scale_loads_validates_and_expands(experiment):
    config = config_lib.load_config(experiment)
    check_expands(config)
    assert set(config.datasets) <= set(BUILTIN), f"default scale must use data that ship here, got {config.datasets}"


def test_paper_scale_loads_validates_and_expands(experiment, monkeypatch):
    if not scale_aware(experiment):
        pytest.skip("config has one scale")
    monkeypatch.setenv("IMBJAX_SCALE", "paper")
    config = config_lib.load_config(experiment)
    check_expands(config)
    assert config.name.endswith("_paper")
    assert all(name in data.tfds_loader.TFDS_NAMES or data.tfds_loader.is_tfds_name(name)
               for name in config.datasets), config.datasets


def test_unknown_scale_is_refused(experiment, monkeypatch):
    if not scale_aware(experiment):
        pytest.skip("config has one scale")
    monkeypatch.setenv("IMBJAX_SCALE", "huge")
    with pytest.raises(ValueError, match="'huge'.*paper.*small"):
        config_lib.load_config(experiment)


def test_grand_comparison_runs_every_registered_method():
    config = config_lib.load_config(EXPERIMENTS / "grand_comparison.py")
    assert tuple(config.methods) == methods.available()
    assert set(config.datasets) == set(BUILTIN)
    # class rarity: at the largest rho some data set keeps at most 10 examples per minority class
    assert min(data.load(name).train_class_counts().min() // max(config.rhos) for name in config.datasets) <= 10


def test_dry_run(experiment, tmp_path, capsys):
    workdir = tmp_path / "work"
    assert main(["run", str(experiment), "--workdir", str(workdir), "--dry-run"]) == 0
    config = config_lib.load_config(experiment)
    output = capsys.readouterr().out
    total = sum(len(group.runs) for group in grid.expand(config))
    assert f"{config.name}: {total} runs" in output
    assert not workdir.exists(), "a dry run must not claim the work directory"


@pytest.mark.slow
def test_tiny_end_to_end(experiment, tmp_path):
    config = tiny_version(experiment)
    expected = [run for group in check_expands(config) for run in group.runs]
    table = runner.run_sweep(config, tmp_path / "work")
    assert sorted(table["run_id"]) == sorted(run.run_id for run in expected)
    assert set(table["method"]) == set(config.methods)
    missing = [metric for metric in config.figure_metrics if metric not in table]
    assert not missing, f"figure metrics {missing} are not result columns"
    assert np.all(np.isfinite(table["train_loss"])), table.loc[~np.isfinite(table["train_loss"]), "method"].tolist()
    assert table["balanced_accuracy"].between(0.0, 1.0).all()
    TINY_CHECKS.get(experiment.stem, lambda table: None)(table)
