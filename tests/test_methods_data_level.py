"""Data-level methods: two-phase learning, dynamic sampling, category centres, resampling methods.

References: NumPy transcriptions of survey Eq. 11 and of class means, scikit-learn's F1, the
one-phase ROS run (two-phase learning up to its switch), ``lax.cond`` (the batched round update).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imbjax import data as datasets
from imbjax import methods, models
from imbjax.config import base_config, program_spec
from imbjax.engine.blocks import output_layer_mask, round_update
from imbjax.engine.method import Context
from imbjax.engine.program import DeviceData
from imbjax.methods import centres, make_program, resampling, two_phase
from imbjax.methods import dynamic_sampling as dynamic
from imbjax.sampling import class_size_weights, draw_batch
from imbjax.sweep import runner

DATA_LEVEL_FAMILIES = {two_phase.FAMILY, dynamic.FAMILY, centres.FAMILY, resampling.FAMILY}


def tiny_config(methods_=("baseline",), num_steps=20):
    config = base_config()
    config.methods = tuple(methods_)
    config.model_kwargs.hidden = (16,)
    config.batch_size = 16
    config.num_steps = num_steps
    config.rhos = (10.0,)
    config.seeds = 2
    return config


@pytest.fixture(scope="module")
def digits():
    dataset = datasets.load("digits")
    return dataset, DeviceData.from_dataset(dataset)


def program_for(dataset, method, num_steps=20):
    """``(spec, init, advance)``: jitted; ``advance(data, state, hparams, n)`` takes n single steps
    (one compile whatever n)."""
    spec = program_spec(tiny_config((method,), num_steps), dataset, profile="step", method_names=(method,))
    program = make_program(spec)
    step = jax.jit(lambda data, state, hparams: program.advance(data, state, hparams, 1))

    def advance(data, state, hparams, num_steps):
        for _ in range(num_steps):
            state = step(data, state, hparams)
        return state

    return spec, jax.jit(program.init), advance


def run_hparams(spec, **values):
    """A run's full hyper-parameters: rho 10, mu 0.5, lr 1e-2, the method's defaults, ``values``."""
    merged = {"rho": 10.0, "mu": 0.5, "learning_rate": 1e-2, **spec.hparam_defaults(), **values}
    return {**{k: jnp.float32(v) for k, v in merged.items()}, "method_index": jnp.int32(0)}


def model_logits(spec, params, x):
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    return np.asarray(model.apply(params, x)[0])


def leaves_equal(a, b):
    return all(bool(jnp.array_equal(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# --- Dynamic sampling: survey Eq. 11 -----------------------------------------------------------

def eq11_numpy(f1, counts):
    """Survey Eq. 11 as written: (1 - f1_j) / sum_k (1 - f1_k) * N*, N* the mean class size
    (equal sizes N* / C when every f1 is 1, the documented fallback for 0 / 0)."""
    shortfall = 1.0 - np.asarray(f1, np.float64)
    if shortfall.sum() == 0:
        return np.full(len(f1), np.mean(counts) / len(f1))
    return shortfall / shortfall.sum() * np.mean(counts)


def test_a_fixed_sequence_of_f1_scores_gives_eq11_draw_rates_every_round():
    """Round by round, the weights of Eq. 11's sizes draw class j with probability size_j / N*."""
    rng = np.random.default_rng(0)
    labels = jnp.array(rng.integers(0, 4, 600))
    mask = jnp.array(rng.random(600) < 0.8)
    counts = np.bincount(np.asarray(labels)[np.asarray(mask)], minlength=4)
    sequence = [[0.0, 0.0, 0.0, 0.0], [0.9, 0.5, 0.2, 0.0], [0.95, 0.95, 0.6, 0.8], [1.0, 1.0, 1.0, 0.4],
                [1.0, 1.0, 1.0, 1.0]]
    for round_index, f1 in enumerate(sequence):
        sizes = dynamic.eq11_sizes(jnp.array(f1), jnp.array(counts))
        np.testing.assert_allclose(sizes, eq11_numpy(f1, counts), rtol=1e-5)
        weights = class_size_weights(labels, mask, sizes)
        assert float(jnp.sum(jnp.where(mask, 0.0, weights))) == 0.0
        mass = np.bincount(np.asarray(labels), weights=np.asarray(weights), minlength=4)
        np.testing.assert_allclose(mass, eq11_numpy(f1, counts), rtol=1e-5)
        drawn = np.asarray(labels)[np.asarray(draw_batch(jax.random.PRNGKey(round_index), weights, 40_000))]
        np.testing.assert_allclose(np.bincount(drawn, minlength=4) / 40_000, mass / mass.sum(), atol=0.01)


def test_round_update_under_vmap_equals_lax_cond():
    def update(carry, inputs):
        return carry * inputs["scale"] + jnp.sum(inputs["table"])

    batched = round_update(update)
    preds, carries = jnp.array([True, False, True]), jnp.arange(3.0)
    inputs = {"scale": jnp.array([2.0, 3.0, 4.0]), "table": jnp.ones(5)}
    reference = jax.vmap(lambda p, c, s: jax.lax.cond(p, update, lambda c_, _: c_, c, {"scale": s, "table": inputs["table"]}))
    got = jax.jit(jax.vmap(batched, in_axes=(0, 0, {"scale": 0, "table": None})))(preds, carries, inputs)
    np.testing.assert_array_equal(got, reference(preds, carries, inputs["scale"]))
    none = jax.vmap(batched, in_axes=(0, 0, {"scale": 0, "table": None}))(jnp.zeros(3, bool), carries, inputs)
    np.testing.assert_array_equal(none, carries)


# --- Two-phase learning ---------------------------------------------------------------------------

@pytest.mark.slow
def test_phase_one_is_the_ros_run_and_head_only_finetuning_freezes_the_body(digits):
    dataset, data = digits
    spec, init, advance = program_for(dataset, "two_phase_ros")
    ros_spec, ros_init, ros_advance = program_for(dataset, "ros")
    key, hparams = jax.random.PRNGKey(3), run_hparams(spec, phase1_fraction=0.5, finetune_lr_factor=0.1)
    switch = int(two_phase.phase1_steps(0.5, spec.num_steps))
    assert switch == 10
    pretrained = advance(data, init(data, key, hparams), hparams, switch)
    ros = ros_advance(data, ros_init(data, key, run_hparams(ros_spec)), run_hparams(ros_spec), switch)
    assert leaves_equal(pretrained.params, ros.params)

    head = output_layer_mask(pretrained.params)
    assert sum(jax.tree.leaves(head)) == 2  # the output layer's kernel and bias
    finetuned = advance(data, pretrained, hparams, spec.num_steps - switch)
    for is_head, before, after in zip(jax.tree.leaves(head), jax.tree.leaves(pretrained.params),
                                      jax.tree.leaves(finetuned.params)):
        assert bool(jnp.array_equal(before, after)) != is_head

    # The first fine-tuning step restarts Adam at lr * factor: |update| = 1e-2 * 0.1 where the gradient is not 0.
    one_step = advance(data, pretrained, hparams, 1)
    delta = jnp.abs(one_step.params["params"]["head"]["bias"] - pretrained.params["params"]["head"]["bias"])
    np.testing.assert_allclose(delta[delta > 0], 1e-3, rtol=1e-3)

    whole = run_hparams(spec, phase1_fraction=0.5, finetune_head_only=0.0)
    moved = advance(data, pretrained, whole, 1)
    assert not any(bool(jnp.array_equal(a, b)) for a, b in zip(jax.tree.leaves(pretrained.params),
                                                                jax.tree.leaves(moved.params)))


@pytest.mark.parametrize("method, grid", [
    ("two_phase_ros", {"phase1_fraction": (0.5, 1.5)}), ("two_phase_rus", {"phase1_fraction": (-0.1,)}),
    ("two_phase_ros", {"finetune_lr_factor": (0.0,)}), ("two_phase_threshold_n", {"threshold_n": (0.5,)}),
    ("dynamic_sampling", {"ensemble_weight": (1.5,)}),
    ("dynamic_sampling", {"round_steps": (-1.0,)}),
])
def test_out_of_range_values_are_refused_before_compiling(method, grid):
    (name, values), = grid.items()
    with pytest.raises(ValueError, match=f"{method} hyper-parameter {name}={values[-1]!r} is outside its valid range"):
        methods.check_hparams(method, grid)
    methods.check_hparams(method, {})  # the paper defaults are valid


def test_phase1_fraction_outside_unit_interval_is_clipped_by_the_program():
    assert int(two_phase.phase1_steps(1.7, 40)) == 40
    assert int(two_phase.phase1_steps(-0.5, 40)) == 0
    assert int(two_phase.phase1_steps(0.25, 40)) == 10


def test_threshold_n_keeps_at_most_n_examples_per_class():
    labels = jnp.array(np.repeat(np.arange(3), [40, 12, 3]))
    mask = jnp.ones(labels.shape, bool)
    counts = jnp.array([40.0, 12.0, 3.0])
    for limit, expected in [(10.0, [10, 10, 3]), (1000.0, [40, 12, 3]), (0.0, [1, 1, 1])]:
        ctx = Context(counts, {"threshold_n": jnp.float32(limit)}, jnp.int32(0), 10)
        weights = two_phase.threshold_n_sampler(jax.random.PRNGKey(0), labels, mask, ctx)
        np.testing.assert_array_equal(np.bincount(np.asarray(labels), weights=np.asarray(weights)), expected)
        assert set(np.unique(weights)) <= {0.0, 1.0}


# --- Category centres -----------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_class_centres_equal_numpy_means(seed):
    rng = np.random.default_rng(seed)
    features, labels, mask = rng.normal(size=(60, 5)).astype(np.float32), rng.integers(0, 4, 60), rng.random(60) < 0.7
    mask[labels == 3] = False  # an empty class
    got, counts = centres.class_centres(jnp.array(features), jnp.array(labels), jnp.array(mask), 4)
    for c in range(3):
        members = mask & (labels == c)
        np.testing.assert_allclose(got[c], features[members].mean(0), rtol=1e-5, atol=1e-6)
        assert counts[c] == members.sum()
    assert counts[3] == 0
    probs = centres.nearest_centre_probabilities(jnp.array(features), got, counts)
    np.testing.assert_allclose(jnp.sum(probs, -1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probs[:, 3], 0.0)
    distances = np.linalg.norm(features[:, None, :] - np.asarray(got)[None, :3, :], axis=-1)
    np.testing.assert_array_equal(np.argmax(probs, -1), np.argmin(distances, -1))


def test_nearest_centre_is_perfect_on_separable_clusters():
    rng = np.random.default_rng(0)
    means = np.eye(3, 6) * 20.0
    labels = rng.integers(0, 3, 90)
    features = (means[labels] + rng.normal(size=(90, 6))).astype(np.float32)
    got, counts = centres.class_centres(jnp.array(features), jnp.array(labels), jnp.ones(90, bool), 3)
    probs = centres.nearest_centre_probabilities(jnp.array(features), got, counts)
    np.testing.assert_array_equal(np.argmax(probs, -1), labels)


# --- Resampling methods: imbalanced-learn on the run's own subset --------------------------------

@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.floats(0.01, 1.0))
def test_binary_targets_equal_imblearn_float_sampling_strategy(n0, n1, ratio):
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler
    """imblearn truncates ``r * n_majority`` and ``n_minority / r``; imbjax computes in float32 and
    rounds values within 1e-4 below an integer up (so 7 / 0.07 is 100, not 99): those are skipped."""
    counts = np.array([n0, n1])
    y = np.repeat([0, 1], counts)
    x = np.zeros((len(y), 1))
    minority, majority = np.argmin(counts), np.argmax(counts)
    for level in (ratio * counts[majority], counts[minority] / ratio):
        assume(not 0 < np.ceil(level) - level < 1e-3)
    if n0 != n1 and np.floor(ratio * counts[majority]) > counts[minority]:
        _, y_over = RandomOverSampler(sampling_strategy=ratio, random_state=0).fit_resample(x, y)
        np.testing.assert_array_equal(resampling.oversampling_targets(jnp.array(counts), ratio),
                                      np.bincount(y_over, minlength=2))
    if n0 != n1 and np.floor(counts[minority] / ratio) <= counts[majority]:
        _, y_under = RandomUnderSampler(sampling_strategy=ratio, random_state=0).fit_resample(x, y)
        np.testing.assert_array_equal(resampling.undersampling_targets(jnp.array(counts), ratio),
                                      np.bincount(y_under, minlength=2))


def resampled_run(dataset, method, **values):
    """``(subset_mask, pool_weights, synthetic_labels, synthetic_points)`` of one run's ``init``
    (seed key 0); the subset is the baseline run's of the same seed (same subset stream)."""
    key = jax.random.PRNGKey(0)
    data = DeviceData.from_dataset(dataset)
    spec, init, _ = program_for(dataset, "baseline")
    subset = np.asarray(init(data, key, run_hparams(spec)).weights) > 0
    spec, init, _ = program_for(dataset, method)
    state = init(data, key, run_hparams(spec, **values))
    pool = len(subset)
    weights = np.asarray(state.weights)
    valid = weights[pool:] > 0
    return (subset, weights[:pool], np.asarray(state.extra.labels)[valid],
            np.asarray(state.extra.points)[valid].reshape(int(valid.sum()), dataset.x_train[0].size))


@pytest.fixture(scope="module")
def small_digits():
    """Digits with classes 0-3 only: an imbalanced 4-class subset is small enough for imblearn."""
    dataset = datasets.load("digits")
    keep_train, keep_test = dataset.y_train < 4, dataset.y_test < 4
    return dataset._replace(x_train=dataset.x_train[keep_train], y_train=dataset.y_train[keep_train],
                            x_test=dataset.x_test[keep_test], y_test=dataset.y_test[keep_test],
                            class_names=dataset.class_names[:4])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["tomek", "enn"])
def test_cleaning_methods_keep_what_imblearn_keeps(small_digits, method):
    from imblearn.under_sampling import EditedNearestNeighbours, TomekLinks
    sampler = {"tomek": TomekLinks(), "enn": EditedNearestNeighbours(n_neighbors=3)}[method]
    subset, pool_weights, synthetic_labels, _ = resampled_run(small_digits, method)
    x = small_digits.x_train.reshape(len(subset), -1)[subset]
    sampler.fit_resample(x, small_digits.y_train[subset])
    expected = np.zeros(len(subset), bool)
    expected[np.flatnonzero(subset)[sampler.sample_indices_]] = True
    np.testing.assert_array_equal(pool_weights > 0, expected)
    assert len(synthetic_labels) == 0


@pytest.mark.parametrize("ratio", [1.0, 0.5])
def test_nearmiss_cuts_every_class_to_imblearn_counts(small_digits, ratio):
    from imblearn.under_sampling import NearMiss
    subset, pool_weights, _, _ = resampled_run(small_digits, "nearmiss1", undersampling_ratio=ratio)
    counts = np.bincount(small_digits.y_train[subset], minlength=4)
    expected = np.minimum(counts, np.floor(counts.min() / ratio + 1e-4)).astype(int)
    np.testing.assert_array_equal(np.bincount(small_digits.y_train, weights=pool_weights, minlength=4), expected)
    if ratio == 1.0:  # imblearn's "auto": the same examples (kernel ties broken by pool index)
        sampler = NearMiss(version=1, n_neighbors=3)
        sampler.fit_resample(small_digits.x_train.reshape(len(subset), -1)[subset], small_digits.y_train[subset])
        assert set(np.flatnonzero(subset)[sampler.sample_indices_]) == set(np.flatnonzero(pool_weights))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["smote", "borderline_smote", "borderline_smote2", "cluster_oversampling"])
def test_oversamplers_reach_the_targets_with_points_inside_the_seed_hull(small_digits, method):
    subset, pool_weights, synthetic_labels, points = resampled_run(small_digits, method)
    counts = np.bincount(small_digits.y_train[subset], minlength=4)
    np.testing.assert_array_equal(pool_weights > 0, subset)
    total = counts + np.bincount(synthetic_labels, minlength=4)
    if method.startswith("borderline"):  # only danger points seed: at most the target, never beyond
        assert np.all(total <= counts.max()) and np.all(total >= counts)
    else:
        np.testing.assert_array_equal(total, counts.max())
    x = small_digits.x_train.reshape(len(subset), -1)
    for c in np.unique(synthetic_labels):  # borderline-2 also steps (gap <= 0.5) towards other classes
        members = x[subset & ((small_digits.y_train == c) | (method == "borderline_smote2"))]
        inside = points[synthetic_labels == c]
        assert np.all(inside >= members.min(0) - 1e-4) and np.all(inside <= members.max(0) + 1e-4)


# --- Every method end to end ------------------------------------------------------------------------

@pytest.mark.slow
def test_every_data_level_method_runs_in_a_sweep_with_finite_metrics(tmp_path):
    names = [n for n in methods.available() if methods.get(n).family in DATA_LEVEL_FAMILIES]
    assert {"two_phase_ros", "two_phase_rus", "two_phase_threshold_n", "dynamic_sampling", "category_centres",
            "ros_category_centres", "smote", "borderline_smote", "borderline_smote2", "cluster_oversampling",
            "nearmiss1", "tomek", "enn"} <= set(names)
    config = tiny_config(names, num_steps=30)
    config.datasets = ("synthetic",)
    config.dataset_kwargs = {"synthetic": {"num_classes": 4, "n_per_class": 60, "n_features": 4, "class_sep": 10.0}}
    config.rhos = (4.0,)
    config.learning_rates = (1e-2,)
    config.hparams = {"two_phase_threshold_n": {"threshold_n": 20.0}, "dynamic_sampling": {"round_steps": 5.0}}
    config.validation_fraction = 0.2  # dynamic sampling's rounds score the shared validation part
    table = runner.run_sweep(config, tmp_path / "sweep")
    assert sorted(table.method.unique()) == sorted(names)
    for metric in ("accuracy", "balanced_accuracy", "ovr_roc_auc", "train_loss"):
        assert np.all(np.isfinite(table[metric])), metric
    cc = table[table.method.isin(["category_centres", "ros_category_centres"])]
    np.testing.assert_array_equal(cc.accuracy, 1.0)
