"""What a run trains on is what its row says: exact ratios, one shared validation part, paired
training subsets across methods, diverged runs marked, method settings checked before compiling."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imbjax import imbalance, methods
from imbjax.config import validate
from imbjax.data import load
from imbjax.sweep import grid, runner
from imbjax.train import DeviceData, make_program, make_train, program_spec


# --- exact ratios ------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(available=st.integers(1, 400), rhos=st.lists(st.sampled_from([1, 2, 2.5, 4, 5, 10, 20, 30, 50, 100]),
                                                     min_size=1, max_size=4))
def test_exact_n_max_is_the_largest_size_training_every_rho_exactly(available, rhos):
    def exact(n):
        return all(abs(n / r - round(n / r)) < 1e-9 and n / r >= 1 for r in rhos)

    feasible = [n for n in range(1, available + 1) if exact(n)]
    if not feasible:
        with pytest.raises(ValueError, match="exactly"):
            imbalance.exact_n_max(available, rhos)
        return
    n_max = imbalance.exact_n_max(available, rhos)
    assert n_max == max(feasible)
    for rho in rhos:
        counts = imbalance.class_counts(10, n_max, profile="exp", rho=rho)
        assert float(imbalance.imbalance_ratio(counts)) == pytest.approx(rho)


def test_exact_n_max_on_digits_and_refusals():
    assert imbalance.exact_n_max(122, (1, 10, 20, 50)) == 100
    assert imbalance.exact_n_max(122, (1, 10, 30)) == 120
    with pytest.raises(ValueError, match=r"n_max=91 reaches \['1', '7', '13'\]"):
        imbalance.exact_n_max(122, (1, 7, 11, 13))
    with pytest.raises(ValueError, match="n_max=122 does not train rho 10, 50 exactly"):
        imbalance.exact_n_max(122, (1, 10, 50), requested=122)
    with pytest.raises(ValueError, match="exceeds the smallest class"):
        imbalance.exact_n_max(122, (1,), requested=123)


def test_every_trained_ratio_of_a_sweep_is_its_nominal_ratio(tiny_config, tmp_path):
    tiny_config.rhos = (1.0, 10.0, 20.0, 50.0)
    tiny_config.seeds = 1
    tiny_config.num_steps = 2
    table = runner.run_sweep(tiny_config, tmp_path / "work")
    np.testing.assert_array_equal(table["train_rho"], table["rho"])


def test_an_unreachable_ratio_is_refused_before_the_workdir_is_claimed(tiny_config, tmp_path):
    tiny_config.rhos = (1.0, 7.0, 11.0, 13.0)
    with pytest.raises(ValueError, match="trains every rho"):
        runner.run_sweep(tiny_config, tmp_path / "work")
    assert not (tmp_path / "work").exists()


# --- the shared validation part -----------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), fraction=st.sampled_from([0.1, 0.2, 0.25, 0.5]))
def test_validation_split_is_stratified_and_disjoint(seed, fraction):
    labels = jnp.asarray(np.random.default_rng(seed).integers(0, 5, size=300))
    pool, validation = imbalance.validation_split(jax.random.PRNGKey(seed), labels, 5, fraction)
    assert not np.any(np.asarray(pool & validation)) and np.all(np.asarray(pool | validation))
    counts = np.bincount(np.asarray(labels), minlength=5)
    held = np.bincount(np.asarray(labels)[np.asarray(validation)], minlength=5)
    np.testing.assert_array_equal(held, np.minimum(np.floor(fraction * counts + 1e-4), counts - 1))


def test_no_validation_part_keeps_the_whole_pool():
    pool, validation = imbalance.validation_split(jax.random.PRNGKey(0), jnp.arange(10) % 3, 3, 0.0)
    assert np.all(np.asarray(pool)) and not np.any(np.asarray(validation))


def _settings_for(method):
    """Hyper-parameter values a method accepts on digits at n_max 100 (its defaults, unless its
    ``check_setting`` refuses them: then the smallest value of each bounded hyper-parameter)."""
    if method.check_setting is None:
        return {}
    try:
        method.check_setting({k: (v,) for k, v in method.hparams.items()}, 100)
        return {}
    except ValueError:
        return {name: (max(low, 1.0),) for name, (low, _) in method.bounds.items()}


@pytest.mark.slow
def test_every_method_of_a_seed_trains_on_the_same_examples(tiny_config):
    """The training subset, its class counts and the validation part depend on the seed only."""
    dataset = load("digits")
    data = DeviceData.from_dataset(dataset)
    tiny_config.rhos = (10.0,)
    tiny_config.validation_fraction = 0.2
    key = jax.random.PRNGKey(3)
    seen = {}
    for name in methods.available():
        method = methods.get(name)
        tiny_config.methods = (name,)
        tiny_config.hparams = {name: _settings_for(method)} if _settings_for(method) else {}
        spec = program_spec(tiny_config, dataset, profile="step", method_names=(name,))
        hparams = {"rho": jnp.float32(10.0), "mu": jnp.float32(0.5), "learning_rate": jnp.float32(1e-3),
                   "method_index": jnp.int32(0), **{k: jnp.float32(v) for k, v in spec.hparam_defaults().items()}}
        state = jax.jit(make_program(spec).init)(data, key, hparams)
        seen[name] = tuple(np.asarray(a) for a in (state.subset, state.validation, state.class_counts))
    reference = seen["baseline"]
    for name, arrays in seen.items():
        for what, got, want in zip(("subset", "validation", "class counts"), arrays, reference):
            np.testing.assert_array_equal(got, want, err_msg=f"{name}: {what} differs from the baseline's")
    assert reference[1].sum() > 0 and not np.any(reference[0] & reference[1])


def test_a_method_needing_validation_is_refused_without_it(tiny_config, monkeypatch):
    needy = dataclasses.replace(methods.get("baseline"), name="needs_val_probe", needs_validation=True)
    monkeypatch.setitem(methods.REGISTRY, needy.name, needy)
    tiny_config.methods = ("baseline", needy.name)
    with pytest.raises(ValueError, match="'needs_val_probe' tunes on validation data; set config.validation_fraction"):
        validate(tiny_config)
    tiny_config.validation_fraction = 0.2
    validate(tiny_config)


def test_validation_metrics_are_recorded(tiny_config):
    tiny_config.validation_fraction = 0.25
    tiny_config.num_steps = 5
    result = jax.jit(make_train(tiny_config))(jax.random.PRNGKey(0), {"rho": 10.0})
    for name in ("val_balanced_accuracy", "val_g_mean", "val_macro_f1"):
        assert 0.0 <= float(result[name]) <= 1.0


# --- settings checked before compiling, model overrides, divergence -------------------------------

def test_check_setting_sees_the_swept_values_and_n_max(tiny_config, monkeypatch):
    seen = []

    def refuse_large(values, n_max):
        seen.append((values, n_max))
        if max(values["cost_ratio"]) > n_max:
            raise ValueError("cost_ratio above n_max")

    probe = dataclasses.replace(methods.get("cs_ce"), name="check_probe", check_setting=refuse_large)
    monkeypatch.setitem(methods.REGISTRY, probe.name, probe)
    tiny_config.methods = (probe.name,)
    tiny_config.hparams = {probe.name: {"cost_ratio": (2.0, 500.0)}}
    with pytest.raises(ValueError, match="cost_ratio above n_max"):
        program_spec(tiny_config, load("digits"), profile="step", method_names=(probe.name,))
    assert seen == [({"cost_ratio": (2.0, 500.0)}, 120)]


def test_a_methods_model_overrides_split_groups_and_are_recorded(tiny_config, monkeypatch):
    narrow = dataclasses.replace(methods.get("baseline"), name="narrow_probe", model_kwargs={"hidden": (8,)})
    monkeypatch.setitem(methods.REGISTRY, narrow.name, narrow)
    tiny_config.methods = ("baseline", narrow.name)
    groups = grid.expand(tiny_config)
    assert [g.methods for g in groups] == [("baseline",), (narrow.name,)]
    assert dict(groups[1].model.kwargs)["hidden"] == (8,)
    assert '"hidden":[8]' in groups[1].runs[0].columns["model_spec"]
    spec = program_spec(tiny_config, load("digits"), profile="step", method_names=(narrow.name,),
                        model=groups[1].model)
    assert dict(spec.model_kwargs)["hidden"] == (8,)


def test_a_diverged_run_is_marked_and_has_no_scores(tiny_config):
    tiny_config.num_steps = 20
    train = jax.jit(make_train(tiny_config))
    exploded = train(jax.random.PRNGKey(0), {"learning_rate": 1e30})
    assert float(exploded["diverged"]) == 1.0
    assert np.isnan(float(exploded["balanced_accuracy"])) and np.isnan(float(exploded["accuracy"]))
    healthy = train(jax.random.PRNGKey(0), {"learning_rate": 1e-3})
    assert float(healthy["diverged"]) == 0.0 and float(healthy["balanced_accuracy"]) > 0.1
