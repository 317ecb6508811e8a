"""What a run trains on is what its row says: exact ratios, one shared validation part, paired
training subsets across methods, diverged runs marked, method settings checked before compiling."""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imbjax import imbalance, methods
from imbjax.config import make_train, program_spec, validate
from imbjax.data import load
from imbjax.engine.program import DeviceData
from imbjax.methods import make_program
from imbjax.sweep import grid, runner

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


@settings(max_examples=50, deadline=None)
@given(counts=st.lists(st.integers(0, 500), min_size=2, max_size=12))
def test_the_trained_ratio_is_max_over_min_and_infinite_when_a_class_is_empty(counts):
    expected = max(counts) / min(counts) if min(counts) > 0 else np.inf
    assert float(imbalance.trained_ratio(jnp.asarray(counts))) == pytest.approx(expected, rel=1e-6)


def test_a_kernel_run_that_empties_the_minority_classes_reports_an_infinite_ratio(tiny_config):
    """make_train takes any traced rho: where the subset keeps no minority example, the row says so
    (train_min_class 0, train_rho inf) instead of the ratio among the classes left."""
    train = jax.jit(jax.vmap(make_train(tiny_config, method="baseline"), in_axes=(None, 0)))
    out = train(jax.random.PRNGKey(0), {"rho": jnp.asarray([10.0, 1000.0])})
    np.testing.assert_array_equal(np.asarray(out["train_min_class"]), [12, 0])
    np.testing.assert_array_equal(np.asarray(out["train_rho"]), [10.0, np.inf])


def test_exact_n_max_on_digits_and_refusals():
    assert imbalance.exact_n_max(122, (1, 10, 20, 50)) == 100
    assert imbalance.exact_n_max(122, (1, 10, 30)) == 120
    with pytest.raises(ValueError, match=r"n_max=91 reaches \['1', '7', '13'\]"):
        imbalance.exact_n_max(122, (1, 7, 11, 13))
    with pytest.raises(ValueError, match="n_max=122 does not train rho 10, 50 exactly"):
        imbalance.exact_n_max(122, (1, 10, 50), requested=122)
    with pytest.raises(ValueError, match="exceeds the smallest class"):
        imbalance.exact_n_max(122, (1,), requested=123)


@pytest.mark.slow
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
                   "weight_decay": jnp.float32(0.0), "method_index": jnp.int32(0),
                   **{k: jnp.float32(v) for k, v in spec.hparam_defaults().items()}}
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_diverged_run_is_marked_and_has_no_scores(tiny_config):
    tiny_config.num_steps = 20
    train = jax.jit(make_train(tiny_config))
    exploded = train(jax.random.PRNGKey(0), {"learning_rate": 1e30})
    assert float(exploded["diverged"]) == 1.0
    assert np.isnan(float(exploded["balanced_accuracy"])) and np.isnan(float(exploded["accuracy"]))
    healthy = train(jax.random.PRNGKey(0), {"learning_rate": 1e-3})
    assert float(healthy["diverged"]) == 0.0 and float(healthy["balanced_accuracy"]) > 0.1


@pytest.mark.parametrize("family, refused", [("standard", False), ("resampling", True), ("two_phase", True)])
def test_a_methods_own_learning_rate_is_refused_by_a_family_that_would_ignore_it(tiny_config, monkeypatch,
                                                                                 family, refused):
    """A method's ``learning_rate_factor`` is applied by the families that read it and refused, naming
    the method and those families, by the others (never silently trained at the run's rate)."""
    probe = dataclasses.replace(methods.get("baseline"), name="slow_phase", family=family,
                                learning_rate_factor=lambda ctx: jnp.where(ctx.step > 5, 0.1, 1.0))
    monkeypatch.setitem(methods.REGISTRY, probe.name, probe)
    tiny_config.methods = (probe.name,)
    make_spec = functools.partial(program_spec, tiny_config, load("digits"), profile="step",
                                  method_names=(probe.name,))
    if refused:
        with pytest.raises(ValueError, match=rf"'slow_phase' sets its own learning_rate_factor.*family '{family}'"
                                             r".*\['category_centres', 'crl', 'standard'\]"):
            make_spec()
    else:
        assert make_spec().methods == (probe,)


# --- the training recipe: schedules and weight decay --------------------------------------------

def _reference_multiplier(kind, t, num_steps, warmup, decay_steps, factor):
    """NumPy transcription: linear warm-up (t + 1) / W, then constant, step decay or cosine."""
    if t < warmup:
        return (t + 1) / warmup
    if kind == "cosine":
        return 0.5 * (1 + np.cos(np.pi * min(t - warmup, num_steps - warmup) / (num_steps - warmup)))
    if kind == "step":
        return factor ** sum(t >= b for b in decay_steps)
    return 1.0


@pytest.mark.parametrize("kind, warmup, decay_steps", [
    ("constant", 0, ()), ("constant", 5, ()), ("step", 5, (160, 180)), ("step", 0, (50,)), ("cosine", 10, ()),
    ("cosine", 0, ())])
def test_schedules_match_their_formulas_and_optax(kind, warmup, decay_steps):
    from imbjax.engine.optimizers import LRSchedule

    schedule = LRSchedule(kind, 200, warmup, decay_steps, 0.01)
    multiplier = jax.jit(schedule.multiplier())
    for t in (0, 1, 4, 5, 9, 10, 50, 100, 159, 160, 179, 180, 199):
        want = _reference_multiplier(kind, t, 200, warmup, decay_steps, 0.01)
        assert float(multiplier(t)) == pytest.approx(want, rel=1e-5, abs=1e-7), t
    if kind == "cosine" and not warmup:
        import optax
        np.testing.assert_allclose([float(multiplier(t)) * 0.1 for t in range(200)],
                                   [float(optax.cosine_decay_schedule(0.1, 200)(t)) for t in range(200)], rtol=1e-5)


def test_sgd_weight_decay_is_pytorchs_coupled_decay():
    """One SGD step with momentum: ``v = g + wd * w; w -= lr * v`` (torch.optim.SGD)."""
    from imbjax.engine.optimizers import OPTIMIZERS

    w, g = jnp.array([1.0, -2.0]), jnp.array([0.5, 0.25])
    optimizer = OPTIMIZERS["sgd"](0.1, 0.01)
    updates, state = optimizer.update(g, optimizer.init(w), w)
    np.testing.assert_allclose(w + updates, w - 0.1 * (g + 0.01 * w), rtol=1e-6)
    decoupled = OPTIMIZERS["adamw"](0.1, 0.01)
    updates, _ = decoupled.update(g, decoupled.init(w), w)
    np.testing.assert_allclose(w + updates, w - 0.1 * (np.sign(g) + 0.01 * w), rtol=1e-4)


@pytest.mark.slow
def test_weight_decay_is_a_traced_sweep_axis(tiny_config):
    tiny_config.weight_decays = (0.0, 0.1)
    tiny_config.optimizer = "sgd"
    tiny_config.lr_schedule = "step"
    tiny_config.lr_warmup_fraction = 0.1
    tiny_config.lr_decay_fractions = (0.5,)
    groups = grid.expand(tiny_config)
    decays = {run.columns["hp_weight_decay"] for group in groups for run in group.runs}
    assert decays == {0.0, 0.1}
    train = jax.jit(jax.vmap(make_train(tiny_config)))
    out = train(jax.random.split(jax.random.PRNGKey(0), 2), {"weight_decay": jnp.array([0.0, 0.1])})
    assert float(out["train_loss"][0]) != float(out["train_loss"][1])
    tiny_config.lr_schedule = "constant"
    with pytest.raises(ValueError, match="lr_decay_fractions=.* needs lr_schedule='step'"):
        validate(tiny_config)


# --- seeds as the researcher means them ---------------------------------------------------------

@pytest.mark.slow
def test_seeds_may_be_an_explicit_list_and_data_seeds_an_axis_of_their_own(tiny_config):
    tiny_config.seeds = (3, 7)
    tiny_config.data_seeds = (0, 1)
    tiny_config.rhos = (10.0,)
    tiny_config.methods = ("baseline",)
    runs = [run for group in grid.expand(tiny_config) for run in group.runs]
    assert sorted((r.columns["seed"], r.columns["data_seed"]) for r in runs) == [(3, 0), (3, 1), (7, 0), (7, 1)]
    tiny_config.num_steps = 1
    dataset = load("digits")
    spec = program_spec(tiny_config, dataset, profile="step", method_names=("baseline",))
    init = jax.jit(make_program(spec).init)
    data = DeviceData.from_dataset(dataset)

    def state(seed, data_seed):
        hparams = {"rho": jnp.float32(10.0), "mu": jnp.float32(0.5), "learning_rate": jnp.float32(1e-3),
                   "method_index": jnp.int32(0), "data_seed": jnp.int32(data_seed)}
        return init(data, jax.random.PRNGKey(seed), hparams)

    same_data = state(3, 0), state(7, 0)
    np.testing.assert_array_equal(same_data[0].subset, same_data[1].subset)  # same data, other init
    assert not np.array_equal(same_data[0].params["params"]["Dense_0"]["kernel"],
                              same_data[1].params["params"]["Dense_0"]["kernel"])
    same_init = state(3, 0), state(3, 1)
    assert not np.array_equal(same_init[0].subset, same_init[1].subset)  # other data, same init
    np.testing.assert_array_equal(same_init[0].params["params"]["Dense_0"]["kernel"],
                                  same_init[1].params["params"]["Dense_0"]["kernel"])
    tiny_config.data_seeds = None  # the default: a run's data seed is its own seed, as before
    default = jax.jit(make_program(program_spec(tiny_config, dataset, profile="step",
                                                method_names=("baseline",))).init)
    np.testing.assert_array_equal(default(data, jax.random.PRNGKey(7), {k: v for k, v in {
        "rho": jnp.float32(10.0), "mu": jnp.float32(0.5), "learning_rate": jnp.float32(1e-3),
        "method_index": jnp.int32(0)}.items()}).subset, state(3, 7).subset)


@pytest.mark.parametrize("value, message", [(0, "positive integer"), ((), "non-empty tuple"), ((1, 1), "repeats"),
                                            ((1, -2), "non-negative"), ("3", "non-empty tuple")])
def test_bad_seeds_are_refused(tiny_config, value, message):
    tiny_config.seeds = value
    with pytest.raises(ValueError, match=message):
        validate(tiny_config)


def test_an_unknown_classifier_head_is_refused_by_config_validation(tiny_config):
    tiny_config.model_kwargs.head = "cos"
    with pytest.raises(ValueError, match=r"unknown head 'cos' in config.model; choose one of \['linear', 'cosine'\]"):
        validate(tiny_config)


# --- a diverged run's scores ---------------------------------------------------------------------

def test_a_diverged_runs_scores_are_nan_alike_in_its_program_and_on_the_host():
    """``scored`` NaNs every floating test score of a diverged run and keeps integer ones and what the
    run trained on, the same inside a vmapped program (jnp) and on gathered host outputs (NumPy)."""
    from imbjax import metrics
    from imbjax.engine.program import score, scored

    rng = np.random.default_rng(0)
    y_test = rng.integers(0, 3, 20).astype(np.int32)
    outputs = {"test_probs": rng.dirichlet(np.ones(3), (2, 20)).astype(np.float32),
               "diverged": np.array([1.0, 0.0], np.float32), "train_examples": np.array([30, 31], np.int32),
               "train_loss": np.array([np.nan, 0.5], np.float32)}
    host = scored(outputs, metrics.compute_all_runs(y_test, outputs["test_probs"], num_classes=3))
    in_program = jax.vmap(score, in_axes=(None, 0))(jnp.asarray(y_test), outputs)
    assert "test_probs" not in host and set(host) == set(in_program)
    assert np.isnan(host["balanced_accuracy"][0]) and np.isnan(host["f1_per_class"][0]).all()
    assert np.isfinite(host["balanced_accuracy"][1]) and np.isfinite(host["f1_per_class"][1]).all()
    np.testing.assert_array_equal(host["support_per_class"][0], np.bincount(y_test, minlength=3))  # integer kept
    np.testing.assert_array_equal(host["train_examples"], [30, 31])
    for name, value in host.items():
        np.testing.assert_allclose(value, in_program[name], rtol=1e-6, atol=1e-7, err_msg=name)
