"""Learned-cost methods: CoSen (Khan et al. 2018) and CSDBN-DE (Zhang et al.).

References: a NumPy transcription of the CoSen cost update (brute-force nearest neighbours), the
cost-sensitive softmax written out, the sphere function for differential evolution, and end-to-end
sweeps on separable imbalanced clusters.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imbjax import data as datasets
from imbjax import methods, models
from imbjax.config import base_config
from imbjax.imbalance import holdout_counts
from imbjax.method_library import costs
from imbjax.sweep import runner
from imbjax.train import DeviceData, make_program, program_spec


# --- CoSen: the cost update against a NumPy transcription --------------------------------------------

def numpy_cost_update(xi, counts, labels, predictions, validation, features, train, anchors, learning_rate):
    """The module docstring's update, written out with loops and float64 distances."""
    num_classes = xi.shape[0]
    confusion = np.zeros((num_classes, num_classes))
    for i in np.flatnonzero(validation):
        confusion[labels[i], predictions[i]] += 1
    rates = np.empty_like(confusion)
    for p in range(num_classes):
        total = confusion[p].sum()
        rates[p] = confusion[p] / total if total else (1 - np.eye(num_classes)[p]) / (num_classes - 1)
    error = 1 - np.mean(np.diag(rates))
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
    labels[7] = 3  # class 3: a single example, in the training part, never validated
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
    # The single-example class has no own neighbour (S = 0) and no validation example (R = 1, M = 1/3).
    np.testing.assert_allclose(want_target[3, :3], np.maximum(1, counts[:3] / 1) * 2 * (4 / 3) * 2, rtol=1e-6)


def test_cost_sensitive_losses_are_the_written_out_formulas():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    xi = rng.uniform(0.5, 4, (3, 3))
    weighted = xi[labels] * np.exp(logits)
    expected = -np.log(weighted[np.arange(6), labels] / weighted.sum(1))
    got = costs.cost_sensitive_softmax_ce(jnp.array(logits, jnp.float32), jnp.array(labels), jnp.array(xi, jnp.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    hinge = [sum(max(0.0, 1 + logits[i, q] + np.log(xi[labels[i], q]) - logits[i, labels[i]]
                     - np.log(xi[labels[i], labels[i]])) for q in range(3) if q != labels[i]) for i in range(6)]
    got = costs.cost_sensitive_hinge(jnp.array(logits, jnp.float32), jnp.array(labels), jnp.array(xi, jnp.float32))
    np.testing.assert_allclose(got, hinge, rtol=1e-5, atol=1e-6)
    log_costs = jnp.arange(6.0)
    matrix = costs.costs_from_log(log_costs, 3)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    np.testing.assert_allclose(matrix[~np.eye(3, dtype=bool)], np.exp(np.arange(6.0)), rtol=1e-6)


def test_validation_counts_keep_a_training_example_and_validate_classes_of_two():
    got = holdout_counts(jnp.array([50, 10, 2, 1, 0]), 0.2, rounding="ceil")
    np.testing.assert_array_equal(got, [10, 2, 1, 0, 0])
    np.testing.assert_array_equal(holdout_counts(jnp.array([50, 2]), 0.0, rounding="ceil"), [0, 0])
    np.testing.assert_array_equal(holdout_counts(jnp.array([50, 10, 2, 1, 0]), 0.2, rounding="floor"), [10, 2, 0, 0, 0])
    np.testing.assert_array_equal(holdout_counts(jnp.array([4, 4]), 1.5, rounding="floor"), [3, 3])  # clipped to 1


# --- Differential evolution on a known function ---------------------------------------------------

def test_de_generations_on_the_sphere_improve_and_the_best_never_gets_worse():
    strategy = costs.de_strategy(8, 5)
    params = costs.de_params(strategy, {"crossover_rate": jnp.float32(0.9), "differential_weight": jnp.float32(0.8)})
    population = jax.random.uniform(jax.random.PRNGKey(0), (8, 5), minval=-3.0, maxval=3.0)

    def sphere(x):
        return jnp.sum(x**2, axis=-1)

    def generation(carry, key):
        state, population = carry
        state, population_next = costs.de_generation(strategy, params, key, state, population, sphere(population))
        return (state, population_next), (jnp.min(state.fitness), state.best_fitness)

    state = costs.de_start(strategy, params, jax.random.PRNGKey(1), population)
    _, (population_best, archive_best) = jax.jit(lambda s, p: jax.lax.scan(
        generation, (s, p), jax.random.split(jax.random.PRNGKey(2), 40)))(state, population)
    np.testing.assert_allclose(population_best[0], np.min(np.sum(np.asarray(population) ** 2, axis=1)), rtol=1e-6)
    assert np.all(np.diff(np.asarray(population_best)) <= 0)
    assert np.all(np.diff(np.asarray(archive_best)) <= 0)
    assert float(population_best[-1]) < 0.05 * float(population_best[0])


# --- End to end ------------------------------------------------------------------------------------

def tiny_config(methods_, num_steps):
    config = base_config()
    config.methods = tuple(methods_)
    config.model_kwargs.hidden = (16,)
    config.batch_size = 16
    config.num_steps = num_steps
    config.learning_rates = (1e-2,)
    config.seeds = 2
    config.datasets = ("synthetic",)
    config.dataset_kwargs = {"synthetic": {"num_classes": 4, "n_per_class": 60, "n_features": 4, "class_sep": 10.0}}
    config.n_max = 40
    config.rhos = (20.0, 40.0)  # minority classes of 2 and of 1 training example(s)
    return config


def test_each_method_learns_minority_classes_in_a_sweep_and_survives_single_examples(tmp_path):
    config = tiny_config(("cosen", "cosen_hinge", "de_costs"), num_steps=60)
    config.hparams = {"cosen": {"cost_update_steps": 10.0, "cost_learning_rate": (1e-6, 0.5)},
                      "cosen_hinge": {"cost_update_steps": 10.0}}
    table = runner.run_sweep(config, tmp_path / "sweep")
    assert sorted(table.method.unique()) == ["cosen", "cosen_hinge", "de_costs"]
    # Learned costs change training: the same runs with (almost) frozen costs end elsewhere.
    cosen = table[table.method == "cosen"].sort_values(["rho", "seed"])
    frozen, learned = (cosen[cosen.hp_cost_learning_rate == rate].train_loss.to_numpy() for rate in (1e-6, 0.5))
    assert np.all(np.abs(learned - frozen) > 1e-3), (learned, frozen)
    for metric in ("accuracy", "balanced_accuracy", "ovr_roc_auc", "train_loss"):
        assert np.all(np.isfinite(table[metric])), metric
    single = table[table.rho == 40.0]
    assert np.all(single.train_min_class == 1)
    for method, runs in table[(table.rho == 20.0) & (table.hp_cost_learning_rate != 1e-6)].groupby("method"):
        minority_recall = runs[["recall_per_class_2", "recall_per_class_3"]].to_numpy().mean()
        assert minority_recall > 0.25, (method, minority_recall)  # chance is 1 / 4


def test_de_run_keeps_the_best_network_with_its_fitness_and_the_best_never_gets_worse():
    config = tiny_config(("de_costs",), num_steps=12)
    dataset = datasets.load("synthetic", **config.dataset_kwargs["synthetic"].to_dict())
    spec = program_spec(config, dataset, profile="step", method_names=("de_costs",))
    program, data = make_program(spec), DeviceData.from_dataset(dataset)
    hparams = {name: jnp.float32(value) for name, value in
               {"rho": 40.0, "mu": 0.5, "learning_rate": 1e-2, **spec.hparam_defaults()}.items()}
    hparams["method_index"] = jnp.int32(0)

    def run(key):
        state = program.advance(data, program.init(data, key, hparams), hparams, spec.num_steps)
        return state.extra, state.class_counts

    extras, counts = jax.jit(jax.vmap(run))(jnp.stack([jax.random.PRNGKey(seed) for seed in range(2)]))
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    for seed in range(2):
        extra = jax.tree.map(lambda leaf, i=seed: leaf[i], extras)
        history = np.asarray(extra.best_fitness_history)
        assert np.all(np.isfinite(history)) and np.all(np.diff(history) <= 0)
        assert float(extra.best_fitness) == history[-1]
        assert int(np.min(counts[seed])) == 1  # rho 40: a class with one training example, scored on it
        predicted = np.argmax(np.asarray(model.apply(extra.best_params, data.x_train)[0]), axis=1)
        scored = np.asarray(extra.fitness_mask)
        labels = np.asarray(data.y_train)[scored]
        recalls = [np.mean(predicted[scored][labels == c] == c) for c in np.unique(labels)]
        assert len(recalls) == spec.num_classes
        np.testing.assert_allclose(-float(extra.best_fitness), np.mean(recalls), rtol=1e-6)


# --- Bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, grid", [
    ("cosen", {"cost_learning_rate": (0.5, 1.5)}), ("cosen", {"cost_learning_rate": (0.0,)}),
    ("cosen_hinge", {"cost_update_steps": (-2.0,)}),
    ("cosen", {"cost_update_steps": (-1.0,)}), ("cosen", {"validation_fraction": (0.95,)}),
    ("de_costs", {"crossover_rate": (1.2,)}), ("de_costs", {"differential_weight": (-0.1,)}),
    ("de_costs", {"cost_init_range": (11.0,)}), ("de_costs", {"validation_fraction": (-0.1,)}),
])
def test_out_of_range_values_are_refused_before_compiling(method, grid):
    (name, values), = grid.items()
    with pytest.raises(ValueError, match=f"{method} hyper-parameter {name}={values[-1]!r} is outside its valid range"):
        methods.check_hparams(method, grid)
    methods.check_hparams(method, {})  # the defaults are valid


def test_de_program_refuses_too_few_steps_or_members():
    dataset = datasets.load("synthetic", num_classes=3, n_per_class=60, n_features=2)
    spec = program_spec(tiny_config(("de_costs",), num_steps=2), dataset, profile="step", method_names=("de_costs",))
    with pytest.raises(ValueError, match="num_steps >= generations, got num_steps=2 and generations=3"):
        make_program(spec)
    small = dataclasses.replace(methods.get("de_costs"), name="de_costs_small", population_size=3)
    with pytest.raises(ValueError, match="population_size >= 4"):
        make_program(dataclasses.replace(spec, num_steps=30, methods=(small,)))
