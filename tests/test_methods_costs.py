"""Learned-cost methods (CoSen, CSDBN-DE) and dynamic sampling on the engine's shared validation split.

References: a NumPy transcription of the CoSen cost update (brute-force nearest neighbours), the
cost-sensitive softmax written out, Elkan's minimum-expected-cost rule ``argmin_q sum_p p_p cost[p, q]``,
imbalanced-learn's G-mean, scikit-learn's F1, the sphere function for differential evolution, the
baseline's training subset, and end-to-end sweeps on separable imbalanced clusters.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import balanced_accuracy_score, f1_score

from imbjax import data as datasets
from imbjax import methods, models
from imbjax.config import base_config, program_spec
from imbjax.engine.method import Context
from imbjax.engine.program import DeviceData
from imbjax.methods import costs, make_program
from imbjax.methods import dynamic_sampling as dynamic
from imbjax.sampling import class_size_weights
from imbjax.sweep import runner

SYNTHETIC = {"num_classes": 4, "n_per_class": 60, "n_features": 4, "class_sep": 10.0}


def tiny_config(methods_, num_steps):
    """4 separable synthetic classes (42 training examples each, 8 of them validation), n_max 32:
    minority classes of 2 and 1 training example(s) at rho 16 and 32."""
    config = base_config()
    config.methods = tuple(methods_)
    config.model_kwargs.hidden = (16,)
    config.batch_size = 16
    config.num_steps = num_steps
    config.learning_rates = (1e-2,)
    config.seeds = 2
    config.datasets = ("synthetic",)
    config.dataset_kwargs = {"synthetic": SYNTHETIC}
    config.validation_fraction = 0.2
    config.rhos = (16.0, 32.0)
    return config


@pytest.fixture(scope="module")
def synthetic():
    dataset = datasets.load("synthetic", **SYNTHETIC)
    return dataset, DeviceData.from_dataset(dataset)


def program_for(dataset, methods_, num_steps=20):
    """``(spec, program)`` of the group of ``methods_`` (one name or a tuple of names of one family)."""
    names = (methods_,) if isinstance(methods_, str) else tuple(methods_)
    spec = program_spec(tiny_config(names, num_steps), dataset, profile="step", method_names=names)
    return spec, make_program(spec)


def run_hparams(spec, **values):
    """A run's full hyper-parameters: rho 16, mu 0.5, lr 1e-2, the method's defaults, ``values``."""
    merged = {"rho": 16.0, "mu": 0.5, "learning_rate": 1e-2, **spec.hparam_defaults(), **values}
    return {**{k: jnp.float32(v) for k, v in merged.items()}, "method_index": jnp.int32(0)}


def model_probs(spec, params, x):
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    return np.asarray(jax.nn.softmax(model.apply(params, x)[0], axis=-1))


# --- CoSen: the cost update against a NumPy transcription --------------------------------------------

def numpy_cost_update(xi, counts, labels, predictions, validation, features, train, anchors, learning_rate):
    """The module docstring's update, written out with loops and float64 distances."""
    num_classes = xi.shape[0]
    confusion = np.zeros((num_classes, num_classes))
    for i in np.flatnonzero(validation):
        confusion[labels[i], predictions[i]] += 1
    rates = np.empty_like(confusion)
    validated = confusion.sum(1) > 0
    for p in range(num_classes):
        rates[p] = confusion[p] / confusion[p].sum() if validated[p] else np.eye(num_classes)[p]
    error = 1 - np.mean(np.diag(rates)[validated]) if validated.any() else 0.0
    f = features.astype(np.float64)

    def nearest(a, q):
        others = [i for i in np.flatnonzero(train & (labels == q)) if i != a]
        return min((np.sum((f[a] - f[i]) ** 2) for i in others), default=np.inf)

    separation = np.zeros((num_classes, num_classes))
    for p in range(num_classes):
        mine = [a for a in anchors if labels[a] == p]
        for q in range(num_classes):
            if mine:
                separation[p, q] = np.mean([nearest(a, p) < nearest(a, q) for a in mine])
    n = np.maximum(counts, 1)
    target = np.ones((num_classes, num_classes))
    for p in range(num_classes):
        for q in range(num_classes):
            if p != q:
                target[p, q] = (max(1, n[q] / n[p]) * (1 + 1 - rates[p, p]) * (1 + rates[p, q])
                                * (2 - separation[p, q]))
    return xi + learning_rate * error * (target - xi), target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cost_update_equals_numpy_transcription(seed):
    rng = np.random.default_rng(seed)
    num_classes, n = 4, 60
    labels = rng.integers(0, 3, n)
    labels[7] = 3  # class 3: a single example, in the training subset, absent from the validation part
    validation = rng.random(n) < 0.4
    validation[7] = False
    train = ~validation & (rng.random(n) < 0.9)
    train[7] = True
    predictions = np.where(rng.random(n) < 0.6, labels, rng.integers(0, num_classes, n))
    features = rng.normal(size=(n, 3)).astype(np.float32)
    anchors = np.concatenate([rng.choice(np.flatnonzero(train), 9), [7, 7]])
    counts = np.bincount(labels[train], minlength=num_classes).astype(np.float32)
    xi = rng.uniform(1, 3, (num_classes, num_classes)).astype(np.float32)
    got_costs, got_target = jax.jit(costs.cost_update)(
        jnp.array(xi), jnp.array(counts), jnp.array(labels), jnp.array(predictions), jnp.array(validation),
        jnp.array(features), jnp.array(train), jnp.array(anchors), 0.7)
    want_costs, want_target = numpy_cost_update(xi, counts, labels, predictions, validation, features, train,
                                                anchors, 0.7)
    np.testing.assert_allclose(got_target, want_target, rtol=1e-5)
    np.testing.assert_allclose(got_costs, want_costs, rtol=1e-5)
    # The unvalidated single-example class: no own neighbour (S = 0), no evidence of error (R = M = 0).
    np.testing.assert_allclose(want_target[3, :3], np.maximum(1, counts[:3] / 1) * 2, rtol=1e-6)


def test_cost_update_without_any_validated_class_leaves_the_costs():
    xi = jnp.full((3, 3), 2.0).at[jnp.diag_indices(3)].set(1.0)
    labels = jnp.array([0, 1, 2, 0, 1, 2])
    new, _ = jax.jit(costs.cost_update)(xi, jnp.array([2.0, 2.0, 2.0]), labels, labels, jnp.zeros(6, bool),
                               jnp.eye(6, 3), jnp.ones(6, bool), jnp.arange(3), 1.0)
    np.testing.assert_array_equal(new, xi)


def test_genomes_give_log_cost_matrices_with_a_zero_diagonal_row_by_true_class():
    matrix = np.asarray(costs.log_cost_matrix(jnp.arange(6.0), 3, "matrix"))
    np.testing.assert_array_equal(matrix, [[0, 0, 1], [2, 0, 3], [4, 5, 0]])
    vector = np.asarray(costs.log_cost_matrix(jnp.array([1.0, 2.0, 3.0]), 3, "vector"))
    np.testing.assert_array_equal(vector, [[0, 1, 1], [2, 0, 2], [3, 3, 0]])
    assert costs.genome_size("vector", 10) == 10 and costs.genome_size("matrix", 10) == 90


# --- CSDBN-DE: prediction and fitness against their rules ----------------------------------------------

def random_probs_and_costs(seed, n, num_classes, form):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(num_classes, 0.7), n).astype(np.float32)
    genome = rng.uniform(-2, 2, costs.genome_size(form, num_classes)).astype(np.float32)
    log_costs = np.asarray(costs.log_cost_matrix(jnp.asarray(genome), num_classes, form))
    return probs, genome, np.where(np.eye(num_classes, dtype=bool), 0.0, np.exp(log_costs))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), num_classes=st.sampled_from([2, 3, 7]), form=st.sampled_from(costs.COST_FORMS))
def test_cost_adjusted_prediction_is_the_minimum_expected_cost_class(seed, num_classes, form):
    probs, _, cost = random_probs_and_costs(seed, 64, num_classes, form)
    adjusted = np.asarray(jax.jit(costs.min_expected_cost_probabilities)(jnp.asarray(probs),
                                                                         jnp.asarray(cost, jnp.float32)))
    expected_cost = probs.astype(np.float64) @ cost
    ordered = np.sort(expected_cost, axis=1)
    clear = ordered[:, 1] - ordered[:, 0] > 1e-4 * ordered[:, 1]  # float32 cannot order near-ties
    np.testing.assert_array_equal(np.argmax(adjusted, 1)[clear], np.argmin(expected_cost, 1)[clear])
    np.testing.assert_allclose(adjusted.sum(1), 1.0, rtol=1e-5)
    assert np.all(adjusted >= 0)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31), num_classes=st.sampled_from([2, 5]))
def test_a_per_class_vector_weights_the_softmax_by_its_costs(seed, num_classes):
    probs, genome, _ = random_probs_and_costs(seed, 32, num_classes, "vector")
    log_costs = costs.log_cost_matrix(jnp.asarray(genome), num_classes, "vector")
    ctx = Context(jnp.ones(num_classes), {"inference_costs": jnp.float32(1.0)}, jnp.int32(0), 1,
                  extra=costs.DEState(None, None, None, log_costs, None))
    postprocess = jax.jit(costs.min_expected_cost_postprocess)
    got = postprocess(jnp.log(jnp.asarray(probs)), ctx)
    weighted = np.exp(genome) * probs
    np.testing.assert_allclose(got, weighted / weighted.sum(1, keepdims=True), rtol=2e-5, atol=1e-7)
    plain = postprocess(jnp.log(jnp.asarray(probs)), ctx._replace(hparams={"inference_costs": jnp.float32(0.0)}))
    np.testing.assert_allclose(plain, probs, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("form", costs.COST_FORMS)
def test_de_fitness_is_minus_the_g_mean_of_cost_adjusted_predictions(form):
    num_classes, n = 4, 300
    rng = np.random.default_rng(3)
    probs, _, _ = random_probs_and_costs(4, n, num_classes, form)
    labels = rng.integers(0, 3, n)  # class 3 never occurs: left out of the G-mean
    where = rng.random(n) < 0.6
    genomes = rng.uniform(-3, 3, (6, costs.genome_size(form, num_classes))).astype(np.float32)
    genomes[1] = -10.0 * (np.arange(genomes.shape[1]) % 3 == 0)  # extreme costs: some class never predicted
    got = np.asarray(jax.jit(costs.cost_fitness, static_argnums=4)(
        jnp.asarray(genomes), jnp.asarray(probs), jnp.asarray(labels), jnp.asarray(where), form))
    for genome, fitness in zip(genomes, got):
        log_costs = np.asarray(costs.log_cost_matrix(jnp.asarray(genome), num_classes, form))
        cost = np.where(np.eye(num_classes, dtype=bool), 0.0, np.exp(log_costs.astype(np.float64)))
        predictions = np.argmin(probs @ cost, axis=1)
        expected = geometric_mean_score(labels[where], predictions[where], labels=[0, 1, 2], average="multiclass",
                                        correction=costs.GMEAN_CORRECTION)
        np.testing.assert_allclose(-fitness, expected, rtol=1e-4)


@pytest.mark.slow
def test_de_improves_the_fitness_of_a_fixed_biased_network_and_its_best_never_gets_worse():
    """A fixed toy network on 3 imbalanced classes (300 / 30 / 10) that favours class 0 by +2 logits:
    the plain argmax (the zero genome, member 0) misses most minority examples; DE finds costs that
    recover them."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [300, 30, 10])
    logits = 1.5 * np.eye(3)[labels] + rng.normal(size=(340, 3)) + np.array([2.0, 0.0, 0.0])
    probs = jax.nn.softmax(jnp.asarray(logits, jnp.float32))
    where = jnp.ones(340, bool)
    strategy = costs.de_strategy(20, 3)
    params = costs.de_params(strategy, {"crossover_rate": jnp.float32(0.9), "differential_weight": jnp.float32(0.8)})
    population = jax.random.uniform(jax.random.PRNGKey(0), (20, 3), minval=-1.0, maxval=1.0).at[0].set(0.0)

    @jax.jit
    def fitness_of(genomes):
        return costs.cost_fitness(genomes, probs, jnp.asarray(labels), where, "vector")

    final, fitness, best = jax.jit(lambda p: costs.evolve(strategy, params, jax.random.PRNGKey(1), p, fitness_of, 15))(
        population)
    best = np.asarray(best)
    plain = float(fitness_of(population)[0])  # member 0: the zero genome, plain argmax
    assert best.shape == (16,) and np.all(np.diff(best) <= 0)
    np.testing.assert_allclose(best[0], np.min(np.asarray(fitness_of(population))), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fitness), np.asarray(fitness_of(final)), rtol=1e-6)
    assert best[-1] < plain - 0.1, (best, plain)
    winner = np.asarray(final[np.argmin(fitness)])
    assert winner[1] - winner[0] > 0.5 and winner[2] - winner[0] > 0.5  # minority misclassification costs more


# --- The engine's shared split: every method trains on the baseline's subset ------------------------------

@pytest.fixture(scope="module")
def baseline_start(synthetic):
    """The baseline's initial state at rho 32, seed 0 (minority classes of 1 training example)."""
    dataset, data = synthetic
    spec, program = program_for(dataset, "baseline")
    return jax.jit(program.init)(data, jax.random.PRNGKey(0), run_hparams(spec, rho=32.0))


def assert_trains_on_the_baselines_subset(state, baseline):
    """Same subset, validation part and class counts as the baseline's run of the seed; sampling
    weights on the whole subset; subset and validation part disjoint."""
    np.testing.assert_array_equal(state.subset, baseline.subset)
    np.testing.assert_array_equal(state.validation, baseline.validation)
    np.testing.assert_array_equal(state.class_counts, baseline.class_counts)
    np.testing.assert_array_equal(np.asarray(state.weights) > 0, np.asarray(baseline.subset))
    assert not np.any(np.asarray(state.subset & state.validation))
    assert int(np.min(state.class_counts)) == 1 and int(np.sum(state.validation)) == 4 * 8


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cosen", "de_costs_matrix"])
def test_training_subset_and_validation_part_are_the_baselines(synthetic, baseline_start, method):
    dataset, data = synthetic
    spec, program = program_for(dataset, method)
    state = jax.jit(program.init)(data, jax.random.PRNGKey(0), run_hparams(spec, rho=32.0))
    assert_trains_on_the_baselines_subset(state, baseline_start)


# --- CSDBN-DE and dynamic sampling runs ------------------------------------------------------------------

@pytest.mark.slow
def test_de_runs_train_with_the_best_costs_and_predict_with_them(synthetic, baseline_start):
    """de_costs (fitness on the training subset) and de_costs_validation (on the validation part): one
    program, the two runs vmapped."""
    dataset, data = synthetic
    spec, program = program_for(dataset, ("de_costs", "de_costs_validation"), num_steps=12)  # 10 rounds
    hparams = {**run_hparams(spec, rho=32.0), "method_index": jnp.arange(2, dtype=jnp.int32)}
    axes = {name: 0 if name == "method_index" else None for name in hparams}
    run = jax.vmap(lambda h: program.advance(data, program.init(data, jax.random.PRNGKey(0), h), h, 12),
                   in_axes=(axes,))
    runs = jax.jit(run)(hparams)
    fitness_of, postprocess = jax.jit(costs.cost_fitness, static_argnums=4), jax.jit(costs.min_expected_cost_postprocess)
    for index, scored in enumerate(("subset", "validation")):
        state = jax.tree.map(lambda leaf, i=index: leaf[i], runs)
        assert_trains_on_the_baselines_subset(state, baseline_start)
        extra = state.extra
        np.testing.assert_array_equal(extra.fitness_mask, getattr(state, scored))
        history = np.asarray(extra.fitness_history)
        assert history.shape == (10, 11) and np.all(np.isfinite(history)) and np.all(np.diff(history, axis=1) <= 0)
        np.testing.assert_allclose(history[-1, -1], np.min(np.asarray(extra.fitness)))
        winner = extra.population[jnp.argmin(extra.fitness)]
        np.testing.assert_array_equal(extra.log_costs, costs.log_cost_matrix(winner, 4, "vector"))
        # The fitness belongs to the final network, scored on the run's fitness set.
        probs = model_probs(spec, state.params, data.x_train)
        refit = fitness_of(extra.population, jnp.asarray(probs), data.y_train, extra.fitness_mask, "vector")
        np.testing.assert_allclose(refit, extra.fitness, rtol=1e-5)
        # Training reads exp(L) (ones on the diagonal); prediction is the minimum-expected-cost class.
        np.testing.assert_allclose(extra.costs, np.exp(np.asarray(extra.log_costs)), rtol=1e-6)
        test_probs = model_probs(spec, state.params, data.x_test)
        weighted = np.exp(np.asarray(winner)) * test_probs
        ctx = Context(state.class_counts, run_hparams(spec), state.step, 12, extra=extra)
        got = postprocess(jnp.log(jnp.asarray(test_probs)), ctx)
        np.testing.assert_allclose(got, weighted / weighted.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_dynamic_sampling_rounds_use_the_validation_f1_of_the_sampled_model(synthetic, baseline_start):
    dataset, data = synthetic
    spec, program = program_for(dataset, "dynamic_sampling")
    hparams = run_hparams(spec, round_steps=6, rho=32.0)
    step = jax.jit(lambda state: program.advance(data, state, hparams, 1))
    state = jax.jit(program.init)(data, jax.random.PRNGKey(0), hparams)
    assert_trains_on_the_baselines_subset(state, baseline_start)
    mass = np.bincount(np.asarray(data.y_train), weights=np.asarray(state.weights), minlength=4)
    np.testing.assert_allclose(mass, mass[0], rtol=1e-5)  # every F1 is 0 before the first round
    for _ in range(6):
        state = step(state)
    assert float(jnp.sum(state.extra.f1)) == 0.0  # no round has ended before step 6 is taken
    validation = np.asarray(state.validation)
    predictions = np.argmax(model_probs(spec, state.params["sampled"], data.x_train), -1)
    expected_f1 = f1_score(np.asarray(data.y_train)[validation], predictions[validation], labels=range(4),
                           average=None, zero_division=0)
    state = step(state)
    np.testing.assert_allclose(state.extra.f1, expected_f1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        state.weights, class_size_weights(data.y_train, state.subset,
                                          dynamic.eq11_sizes(expected_f1, state.class_counts)), rtol=1e-5)
    # A class absent from the validation part scores F1 = 0 (and is sampled most by Eq. 11).
    without_3 = jnp.asarray(validation & (np.asarray(data.y_train) != 3))
    assert float(dynamic.validation_f1(data.y_train, jnp.asarray(predictions), without_3, 4)[3]) == 0.0
    # The prediction averages the two models' probabilities (ensemble_weight 0.5), on validation and test.
    results = jax.jit(program.test_metrics)(data, state, hparams)
    ensemble = [0.5 * model_probs(spec, state.params["sampled"], x) + 0.5 * model_probs(spec, state.params["plain"], x)
                for x in (data.x_train, data.x_test)]
    labels = np.asarray(data.y_train)[validation]
    np.testing.assert_allclose(results["val_balanced_accuracy"],
                               balanced_accuracy_score(labels, np.argmax(ensemble[0], 1)[validation]), rtol=1e-6)
    np.testing.assert_allclose(results["balanced_accuracy"],
                               balanced_accuracy_score(np.asarray(data.y_test), np.argmax(ensemble[1], 1)), rtol=1e-6)


@pytest.mark.slow
def test_cosen_runs_in_a_vmapped_sweep_on_one_subset_per_seed(tmp_path):
    """CoSen through the sweep runner (DE's runs are vmapped above and dynamic sampling's prediction is
    checked above; their evaluation is the standard program's and the one checked above)."""
    config = tiny_config(("cosen", "cosen_hinge"), num_steps=60)
    config.hparams = {"cosen": {"cost_update_steps": 10.0, "cost_learning_rate": (1e-6, 0.5)},
                      "cosen_hinge": {"cost_update_steps": 10.0}}
    table = runner.run_sweep(config, tmp_path / "sweep")
    assert sorted(table.method.unique()) == ["cosen", "cosen_hinge"] and len(table) == 12
    for metric in ("accuracy", "balanced_accuracy", "ovr_roc_auc", "train_loss", "val_balanced_accuracy"):
        assert np.all(np.isfinite(table[metric])), metric
    assert np.all(table.diverged == 0)
    for _, runs in table.groupby(["seed", "rho"]):
        assert runs.train_examples.nunique() == 1 and runs.train_min_class.nunique() == 1
    assert set(table[table.rho == 32.0].train_min_class) == {1}
    # Learned costs change training: the same runs with (almost) frozen costs end elsewhere.
    cosen = table[table.method == "cosen"].sort_values(["rho", "seed"])
    frozen, learned = (cosen[cosen.hp_cost_learning_rate == rate].train_loss.to_numpy() for rate in (1e-6, 0.5))
    assert np.all(np.abs(learned - frozen) > 1e-3), (learned, frozen)
    minority = table[(table.rho == 16.0) & (table.hp_cost_learning_rate != 1e-6)]
    for method, runs in minority.groupby("method"):
        recall = runs[["recall_per_class_2", "recall_per_class_3"]].to_numpy().mean()
        assert recall > 0.25, (method, recall)  # chance is 1 / 4


# --- Bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, grid", [
    ("cosen", {"cost_learning_rate": (0.5, 1.5)}), ("cosen", {"cost_learning_rate": (0.0,)}),
    ("cosen_hinge", {"cost_update_steps": (-2.0,)}), ("cosen", {"cost_update_steps": (-1.0,)}),
    ("de_costs", {"crossover_rate": (1.2,)}), ("de_costs", {"differential_weight": (-0.1,)}),
    ("de_costs", {"cost_init_range": (11.0,)}), ("de_costs_matrix", {"inference_costs": (1.5,)}),
    ("dynamic_sampling", {"ensemble_weight": (1.5,)}), ("dynamic_sampling", {"round_steps": (-1.0,)}),
])
def test_out_of_range_values_are_refused_before_compiling(method, grid):
    (name, values), = grid.items()
    with pytest.raises(ValueError, match=f"{method} hyper-parameter {name}={values[-1]!r} is outside its valid range"):
        methods.check_hparams(method, grid)
    methods.check_hparams(method, {})  # the defaults are valid


def test_validation_fraction_is_no_method_hyper_parameter_and_validation_methods_need_the_split():
    for name in methods.available():
        with pytest.raises(ValueError, match="has no hyper-parameter 'validation_fraction'"):
            methods.check_hparams(name, {"validation_fraction": 0.2})
    assert {name for name in methods.available() if methods.get(name).needs_validation} == {
        "cosen", "cosen_hinge", "de_costs_validation", "dynamic_sampling"}


@pytest.mark.parametrize("change, message", [
    ({"form": "diagonal"}, r"form='diagonal'; choose one of \('vector', 'matrix'\)"),
    ({"fitness_set": "test"}, r"fitness_set='test'; choose one of \('train', 'validation'\)"),
    ({"fitness_set": "validation"}, "needs needs_validation=True"),
    ({"population_size": 3}, "population_size=3; DE/best/1 needs at least 4"),
    ({"rounds": 0}, "rounds=0; choose a whole number >= 1"),
])
def test_bad_de_constants_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(methods.get("de_costs"), name="bad", **change)


def test_de_program_refuses_too_few_steps_and_mixed_constants(synthetic):
    dataset, _ = synthetic
    spec = program_spec(tiny_config(("de_costs",), num_steps=5), dataset, profile="step", method_names=("de_costs",))
    with pytest.raises(ValueError, match="needs num_steps >= rounds, got num_steps=5 and rounds=10"):
        make_program(spec)
    small = dataclasses.replace(methods.get("de_costs"), name="de_costs_small", population_size=8)
    with pytest.raises(ValueError, match=r"must share population_size, got \[8, 40\]"):
        make_program(dataclasses.replace(spec, num_steps=30, methods=(methods.get("de_costs"), small)))
