"""The model as a sweep axis (``config.models``) and a result column (``model``, ``model_spec``).

References: the single-model grid of earlier versions (run and group ids below were computed with
``imbjax/sweep/grid.py`` as of commit 31e3ba0, before models became an axis); a single-model
sweep of each architecture (the multi-model sweep must reproduce it run for run); pandas
``groupby`` means for the aggregation.
"""
import json

import numpy as np
import pandas as pd
import pytest

from imbjax import config as config_lib
from imbjax import data
from imbjax.analysis import (
    aggregate,
    block_columns,
    plot_metric_vs,
    report,
    without_redundant,
)
from imbjax.config import program_spec
from imbjax.sweep import grid, runner, store

TWO_MODELS = (("narrow", {"model": "mlp", "hidden": (8,)}), ("wide", {"model": "mlp", "hidden": (16, 16)}))


def explicit_config():
    """Every key that enters a run id set explicitly (so the ids below do not follow base_config)."""
    config = config_lib.base_config()
    config.datasets = ("digits",)
    config.profiles = ("step",)
    config.rhos = (1.0, 10.0)
    config.mus = (0.5,)
    config.minority = "last"
    config.n_max = 0
    config.seeds = 2
    config.methods = ("baseline", "ros")
    config.model = "mlp"
    config.model_kwargs = {"hidden": (16,)}
    config.optimizer = "adam"
    config.learning_rates = (1e-3,)
    config.batch_size = 32
    config.num_steps = 5
    return config


def with_models(config, models=TWO_MODELS):
    config.models = models
    config_lib.validate(config)
    return config


@pytest.mark.parametrize("models, message", [
    ({"a": {"model": "resnt"}}, r"unknown model 'resnt'; choose one of \['all_cnn', .*'resnet'.*config.models\['a'\]"),
    ({"a": {"model": "mlp", "hiden": (8,)}}, r"no argument 'hiden'.*config.models\['a'\].*\['hidden', 'head'\]"),
    ({"a": {"model": "resnet", "depth": 9}}, r"ResNet depth 9 .*6n \+ 2.*\[8, 14, 20, 32, 44, 56\]"),
    ({"a": {"model": "resnet", "depth": 2}}, r"ResNet depth 2 "),
    ({"a": {"depth": 8}}, r"config.models\['a'\] must be a mapping with a 'model' key"),
    ({}, r"config.models is empty"),
    ((("a b", {"model": "mlp"}),), r"bad architecture label 'a b'"),
    ((("a", {"model": "mlp"}), ("a", {"model": "mlp", "hidden": (4,)})), r"label 'a' appears twice"),
    (("mlp",), r"config.models must map labels"),
])
def test_bad_models_entry_is_one_clear_value_error(models, message):
    config = explicit_config()
    config.models = models
    with pytest.raises(ValueError, match=message):
        config_lib.validate(config)


def test_single_model_errors_name_config_model():
    config = explicit_config()
    config.model_kwargs = {"depth": 9}
    config.model = "resnet"
    with pytest.raises(ValueError, match=r"ResNet depth 9 in config.model "):
        config_lib.validate(config)


def test_models_from_the_command_line_and_config_json():
    """``--set models.LABEL={...}`` adds an architecture; configs without ``models`` keep their config.json."""
    config = explicit_config()
    assert "models" not in runner.config_payload(config)
    config_lib.apply_overrides(config, ["models.res8={'model': 'resnet', 'depth': 8}",
                                        "models.plain8={'model': 'resnet', 'depth': 8, 'residual': False}"])
    config_lib.validate(config)
    choices = config_lib.model_choices(config)
    assert {c.label: (c.name, dict(c.kwargs)) for c in choices} == {
        "res8": ("resnet", {"depth": 8}), "plain8": ("resnet", {"depth": 8, "residual": False})}
    assert runner.config_payload(config)["models"]["plain8"] == {"model": "resnet", "depth": 8, "residual": False}


def test_groups_are_per_model_and_runs_record_the_model():
    single = grid.expand(explicit_config())
    groups = grid.expand(with_models(explicit_config()))
    assert [g.model.label for g in groups] == ["narrow", "wide"]  # the pairs' order
    assert len(groups) == 2 * len(single)
    for group, (label, entry) in zip(groups, TWO_MODELS):
        assert label in group.group_id
        assert len(group.runs) == len(single[0].runs)
        assert {run.columns["model"] for run in group.runs} == {label}
        spec = json.loads(group.runs[0].columns["model_spec"])
        assert spec == {**entry, "hidden": list(entry["hidden"])}
    narrow, wide = ({run.run_id for run in g.runs} for g in groups)
    assert not narrow & wide and len(narrow) == len(single[0].runs)
    assert list(groups[0].runs[0].columns)[:8] == [
        "dataset", "profile", "rho", "mu", "seed", "method", "model", "model_spec"]


def test_single_model_run_and_group_ids_are_unchanged():
    """The ids of a config without ``models`` are those of the grid before models were an axis."""
    (group,) = grid.expand(explicit_config())
    assert group.group_id == "digits-step-standard-875da74b87"
    assert [run.run_id for run in group.runs[:3]] == ["f5428ad9efad", "74d45783307a", "c517d4b4b39e"]
    assert group.runs[0].columns["model"] == "mlp"
    assert json.loads(group.runs[0].columns["model_spec"]) == {"model": "mlp", "hidden": [16]}


def test_run_ids_follow_the_label_when_models_is_set():
    renamed = (("slim", TWO_MODELS[0][1]), TWO_MODELS[1])
    first = [r.run_id for g in grid.expand(with_models(explicit_config())) for r in g.runs]
    second = [r.run_id for g in grid.expand(with_models(explicit_config(), renamed)) for r in g.runs]
    half = len(first) // 2
    assert not set(first[:half]) & set(second[:half])
    assert first[half:] == second[half:]


def test_program_spec_takes_the_groups_model():
    config = with_models(explicit_config())
    dataset = data.load("digits")
    groups = grid.expand(config)
    specs = [program_spec(config, dataset, profile="step", method_names=g.methods, model=g.model) for g in groups]
    assert [dict(s.model_kwargs)["hidden"] for s in specs] == [(8,), (16, 16)]
    assert program_spec(config, dataset, profile="step", method_names=groups[0].methods) == specs[0]  # default: first


@pytest.fixture(scope="module")
def two_model_sweep(tmp_path_factory):
    """A two-architecture sweep (1 rho, 2 seeds, baseline and ROS, 5 steps) and its workdir."""
    config = with_models(explicit_config())
    config.rhos = (10.0,)
    workdir = tmp_path_factory.mktemp("two_models")
    return config, workdir, runner.run_sweep(config, workdir)


@pytest.mark.slow
def test_two_model_sweep_equals_each_model_alone(two_model_sweep, tmp_path):
    config, workdir, table = two_model_sweep
    on_disk = pd.read_csv(workdir / "runs.csv", dtype={"run_id": str})
    assert on_disk.groupby("model").size().to_dict() == {"narrow": 4, "wide": 4}
    assert set(on_disk["model_spec"]) == {'{"hidden":[8],"model":"mlp"}', '{"hidden":[16,16],"model":"mlp"}'}
    alone = explicit_config()
    alone.rhos, alone.model_kwargs = (10.0,), {"hidden": (16, 16)}
    single = runner.run_sweep(alone, tmp_path / "alone")
    wide = table[table["model"] == "wide"]
    np.testing.assert_allclose(wide["train_loss"].to_numpy(), single["train_loss"].to_numpy(), rtol=1e-6)
    narrow = table[table["model"] == "narrow"]
    assert not np.allclose(narrow["train_loss"].to_numpy(), wide["train_loss"].to_numpy())
    # A work directory grows: a config with one of its models trains nothing new; a label that now names
    # another architecture would redefine stored runs and is refused.
    subset = with_models(explicit_config(), TWO_MODELS[:1])
    subset.rhos = (10.0,)
    assert len(runner.run_sweep(subset, workdir)) == len(on_disk)
    relabelled = with_models(explicit_config(), (("wide", {"model": "mlp", "hidden": (32,)}),))
    relabelled.rhos = (10.0,)
    with pytest.raises(store.ConfigMismatchError, match="models"):
        runner.run_sweep(relabelled, workdir)


@pytest.mark.slow
def test_analysis_keeps_models_apart(two_model_sweep, tmp_path):
    _, workdir, table = two_model_sweep
    summary = aggregate(table, "train_loss")
    assert set(summary.columns) >= {"model", "model_spec"}
    assert (summary["n"] == 2).all() and len(summary) == 4  # 2 models x 2 methods, 2 seeds each
    expected = table.groupby(["model", "method"])["train_loss"].mean()
    got = summary.set_index(["model", "method"])["mean"]
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy())
    assert "model" in block_columns(table)
    written = report([workdir], tmp_path / "report", metrics=["train_loss", "balanced_accuracy"], baseline="baseline")
    assert "train_loss_vs_model.png" in written
    means = (tmp_path / "report" / "means_train_loss.md").read_text()
    assert "narrow" in means and "wide" in means and "model_spec" not in means
    path = plot_metric_vs(table, "model", "balanced_accuracy", path=tmp_path / "vs_model.png")
    assert path.stat().st_size > 0


def test_model_spec_is_shown_only_when_a_label_has_several_specs():
    """Merged single-model workdirs that share a label (``resnet``) stay apart by ``model_spec``."""
    runs = pd.DataFrame({
        "dataset": "digits", "profile": "step", "model": "resnet", "rho": 10.0, "mu": 0.5,
        "model_spec": ['{"depth":20,"model":"resnet"}'] * 2 + ['{"depth":32,"model":"resnet"}'] * 2,
        "seed": [0, 1, 0, 1], "method": "baseline", "macro_f1": [0.1, 0.2, 0.5, 0.7]})
    summary = aggregate(runs, "macro_f1")
    np.testing.assert_allclose(summary["mean"], [0.15, 0.6])
    assert without_redundant(runs, ["model", "model_spec"]) == ["model", "model_spec"]
    one_spec = runs.assign(model=["res20", "res20", "res32", "res32"])
    assert without_redundant(one_spec, ["model", "model_spec", "rho"]) == ["model", "rho"]


@pytest.mark.slow
def test_cli_summary_has_a_table_per_model(two_model_sweep, capsys):
    from imbjax.sweep.progress import print_summary
    _, _, table = two_model_sweep
    print_summary(table, ["train_loss"])
    out = " ".join(capsys.readouterr().out.split())  # titles may wrap
    assert out.count("train_loss on digits") == 2
    assert out.index("narrow") < out.index("train_loss on digits", out.index("train_loss on digits") + 1) < out.index("wide")
