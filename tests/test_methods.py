"""The method registry and the core methods' pieces."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imbjax import methods
from imbjax.engine.method import Context, Method
from imbjax.methods import standard


def _context(counts, **hparams):
    return Context(jnp.asarray(counts, jnp.float32), {k: jnp.float32(v) for k, v in hparams.items()},
                           jnp.int32(0), 100)


def test_threshold_moving_divides_probabilities_by_training_priors():
    logits = jax.random.normal(jax.random.PRNGKey(0), (7, 4)) * 3
    counts = np.array([100.0, 50.0, 5.0, 1.0])
    got = standard.threshold_moving(logits, _context(counts))
    p = np.exp(np.asarray(logits, np.float64))
    p /= p.sum(1, keepdims=True)
    moved = p / (counts / counts.sum())
    np.testing.assert_allclose(got, moved / moved.sum(1, keepdims=True), rtol=1e-5)


def test_threshold_moving_is_finite_with_an_empty_class():
    probs = standard.threshold_moving(jnp.array([[50.0, -50.0, 0.0]]), _context([10.0, 0.0, 3.0]))
    assert np.all(np.isfinite(probs)) and np.isclose(float(probs.sum()), 1.0)


def test_cost_sensitive_ce_uses_the_cost_ratio_on_minority_classes():
    logits = jnp.zeros((2, 3))
    labels = jnp.array([0, 2])
    loss_1 = standard.cost_sensitive_mean_ce(logits, labels, _context([10.0, 10.0, 2.0], cost_ratio=1.0))
    loss_3 = standard.cost_sensitive_mean_ce(logits, labels, _context([10.0, 10.0, 2.0], cost_ratio=3.0))
    ce = np.log(3.0)
    np.testing.assert_allclose(loss_1, ce, rtol=1e-6)
    np.testing.assert_allclose(loss_3, (ce + 3 * ce) / 2, rtol=1e-6)


def test_samplers_of_core_methods():
    labels = jnp.array([0, 0, 0, 0, 1, 1, 2])
    mask = jnp.array([1, 1, 1, 0, 1, 1, 1], bool)
    ctx = _context([3, 2, 1])
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(methods.get("baseline").sampler(key, labels, mask, ctx), np.asarray(mask, float))
    ros = np.asarray(methods.get("ros").sampler(key, labels, mask, ctx))
    np.testing.assert_allclose(np.bincount(labels, weights=ros), [1.0, 1.0, 1.0], rtol=1e-6)
    rus = np.asarray(methods.get("rus").sampler(key, labels, mask, ctx))
    np.testing.assert_array_equal(np.bincount(labels, weights=rus), [1, 1, 1])


def test_registry_holds_every_method_of_every_family_module_and_each_method_has_its_family():
    from_modules = [method for module in methods.MODULES for method in module.METHODS]
    assert sorted(methods.available()) == sorted(method.name for method in from_modules)
    for method in from_modules:
        assert methods.get(method.name) is method
        assert method.family in methods.FAMILIES, (method.name, method.family)
    assert methods.get("ros_threshold").postprocess is standard.threshold_moving


def test_unknown_method_and_hparam_errors_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown method 'smote9'; choose one of \[.*'baseline'"):
        methods.get("smote9")
    with pytest.raises(ValueError, match=r"method 'focal' has no hyper-parameter 'beta'; its hyper-parameters are \['alpha', 'gamma'\]"):
        methods.check_hparams("focal", {"beta": (0.9,)})
    with pytest.raises(ValueError, match="already registered"):
        methods.register(Method("ros"))


@pytest.mark.parametrize("method, grid, message", [
    ("cb_ce", {"beta": (0.9, 1.0)}, "cb_ce hyper-parameter beta=1.0 is outside its valid range"),
    ("focal", {"gamma": (-1.0,)}, "focal hyper-parameter gamma=-1.0 is outside"),
    ("ldam_drw", {"drw_start": (1.5,)}, "drw_start=1.5"),
    ("cs_ce", {"cost_ratio": (0.0,)}, "cost_ratio=0.0"),
])
def test_out_of_range_hyperparameters_are_refused(method, grid, message):
    with pytest.raises(ValueError, match=message):
        methods.check_hparams(method, grid)
    methods.check_hparams(method, {})  # the defaults are valid


def test_threshold_n_that_thresholds_no_class_is_refused_before_compiling(tiny_config):
    """N at or above n_max (the largest class of every run) leaves every class whole; floor(N) is
    the N the sampler applies, so 99.9 still thresholds a class of 100."""
    from imbjax.config import program_spec
    from imbjax.data import load

    check = methods.get("two_phase_threshold_n").check_setting
    check({"threshold_n": (1.0, 20.0, 99.9)}, 100)
    with pytest.raises(ValueError, match=r"^two_phase_threshold_n: threshold_n=100.0 thresholds no class \(the "
                                         r"largest class has n_max=100 examples\); choose threshold_n < 100$"):
        check({"threshold_n": (20.0, 100.0)}, 100)
    tiny_config.methods = ("two_phase_threshold_n",)
    dataset = load("digits")
    with pytest.raises(ValueError, match=r"threshold_n=5000.0 thresholds no class"):  # Lee et al.'s default N
        program_spec(tiny_config, dataset, profile="step", method_names=tiny_config.methods)
    tiny_config.hparams = {"two_phase_threshold_n": {"threshold_n": (20.0,)}}
    assert program_spec(tiny_config, dataset, profile="step", method_names=tiny_config.methods).n_max > 20


def test_ldam_runs_train_a_cosine_classifier_in_a_group_of_their_own(tiny_config):
    """The LDAM methods' model_kwargs put the cosine head on the run's model: their own group and
    program, recorded in model_spec; the other methods keep the linear head."""
    from imbjax import models
    from imbjax.config import program_spec
    from imbjax.data import load
    from imbjax.sweep import grid

    tiny_config.methods = ("baseline", "ldam", "ldam_drw")
    groups = {group.methods: group for group in grid.expand(tiny_config)}
    assert set(groups) == {("baseline",), ("ldam", "ldam_drw")}
    assert dict(groups["ldam", "ldam_drw"].model.kwargs)["head"] == "cosine"
    assert "head" not in dict(groups["baseline",].model.kwargs)
    specs = {run.columns["method"]: run.columns["model_spec"] for group in groups.values() for run in group.runs}
    assert '"head":"cosine"' in specs["ldam"] and '"head":"cosine"' in specs["ldam_drw"]
    assert "head" not in specs["baseline"]
    spec = program_spec(tiny_config, load("digits"), profile="step", method_names=("ldam", "ldam_drw"))
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.ones((1, *spec.input_shape)))
    assert set(params["params"][models.HEAD]) == {"kernel"}
