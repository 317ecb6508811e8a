"""Stage-wise long-tail methods of the 2020s: decoupling (cRT, tau-norm, LWS), DRS, weight balancing, the
mixup family (mixup, manifold mixup, Remix) and MiSLAS.

References: NumPy transcriptions of the tau-normalised classifier, Remix's label rule, the mixed
cross-entropy of input and manifold mixup, label-aware smoothing, MaxNorm's radius and class-balanced
(``1 / n_y``) sampling weights; the first Adam step of a fresh optimizer (every moved coordinate moves by
the learning rate); bit-equality of what a stage freezes.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imbjax import data as datasets
from imbjax import methods
from imbjax.config import base_config, program_spec
from imbjax.engine.method import Context
from imbjax.engine.program import DeviceData
from imbjax.engine.streams import stream_key
from imbjax.methods import decoupling, make_program, mixup, stagewise
from imbjax.methods.stagewise import Classifier, switch_step
from imbjax.sampling import draw_batch
from imbjax.sweep import runner

LEARNING_RATE = 1e-2
NUM_STEPS = 10
DECOUPLING = tuple(method.name for method in decoupling.METHODS)
MIXUP = tuple(method.name for method in mixup.METHODS)
#: The hyper-parameters at which a stage-wise method switches stage (a fraction of the steps).
SWITCHES = ("stage1_fraction", "drs_start")


def tiny_config(method_names, num_steps=NUM_STEPS, **model_kwargs):
    config = base_config()
    config.methods = tuple(method_names)
    config.model_kwargs = model_kwargs or {"hidden": (16,)}
    config.batch_size = 16
    config.num_steps = num_steps
    config.rhos = (10.0,)
    config.seeds = 1
    return config


class Program:
    """A group's program, jitted: ``init(key, hparams)`` and ``run(state, hparams, n)`` (n single steps,
    one compile whatever n); ``hparams(method, **values)`` a run's full hyper-parameters."""

    def __init__(self, dataset, method_names, model="mlp", **model_kwargs):
        config = tiny_config(method_names, **model_kwargs)
        config.model = model
        self.spec = program_spec(config, dataset, profile="step", method_names=tuple(method_names))
        self.model = stagewise.model_of(self.spec)
        self.data = DeviceData.from_dataset(dataset)
        program = make_program(self.spec)
        self._init = jax.jit(program.init)
        self._step = jax.jit(lambda data, state, hparams: program.advance(data, state, hparams, 1))
        self.evaluate = jax.jit(program.test_metrics)

    def hparams(self, method, **values):
        merged = {"rho": 10.0, "mu": 0.5, "learning_rate": LEARNING_RATE, "weight_decay": 0.0,
                  **self.spec.hparam_defaults(), **methods.get(method).hparams, **values}
        index = [m.name for m in self.spec.methods].index(method)
        return {**{k: jnp.float32(v) for k, v in merged.items()}, "method_index": jnp.int32(index)}

    def init(self, hparams, seed=0):
        return self._init(self.data, jax.random.PRNGKey(seed), hparams)

    def run(self, state, hparams, num_steps):
        for _ in range(num_steps):
            state = self._step(self.data, state, hparams)
        return state

    def run_vmapped(self, states, hparams, num_steps):
        """``num_steps`` single steps of stacked runs, vmapped as the sweep runner does."""
        if not hasattr(self, "_vmapped_step"):
            self._vmapped_step = jax.jit(jax.vmap(self._step.__wrapped__, in_axes=(None, 0, 0)))
        for _ in range(num_steps):
            states = self._vmapped_step(self.data, states, hparams)
        return states


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


@pytest.fixture(scope="module")
def decoupled(digits):
    return Program(digits, DECOUPLING)


@pytest.fixture(scope="module")
def mixed(digits):
    return Program(digits, MIXUP)


def body_leaves(params):
    """The leaves of every layer but the output layer (and BatchNorm's statistics)."""
    return jax.tree.leaves({name: layer for name, layer in params["params"].items() if name != "head"})


def leaves_equal(a, b):
    return all(bool(jnp.array_equal(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def numpy_log_softmax(logits):
    shifted = np.asarray(logits, np.float64) - np.max(logits, -1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def numpy_ce(logits, labels):
    return -numpy_log_softmax(logits)[np.arange(len(labels)), np.asarray(labels)]


def first_adam_step_moved_by_lr(before, after, learning_rate=LEARNING_RATE):
    """A fresh Adam's first step moves every coordinate with a non-zero gradient by exactly the learning rate."""
    delta = np.abs(np.asarray(after, np.float64) - np.asarray(before, np.float64))
    moved = delta[delta > 0]
    return moved.size > 0 and np.allclose(moved, learning_rate, rtol=2e-3)


# --- Kernels and pieces against NumPy ---------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), tau=st.floats(0.0, 2.0))
def test_tau_normalised_prediction_equals_numpy(seed, tau):
    rng = np.random.default_rng(seed)
    features, kernel = rng.normal(size=(7, 5)), rng.normal(size=(5, 4)) * rng.uniform(0.1, 3.0, size=4)
    ctx = Context(jnp.ones(4), {"tau": jnp.float32(tau)}, jnp.int32(0), 10, jnp.asarray(features, jnp.float32),
                          Classifier({"kernel": jnp.asarray(kernel, jnp.float32), "bias": jnp.full(4, 5.0)},
                                     jnp.ones(4)))
    got = decoupling.tau_normalized_softmax(jnp.zeros((7, 4)), ctx)
    logits = features @ (kernel / np.linalg.norm(kernel, axis=0) ** tau)  # Kang et al.: w_j / ||w_j||^tau, no bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(got, expected / expected.sum(1, keepdims=True), rtol=2e-4, atol=1e-6)


def remix_rule(lam, count_a, count_b, kappa, tau):
    """Chou et al.'s Remix label weight of example a, as the paper states it (float32 arithmetic)."""
    lam, ratio, kappa, tau = (np.float32(v) for v in (lam, count_a / count_b, kappa, tau))
    if ratio >= kappa and lam < tau:
        return 0.0
    if ratio <= np.float32(1) / kappa and np.float32(1) - lam < tau:
        return 1.0
    return lam


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), kappa=st.floats(1.0, 5.0), tau=st.floats(0.0, 1.0), alpha=st.floats(0.2, 2.0))
def test_remix_mixing_gives_the_minority_label_by_the_papers_rule(seed, kappa, tau, alpha):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 100, size=5).astype(np.float32)
    labels = rng.integers(0, 5, size=32)
    hparams = {"mixup_alpha": jnp.float32(alpha), "kappa": jnp.float32(kappa), "remix_tau": jnp.float32(tau)}
    mixing = mixup.remix_mixing(jax.random.PRNGKey(seed), jnp.asarray(labels), jnp.asarray(counts), hparams)
    partners, lam = np.asarray(mixing.partners), np.asarray(mixing.lam)
    assert sorted(partners) == list(range(32))
    expected = [remix_rule(lam[i], counts[labels[i]], counts[labels[partners[i]]], kappa, tau) for i in range(32)]
    np.testing.assert_allclose(mixing.label_weight, expected, rtol=1e-6)
    plain = mixup.input_mixing(jax.random.PRNGKey(seed), jnp.asarray(labels), jnp.asarray(counts), hparams)
    np.testing.assert_array_equal(plain.label_weight, plain.lam)  # mixup's label weight is lam
    np.testing.assert_array_equal(plain.lam, mixing.lam)


def test_out_of_range_values_are_refused_before_compiling():
    for method, grid in [("crt", {"stage1_fraction": (1.5,)}), ("tau_norm", {"tau": (-0.1,)}),
                         ("remix", {"kappa": (0.5,)}), ("weight_balancing", {"maxnorm_fraction": (2.0,)}),
                         ("mislas", {"eps_head": (1.2,)}), ("drs", {"drs_start": (-1.0,)})]:
        (name, values), = grid.items()
        with pytest.raises(ValueError, match=f"{method} hyper-parameter {name}={values[0]!r} is outside"):
            methods.check_hparams(method, grid)
        methods.check_hparams(method, {})  # the paper defaults are valid


def test_a_cosine_head_is_refused_with_the_valid_choice(digits):
    spec = program_spec(tiny_config(("crt",), hidden=(16,), head="cosine"), digits, profile="step",
                        method_names=("crt",))
    with pytest.raises(ValueError, match="need a linear output layer, got head='cosine'; use head='linear'"):
        make_program(spec)


# --- Decoupling family: stage switches, what each stage trains ---------------------------------------

@pytest.mark.slow
def test_every_decoupling_method_trains_the_same_first_stage(decoupled):
    """Before its switch every method is plain CE with instance sampling on the same subset and batches."""
    p = decoupled
    half = {m: {switch: 0.5 for switch in SWITCHES if switch in methods.BUILT_IN[m].hparams} for m in DECOUPLING}
    states = [p.run(p.init(p.hparams(m, **v)), p.hparams(m, **v), NUM_STEPS // 2) for m, v in half.items()]
    for state in states[1:]:
        assert leaves_equal(state.params, states[0].params)
        np.testing.assert_array_equal(state.weights, states[0].weights)
    np.testing.assert_array_equal(states[0].weights, np.asarray(states[0].subset, np.float32))  # instance sampling


def test_crt_reinitialises_the_head_and_trains_it_alone_on_frozen_features(decoupled):
    p = decoupled
    hparams = p.hparams("crt", stage1_fraction=0.5)
    switch = int(switch_step(0.5, NUM_STEPS))
    assert switch == 5
    before = p.run(p.init(hparams), hparams, switch - 1)
    at_switch = p.run(before, hparams, 1)
    assert not leaves_equal(body_leaves(before.params), body_leaves(at_switch.params))  # step T-1 trains the body
    first = p.run(at_switch, hparams, 1)  # step T: fresh head, fresh optimizer, one step
    fresh = at_switch.extra.fresh_head
    assert not np.allclose(fresh["kernel"], at_switch.params["params"]["head"]["kernel"])
    assert first_adam_step_moved_by_lr(fresh["kernel"], first.params["params"]["head"]["kernel"])
    assert first_adam_step_moved_by_lr(fresh["bias"], first.params["params"]["head"]["bias"])
    done = p.run(first, hparams, NUM_STEPS - switch - 1)
    assert int(done.step) == NUM_STEPS
    assert leaves_equal(body_leaves(at_switch.params), body_leaves(done.params))  # bit-equal body
    assert leaves_equal(at_switch.opt_state, done.opt_state)
    np.testing.assert_array_equal(done.extra.scales, 1.0)
    assert np.isfinite(float(done.loss_ema))


@pytest.mark.parametrize("method", [m for m in DECOUPLING if "classifier_lr_factor" in methods.BUILT_IN[m].hparams])
def test_the_classifier_stage_runs_at_its_learning_rate_factor(decoupled, method):
    """``classifier_lr_factor`` scales the classifier stage's learning rate: a fresh Adam's first step there
    moves the trained classifier parameters by exactly ``factor * lr``."""
    p = decoupled
    factor = 10.0
    no_maxnorm = {"maxnorm_fraction": np.inf} if method == "weight_balancing" else {}  # MaxNorm moves columns too
    hparams = p.hparams(method, stage1_fraction=0.5, classifier_lr_factor=factor, **no_maxnorm)
    at_switch = p.run(p.init(hparams), hparams, 5)
    first = p.run(at_switch, hparams, 1)
    if method == "lws":
        before, after = np.ones(10), first.extra.scales
    else:
        before = at_switch.extra.fresh_head["kernel"] if method == "crt" else at_switch.params["params"]["head"]["kernel"]
        after = first.params["params"]["head"]["kernel"]
    assert first_adam_step_moved_by_lr(before, after, factor * LEARNING_RATE)


def test_lws_learns_only_the_class_scales(decoupled):
    p = decoupled
    hparams = p.hparams("lws", stage1_fraction=0.5)
    at_switch = p.run(p.init(hparams), hparams, 5)
    first = p.run(at_switch, hparams, 1)
    assert first_adam_step_moved_by_lr(np.ones(10), first.extra.scales)
    done = p.run(first, hparams, 4)
    assert leaves_equal(at_switch.params, done.params)  # body and classifier W, b bit-equal
    assert not np.allclose(done.extra.scales, 1.0)
    probs = p.evaluate(p.data, done, hparams)  # prediction softmax(f * z)
    assert 0.0 <= float(probs["balanced_accuracy"]) <= 1.0


def test_drs_switches_from_instance_to_class_balanced_sampling(decoupled):
    p = decoupled
    hparams = p.hparams("drs", drs_start=0.5)
    state = p.run(p.init(hparams), hparams, 4)
    switch = int(switch_step(0.5, NUM_STEPS))
    labels, subset = np.asarray(p.data.y_train), np.asarray(state.subset)
    counts = np.bincount(labels[subset], minlength=10)
    instance = np.asarray(state.weights)  # before the switch (draw_batch_switching)
    np.testing.assert_array_equal(instance, subset.astype(np.float32))
    state = p.run(state, hparams, 1)
    assert int(state.step) == switch
    balanced = np.asarray(state.extra.second_weights)  # from the switch on
    np.testing.assert_allclose(balanced, np.where(subset, 1.0 / counts[labels], 0.0), rtol=1e-6)  # ROS: 1 / n_y
    # The whole network keeps training with its own optimizer after the switch.
    later = p.run(state, hparams, 1)
    assert not leaves_equal(body_leaves(state.params), body_leaves(later.params))
    assert not leaves_equal(state.opt_state, later.opt_state)


def test_weight_balancing_projects_every_class_column_after_every_step(decoupled):
    p = decoupled
    hparams = p.hparams("weight_balancing", stage1_fraction=0.5, maxnorm_fraction=0.1)
    state = p.run(p.init(hparams), hparams, 5)
    norms = np.linalg.norm(np.asarray(state.params["params"]["head"]["kernel"], np.float64), axis=0)
    radius = norms.min() + 0.1 * (norms.max() - norms.min())
    assert np.sum(norms > radius * 1.01) >= 2  # the projection has columns to shrink
    body = body_leaves(state.params)
    for _ in range(5):
        state = p.run(state, hparams, 1)
        np.testing.assert_allclose(float(state.extra.maxnorm_radius), radius, rtol=1e-5)
        column_norms = np.linalg.norm(np.asarray(state.params["params"]["head"]["kernel"], np.float64), axis=0)
        assert np.all(column_norms <= radius * (1 + 1e-5))
    assert leaves_equal(body, body_leaves(state.params))


@pytest.mark.slow
def test_vmapped_runs_in_different_stages_equal_the_runs_alone(decoupled):
    """Under vmap a run in its classifier stage and runs in their network stage each take their own step."""
    p = decoupled
    settings = [("crt", {"stage1_fraction": 0.5}), ("drs", {"drs_start": 0.5}), ("lws", {"stage1_fraction": 0.7})]
    hparams = [p.hparams(m, **v) for m, v in settings]
    starts = [p.run(p.init(h, seed=i), h, 4) for i, h in enumerate(hparams)]
    stack = lambda trees: jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)  # noqa: E731
    together = p.run_vmapped(stack(starts), stack(hparams), 3)
    for i, (start, h) in enumerate(zip(starts, hparams, strict=True)):
        alone = p.run(start, h, 3)
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(jax.tree.map(lambda leaf: leaf[i], together)),
                        strict=True):
            np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-5, atol=1e-6)


# --- Mixup family -----------------------------------------------------------------------------------

def first_batch(p, state):
    """The engine's next iid batch of ``state`` and the key of its mixing draw (the program's streams, under
    the program's non-partitionable threefry)."""
    with jax.threefry_partitionable(False):
        key, batch_key = jax.random.split(state.key)
        index = draw_batch(batch_key, state.weights, p.spec.batch_size)
    return p.data.x_train[index], np.asarray(p.data.y_train[index]), stream_key(key, "mixing")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mixup", "manifold_mixup", "remix"])
def test_the_first_loss_is_the_mixed_cross_entropy_of_numpy(mixed, method):
    p = mixed
    hparams = p.hparams(method)
    state = p.init(hparams)
    x, y, mixing_key = first_batch(p, state)
    plan = methods.get(method).plan
    with jax.threefry_partitionable(False):
        mixing = plan.mixing(mixing_key, jnp.asarray(y), state.class_counts.astype(jnp.float32), hparams)
    partners, lam = np.asarray(mixing.partners), np.asarray(mixing.lam, np.float64)[:, None]
    weight = np.asarray(mixing.label_weight, np.float64)
    x64 = np.asarray(x, np.float64)
    if plan.mixes_features:  # Verma et al.: mix the hidden features, then the output layer
        _, features = p.model.apply(state.params, x)
        h = lam * np.asarray(features, np.float64) + (1 - lam) * np.asarray(features, np.float64)[partners]
        head = state.params["params"]["head"]
        logits = h @ np.asarray(head["kernel"], np.float64) + np.asarray(head["bias"], np.float64)
    else:  # Zhang et al. / Chou et al.: mix the inputs
        logits, _ = p.model.apply(state.params, jnp.asarray(lam * x64 + (1 - lam) * x64[partners], jnp.float32))
    expected = np.mean(weight * numpy_ce(logits, y) + (1 - weight) * numpy_ce(logits, y[partners]))
    stepped = p.run(state, hparams, 1)
    np.testing.assert_allclose(float(stepped.loss_ema), expected, rtol=1e-5)
    assert np.any((weight > 0) & (weight < 1))  # some labels are mixed


@pytest.mark.slow
def test_mislas_retrains_classifier_and_scales_with_label_aware_smoothing(mixed):
    p = mixed
    hparams = p.hparams("mislas", stage1_fraction=0.5)
    at_switch = p.run(p.init(hparams), hparams, 5)
    x, y, _ = first_batch(p, at_switch._replace(weights=at_switch.extra.second_weights))  # class-balanced batch
    logits, _ = p.model.apply(at_switch.params, x)
    counts = np.asarray(at_switch.class_counts, np.float64)
    ratio = (counts - counts.min()) / (counts.max() - counts.min())
    eps = (0.3 * np.sin(np.pi * ratio / 2))[y]  # Zhong et al.'s concave eps_y, eps_head 0.3, eps_tail 0
    log_probs = numpy_log_softmax(logits)
    true = log_probs[np.arange(len(y)), y]
    las = -(1 - eps) * true - eps / 9 * (log_probs.sum(1) - true)
    first = p.run(at_switch, hparams, 1)
    loss = (float(first.loss_ema) - 0.98 * float(at_switch.loss_ema)) / 0.02
    np.testing.assert_allclose(loss, np.mean(las), rtol=2e-3)
    # Stage 2: scales at lr, the stage-1 classifier at lr * 0.5, the body frozen.
    assert first_adam_step_moved_by_lr(np.ones(10), first.extra.scales)
    delta = np.abs(np.asarray(first.params["params"]["head"]["bias"] - at_switch.params["params"]["head"]["bias"]))
    np.testing.assert_allclose(delta[delta > 0], 0.5 * LEARNING_RATE, rtol=2e-3)
    done = p.run(first, hparams, 4)
    assert leaves_equal(body_leaves(at_switch.params), body_leaves(done.params))


# --- BatchNorm in the classifier stage ---------------------------------------------------------------

@pytest.mark.slow
def test_classifier_stage_freezes_or_shifts_batchnorm_statistics():
    images = datasets.load("digits", image=True)
    p = Program(images, ("crt", "weight_balancing"), model="resnet", depth=8, widths=(4, 4, 4), norm="batch")
    for method, shift in [("crt", 0.0), ("crt", 1.0), ("weight_balancing", 1.0)]:
        hparams = p.hparams(method, stage1_fraction=0.5, shift_bn=shift)
        at_switch = p.run(p.init(hparams), hparams, 5)
        done = p.run(at_switch, hparams, 2)
        assert leaves_equal(body_leaves(at_switch.params), body_leaves(done.params))
        assert leaves_equal(at_switch.params["batch_stats"], done.params["batch_stats"]) == (shift == 0.0), method


# --- Every method in a vmapped sweep ----------------------------------------------------------------

@pytest.mark.slow
def test_every_stagewise_method_trains_in_a_sweep_alongside_baseline(tmp_path):
    names = ("baseline", *DECOUPLING, *MIXUP)
    config = tiny_config(names, num_steps=5)
    config.seeds = 2
    config.hparams = {m: {"stage1_fraction": 0.6} for m in names if "stage1_fraction" in methods.BUILT_IN[m].hparams}
    table = runner.run_sweep(config, tmp_path / "sweep")
    assert sorted(table.method.unique()) == sorted(names)
    assert len(table) == 2 * len(names)
    for metric in ("balanced_accuracy", "ovr_roc_auc", "train_loss"):
        assert np.all(np.isfinite(table[metric])), metric
    np.testing.assert_array_equal(table.diverged, 0.0)
