"""Every ``experiments/*.py`` config: loads, validates and expands at both scales, passes the CLI
dry run, documents its command and runtime, and trains end to end in a tiny version.

A config's tiny version keeps its first data set, profile and learning rate, mu = 0.5 (or its
first mu), its largest rho (the hardest imbalance), one seed and 5 steps, but every method and
hyper-parameter value (and only the first architecture of a ``models`` sweep). Compiling
dominates the cost (~5-15 s per program on 2 cores), so tiny versions that differ only in methods
and swept values (same data, profile, model, batch, ...) train together as merged sweeps, one test
per method family (one program each, so xdist spreads the compiles): a test's sweep holds the
union of its configs' methods of that family, rho, mu and hyper-parameter values, and each
config's own runs are picked out of the merged table by run id (run ids do not depend on which
other runs share a program). A method therefore also runs at the largest rho of any config in its
test (on digits at rho = 100, minority classes of one example, for the standard family).
"""
import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from imbjax import config as config_lib
from imbjax import data, imbalance, methods
from imbjax.cli import main
from imbjax.sweep import grid, runner

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
CONFIGS = sorted(path for path in EXPERIMENTS.glob("*.py") if not path.name.startswith("_"))
BUILTIN = ("digits", "breast_cancer", "wine", "synthetic")
#: Data that need no download: the built-in sets and MNIST-1D, generated offline.
OFFLINE = (*BUILTIN, "mnist1d")
# Keys whose values tiny versions of different configs may merge (unions of values).
MERGED_KEYS = ("methods", "rhos", "mus", "learning_rates", "figure_metrics")


def scale_aware(path: Path) -> bool:
    """Whether the config switches to paper scale on ``IMBJAX_SCALE``."""
    return "IMBJAX_SCALE" in path.read_text()


def module_docstring(path: Path) -> str:
    match = re.match(r'\s*"""(.*?)"""', path.read_text(), re.DOTALL)
    return match.group(1) if match else ""


def tiny_version(path: Path):
    """The config of ``path`` cut to one data set, profile, mu, learning rate and seed, rho 10 (a ratio
    every config's pool trains exactly, so merged configs stay exact), 10 steps (CSDBN-DE's 10 evolution
    rounds need one step each; see the module docstring)."""
    config = config_lib.load_config(path)
    dataset = config.datasets[0]
    mu = 0.5 if 0.5 in config.mus else config.mus[0]  # one mu for most configs, so merged grids stay small
    config_lib.apply_overrides(config, [
        "num_steps=10", "seeds=1", "rhos=(10.0,)", f"mus=({mu},)",
        f"learning_rates=({config.learning_rates[0]},)", f"profiles=({config.profiles[0]!r},)",
        f"datasets=({dataset!r},)"])
    config.dataset_kwargs = {name: kwargs for name, kwargs in config.dataset_kwargs.items() if name == dataset}
    if "models" in config:  # an architecture sweep: its first architecture
        config.models = tuple(config.models)[:1]
    config_lib.validate(config)
    return config


def static_part(config) -> str:
    """Everything of a config but the values :func:`merge` takes unions of."""
    payload = runner.config_payload(config)
    return json.dumps({k: v for k, v in payload.items() if k not in (*MERGED_KEYS, "hparams", "name")},
                      sort_keys=True)


def _unique(values) -> tuple:
    return tuple(dict.fromkeys(values))


def merge(configs):
    """One config whose grid holds every run of ``configs`` (which share :func:`static_part`)."""
    merged = copy.deepcopy(configs[0])
    merged.name = "tiny_merged"
    for key in MERGED_KEYS:
        merged[key] = _unique(value for config in configs for value in config[key])
    values: dict[str, dict[str, list]] = {}
    for config in configs:
        for name in config.methods:
            swept = config.hparams[name].to_dict() if name in config.hparams else {}
            for hparam, default in methods.get(name).hparams.items():
                value = swept.get(hparam, default)
                values.setdefault(name, {}).setdefault(hparam, []).extend(
                    value if isinstance(value, (tuple, list)) else (value,))
    merged.hparams = {name: {h: _unique(map(float, v)) for h, v in grid_.items()}
                      for name, grid_ in values.items() if grid_}
    config_lib.validate(merged)
    return merged


def family_of(method: str) -> str:
    return methods.get(method).family


def tiny_groups() -> list[tuple[tuple[Path, ...], str]]:
    """``(configs, family)``: the configs whose tiny versions share :func:`static_part` and have
    methods of ``family`` (one program per test, so that xdist can spread the compiles). A config
    that fails to load stands alone, so that its own test reports the error."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for path in CONFIGS:
        try:
            config = tiny_version(path)
            key, families = static_part(config), _unique(family_of(name) for name in config.methods)
        except Exception:  # noqa: BLE001 (reported by test_tiny_end_to_end)
            key, families = path.stem, ("standard",)
        for family in families:
            groups.setdefault((key, family), []).append(path)
    return [(tuple(paths), family) for (_, family), paths in groups.items()]


TINY_GROUPS = tiny_groups()


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
    assert re.search(r"runtime|minutes|\bmin\b|\d s (inside|wall)", doc, re.IGNORECASE), \
        "docstring states no expected runtime"


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
    assert set(config.datasets) <= set(OFFLINE), f"default scale must use data that ship here, got {config.datasets}"


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


def test_mnist1d_lt_recipes(monkeypatch):
    """MNIST-1D-LT's two recipes share the data design; Cao et al.'s recipe sets what its table says; an
    unknown recipe is refused by name before any work."""
    path = EXPERIMENTS / "mnist1d_lt.py"
    benchmark = config_lib.load_config(path)
    monkeypatch.setenv("IMBJAX_RECIPE", "cao")
    cao = config_lib.load_config(path)
    for key in ("datasets", "rhos", "n_max", "seeds", "model", "num_steps"):
        assert cao[key] == benchmark[key], key
    assert tuple(cao.methods) == (*benchmark.methods, "ldam", "cb_ce", "ros", "drs")  # the rest of Table 2
    assert (benchmark.optimizer, tuple(benchmark.learning_rates), benchmark.batch_size) == ("adam", (1e-2,), 100)
    assert (cao.optimizer, tuple(cao.learning_rates), tuple(cao.weight_decays), cao.batch_size) == (
        "sgd", (0.1,), (2e-4,), 128)
    assert (cao.lr_schedule, cao.lr_warmup_fraction, tuple(cao.lr_decay_fractions), cao.lr_decay_factor) == (
        "step", 0.025, (0.8, 0.9), 0.01)
    assert (cao.batch_sampling, cao.augment, dict(cao.augment_kwargs)) == (
        "epoch", "shift_noise", {"max_shift": 4, "noise_std": 0.1})
    monkeypatch.setenv("IMBJAX_RECIPE", "sota")
    with pytest.raises(ValueError, match="'sota'.*benchmark.*cao"):
        config_lib.load_config(path)


def test_long_tail_2020s_mnist1d_ablations(monkeypatch):
    """The ablations change only what their docstring says: the training length for the mixup family,
    the optimiser and its schedule for IB, the papers' 200 epochs of the subset for each of the two, and
    the mixup family at that length under IB's SGD recipe; an unknown ablation is refused by name before any
    work."""
    path = EXPERIMENTS / "long_tail_2020s_mnist1d.py"
    configs = {}
    for ablation in ("main", "long_mixup", "sgd_ib", "mixup_200_epochs", "sgd_ib_200_epochs", "sgd_mixup_200_epochs",
                     "sgd_mixup_200_epochs_augmented"):
        monkeypatch.setenv("IMBJAX_ABLATION", ablation)
        configs[ablation] = config_lib.load_config(path)
    main, long_mixup, sgd_ib = configs["main"], configs["long_mixup"], configs["sgd_ib"]
    for key in ("datasets", "dataset_kwargs", "validation_fraction", "rhos", "n_max", "seeds", "model"):
        assert all(config[key] == main[key] for config in configs.values()), key
    assert (tuple(long_mixup.methods), long_mixup.num_steps) == (("baseline", "mixup", "manifold_mixup"), 8000)
    assert (long_mixup.optimizer, tuple(long_mixup.learning_rates), long_mixup.batch_size) == (
        main.optimizer, tuple(main.learning_rates), main.batch_size)
    assert (tuple(sgd_ib.methods), sgd_ib.num_steps) == (("baseline", "ldam_drw", "ib"), main.num_steps)
    assert (sgd_ib.optimizer, tuple(sgd_ib.learning_rates), tuple(sgd_ib.weight_decays), sgd_ib.batch_size) == (
        "sgd", (0.1,), (2e-4,), 128)
    assert (sgd_ib.lr_schedule, sgd_ib.lr_warmup_fraction, tuple(sgd_ib.lr_decay_fractions),
            sgd_ib.lr_decay_factor) == ("step", 0.025, (0.8, 0.9), 0.01)
    # the 200-epoch ablations: their short version but for the length, 200 passes over CIFAR-10-LT's counts
    subset = int(np.asarray(imbalance.class_counts(10, main.n_max, profile="exp", rho=100.0)).sum())
    for short, long in (("long_mixup", "mixup_200_epochs"), ("sgd_ib", "sgd_ib_200_epochs")):
        shorter, longer = configs[short].to_dict(), configs[long].to_dict()
        assert {key for key in shorter if shorter[key] != longer[key]} == {"name", "num_steps"}, long
        assert longer["num_steps"] == -(-200 * subset // longer["batch_size"]), long
        assert (longer["num_steps"] - 1) * longer["batch_size"] < 200 * subset, long
    # SGD for the mixup family: sgd_ib's 200-epoch config but for the methods
    sgd_mixup, sgd_ib_long = configs["sgd_mixup_200_epochs"].to_dict(), configs["sgd_ib_200_epochs"].to_dict()
    assert {key for key in sgd_mixup if sgd_mixup[key] != sgd_ib_long[key]} == {"name", "methods"}
    assert tuple(sgd_mixup["methods"]) == tuple(long_mixup.methods)
    # the papers' augmentation for it: the same config with mnist1d_lt.py's stand-in for the crop and flip
    augmented = configs["sgd_mixup_200_epochs_augmented"].to_dict()
    assert {key for key in augmented if augmented[key] != sgd_mixup[key]} == {"name", "augment", "augment_kwargs"}
    assert (augmented["augment"], augmented["augment_kwargs"]) == ("shift_noise", {"max_shift": 4, "noise_std": 0.1})
    assert len({config.name for config in configs.values()}) == len(configs)
    monkeypatch.setenv("IMBJAX_ABLATION", "adamw")
    with pytest.raises(ValueError, match="'adamw'.*main.*long_mixup.*sgd_ib.*mixup_200_epochs.*sgd_mixup_200_epochs_augmented"):
        config_lib.load_config(path)


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


def tiny_id(group) -> str:
    paths, family = group
    return f"{family}:" + "+".join(path.stem for path in paths)


@pytest.mark.slow
@pytest.mark.parametrize("group", TINY_GROUPS, ids=[tiny_id(group) for group in TINY_GROUPS])
def test_tiny_end_to_end(group, tmp_path):
    paths, family = group
    tiny = {path.stem: tiny_version(path) for path in paths}
    for config in tiny.values():
        config.methods = tuple(name for name in config.methods if family_of(name) == family)
    for config in tiny.values():
        config.hparams = {name: grid_ for name, grid_ in config.hparams.items() if name in config.methods}
    table = runner.run_sweep(merge(list(tiny.values())), tmp_path / "work").set_index("run_id")
    for name, config in tiny.items():
        expected = [run.run_id for group in check_expands(config) for run in group.runs]
        missing = sorted(set(expected) - set(table.index))
        assert not missing, f"{name}: {len(missing)} of its tiny runs are not in the results"
        runs = table.loc[expected].reset_index()
        absent = [metric for metric in config.figure_metrics if metric not in runs]
        assert not absent, f"{name}: figure metrics {absent} are not result columns"
        diverged = runs.loc[~np.isfinite(runs["train_loss"]), "method"].tolist()
        assert not diverged, f"{name}: non-finite training loss for {diverged}"
        assert runs["balanced_accuracy"].between(0.0, 1.0).all(), name
        TINY_CHECKS.get(name, lambda runs: None)(runs)
