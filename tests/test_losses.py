"""Loss kernels against NumPy transcriptions of their papers' equations, optax, and each other."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import test_util as jax_test_util
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imbjax import losses

RTOL = ATOL = 1e-5
BATCH, CLASSES = 16, 4
COUNTS = np.array([500, 40, 1, 0])  # a head class, a minority class, a singleton and an empty class


def random_problem(seed, batch=BATCH, classes=CLASSES, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((batch, classes))).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    return logits, labels


# --- NumPy transcriptions (float64) ------------------------------------------------------------

def np_log_softmax(z):
    z = np.asarray(z, np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_ce(z, y):
    return -np_log_softmax(z)[np.arange(len(y)), y]


def np_focal(z, y, gamma, alpha):
    p_t = np.exp(np_log_softmax(z)[np.arange(len(y)), y])
    alpha_t = alpha if np.ndim(alpha) == 0 else np.asarray(alpha)[y]
    return -alpha_t * (1.0 - p_t) ** gamma * np.log(p_t)


def np_sigmoid_focal(z, y, gamma, alpha):
    p = 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))
    p_t = np.where(y == 1, p, 1.0 - p)
    alpha_t = 1.0 if alpha is None else np.where(y == 1, alpha, 1.0 - alpha)
    return -alpha_t * (1.0 - p_t) ** gamma * np.log(p_t)


def np_class_balanced_weights(counts, beta):
    counts = np.maximum(np.asarray(counts, np.float64), 1.0)
    weights = (1.0 - beta) / (1.0 - beta ** counts)
    return weights / weights.sum() * len(counts)


def np_ldam(z, y, counts, max_margin, scale, weights):
    margins = 1.0 / np.maximum(np.asarray(counts, np.float64), 1.0) ** 0.25
    margins *= max_margin / margins.max()
    adjusted = np.array(z, np.float64)
    adjusted[np.arange(len(y)), y] -= margins[y]
    weight = weights if np.ndim(weights) == 0 else np.asarray(weights)[y]
    return weight * np_ce(scale * adjusted, y)


def np_squared_errors(z, y, activation):
    z = np.asarray(z, np.float64)
    out = 1.0 / (1.0 + np.exp(-z)) if activation == "sigmoid" else np.exp(np_log_softmax(z))
    d = np.eye(z.shape[1])[y]
    return np.array([sum(0.5 * (d[i, n] - out[i, n]) ** 2 for n in range(z.shape[1])) for i in range(len(y))])


def np_fpe_fne(z, y, positive, activation):
    """Survey Eqs. 12-13: mean error over the N negative and the P positive examples."""
    errors = np_squared_errors(z, y, activation)
    negatives = [errors[i] for i in range(len(y)) if y[i] != positive]
    positives = [errors[i] for i in range(len(y)) if y[i] == positive]
    fpe = sum(negatives) / len(negatives) if negatives else 0.0
    fne = sum(positives) / len(positives) if positives else 0.0
    return fpe, fne


def np_class_errors(z, y, activation):
    errors = np_squared_errors(z, y, activation)
    return [errors[y == c].mean() if np.any(y == c) else 0.0 for c in range(z.shape[1])]


# --- CE and cost-sensitive CE -------------------------------------------------------------------

def test_cross_entropy_matches_numpy_and_optax():
    logits, labels = random_problem(0)
    got = losses.cross_entropy(logits, labels)
    np.testing.assert_allclose(got, np_ce(logits, labels), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels))


def test_cost_sensitive_ce_weights_each_example_by_the_mean_cost_of_its_class():
    logits, labels = random_problem(1)
    costs = np.random.default_rng(1).uniform(0.5, 5.0, (CLASSES, CLASSES)).astype(np.float32)
    expected = np.array([sum(costs[i, y] for i in range(CLASSES) if i != y) / (CLASSES - 1) for y in labels])
    got = losses.cost_sensitive_ce(logits, labels, cost_matrix=costs)
    np.testing.assert_allclose(got, expected * np_ce(logits, labels), rtol=RTOL, atol=ATOL)


def test_binary_cost_sensitive_ce_weights_false_negatives_and_false_positives():
    logits, labels = random_problem(2, classes=2)
    false_negative_cost, false_positive_cost = 7.0, 0.5
    costs = np.array([[0.0, false_negative_cost], [false_positive_cost, 0.0]], np.float32)
    weight = np.where(labels == 1, false_negative_cost, false_positive_cost)
    np.testing.assert_allclose(losses.cost_sensitive_ce(logits, labels, cost_matrix=costs),
                               weight * np_ce(logits, labels), rtol=RTOL, atol=ATOL)


def test_cost_threshold_is_survey_eq_10_and_the_bayes_decision():
    np.testing.assert_allclose(losses.cost_threshold(np.array([[0.0, 3.0], [1.0, 0.0]])), 1.0 / (1.0 + 3.0))
    rng = np.random.default_rng(3)
    for _ in range(20):
        costs = rng.uniform(0.0, 1.0, (2, 2))
        costs[1, 0] += 1.0  # a false positive costs more than a true negative,
        costs[0, 1] += 1.0  # a false negative more than a true positive
        threshold = float(losses.cost_threshold(costs))
        for p in rng.uniform(0.0, 1.0, 50):
            if abs(p - threshold) < 1e-4:
                continue
            expected_cost = costs @ np.array([1.0 - p, p])  # expected cost of predicting 0 and 1
            assert (p >= threshold) == (expected_cost[1] <= expected_cost[0])


def test_minority_cost_matrix_traced_and_in_cost_sensitive_ce():
    build = jax.jit(lambda counts, ratio: losses.minority_cost_matrix(counts, cost_ratio=ratio))
    got = build(jnp.array([50, 50, 5, 0]), 4.0)
    expected = np.array([[0, 1, 4, 4], [1, 0, 4, 4], [1, 1, 0, 4], [1, 1, 4, 0]], np.float32)
    np.testing.assert_array_equal(got, expected)
    logits, labels = random_problem(4)
    uniform = losses.minority_cost_matrix(np.full(CLASSES, 10), cost_ratio=4.0)
    np.testing.assert_allclose(losses.cost_sensitive_ce(logits, labels, cost_matrix=uniform),
                               np_ce(logits, labels), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("bad", [np.zeros((3, 2)), np.zeros((1, 1)), np.zeros(3)])
def test_cost_sensitive_ce_rejects_a_non_square_cost_matrix(bad):
    logits, labels = random_problem(5)
    with pytest.raises(ValueError, match="cost_matrix"):
        losses.cost_sensitive_ce(logits, labels, cost_matrix=bad)


def test_cost_threshold_rejects_a_multiclass_cost_matrix():
    with pytest.raises(ValueError, match="binary"):
        losses.cost_threshold(np.ones((3, 3)))


# --- Focal loss ---------------------------------------------------------------------------------

@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [1.0, 0.25, np.array([0.1, 0.5, 2.0, 1.0], np.float32)])
def test_focal_loss_is_lin_et_al_eq_16(gamma, alpha):
    logits, labels = random_problem(6)
    np.testing.assert_allclose(losses.focal_loss(logits, labels, gamma=gamma, alpha=alpha),
                               np_focal(logits, labels, gamma, alpha), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25, 0.9])
def test_sigmoid_focal_loss_matches_optax_and_numpy(gamma, alpha):
    rng = np.random.default_rng(7)
    logits = (4.0 * rng.standard_normal((BATCH, 3))).astype(np.float32)
    labels = rng.integers(0, 2, (BATCH, 3))
    got = losses.sigmoid_focal_loss(logits, labels, alpha=alpha, gamma=gamma)
    np.testing.assert_allclose(got, optax.losses.sigmoid_focal_loss(logits, labels, alpha=alpha, gamma=gamma),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, np_sigmoid_focal(logits, labels, gamma, alpha), rtol=RTOL, atol=ATOL)


def test_focal_loss_rejects_a_negative_gamma():
    logits, labels = random_problem(8)
    with pytest.raises(ValueError, match="gamma"):
        losses.focal_loss(logits, labels, gamma=-1.0)


@functools.cache
def _jitted_focal_and_ce():
    return jax.jit(lambda z, y, g: (losses.focal_loss(z, y, gamma=g), losses.cross_entropy(z, y)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), gamma=st.floats(0.0, 5.0))
def test_focal_loss_never_exceeds_ce(seed, gamma):
    logits, labels = random_problem(seed, scale=10.0)
    focal, ce = _jitted_focal_and_ce()(logits, labels, gamma)
    assert np.all(np.asarray(focal) <= np.asarray(ce) * (1 + 1e-6) + 1e-7)


# --- Class-balanced, LDAM-DRW, logit adjustment, balanced softmax ---------------------------------

@pytest.mark.parametrize("beta", [0.0, 0.9, 0.999, 0.9999])
def test_class_balanced_weights_are_cui_et_al(beta):
    got = losses.class_balanced_weights(COUNTS, beta=beta)
    np.testing.assert_allclose(got, np_class_balanced_weights(COUNTS, beta), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(jnp.sum(got), CLASSES, rtol=RTOL)
    assert got[3] == got[2]  # an empty class is weighted as a singleton


def test_class_balanced_ce_and_focal():
    logits, labels = random_problem(9)
    weights = np_class_balanced_weights(COUNTS, 0.999)
    np.testing.assert_allclose(losses.class_balanced_ce(logits, labels, class_counts=COUNTS, beta=0.999),
                               weights[labels] * np_ce(logits, labels), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        losses.class_balanced_focal(logits, labels, class_counts=COUNTS, beta=0.999, gamma=1.5),
        np_focal(logits, labels, 1.5, weights), rtol=RTOL, atol=ATOL)


def test_class_balanced_weights_reject_beta_of_one():
    with pytest.raises(ValueError, match="beta"):
        losses.class_balanced_weights(COUNTS, beta=1.0)


@pytest.mark.parametrize("weights", [1.0, np.array([0.2, 1.0, 3.0, 0.5], np.float32)])
def test_ldam_loss_is_cao_et_al(weights):
    logits, labels = random_problem(10)
    got = losses.ldam_loss(logits, labels, class_counts=COUNTS, max_margin=0.5, scale=30.0, weights=weights)
    np.testing.assert_allclose(got, np_ldam(logits, labels, COUNTS, 0.5, 30.0, weights), rtol=RTOL, atol=1e-4)
    np.testing.assert_allclose(jnp.max(losses.ldam_margins(COUNTS, max_margin=0.5)), 0.5, rtol=RTOL)


def test_drw_weights_switch_at_start_step_inside_scan():
    balanced = losses.class_balanced_weights(COUNTS, beta=0.9999)

    def body(carry, step):
        return carry, losses.drw_weights(COUNTS, step, start_step=carry, beta=0.9999)

    _, per_step = jax.jit(lambda start: jax.lax.scan(body, start, jnp.arange(6)))(jnp.int32(4))
    np.testing.assert_array_equal(per_step[:4], np.ones((4, CLASSES)))
    np.testing.assert_allclose(per_step[4:], np.stack([balanced, balanced]), rtol=RTOL)


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_logit_adjusted_loss_and_posthoc_are_menon_et_al(tau):
    logits, labels = random_problem(11)
    counts = np.maximum(COUNTS, 1).astype(np.float64)
    log_prior = np.log(counts / counts.sum())
    np.testing.assert_allclose(losses.log_class_prior(COUNTS), log_prior, rtol=RTOL, atol=ATOL)
    got = losses.logit_adjusted_loss(logits, labels, log_prior=losses.log_class_prior(COUNTS), tau=tau)
    np.testing.assert_allclose(got, np_ce(logits + tau * log_prior, labels), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(losses.logit_adjust_posthoc(logits, log_prior=log_prior, tau=tau),
                               logits - tau * log_prior, rtol=RTOL, atol=ATOL)


def test_balanced_softmax_is_ren_et_al():
    logits, labels = random_problem(12)
    counts = np.maximum(COUNTS, 1).astype(np.float64)
    z = np.asarray(logits, np.float64)
    probabilities = counts * np.exp(z) / (counts * np.exp(z)).sum(axis=1, keepdims=True)
    expected = -np.log(probabilities[np.arange(BATCH), labels])
    got = losses.balanced_softmax_loss(logits, labels, class_counts=COUNTS)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        got, losses.logit_adjusted_loss(logits, labels, log_prior=losses.log_class_prior(COUNTS), tau=1.0),
        rtol=RTOL, atol=ATOL)


# --- MSE, MFE, MSFE -------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_mse_mfe_msfe_binary_are_wang_et_al_eqs_12_to_15(activation):
    logits, labels = random_problem(13, classes=2)
    fpe, fne = np_fpe_fne(logits, labels, positive=1, activation=activation)
    np.testing.assert_allclose(losses.mse_loss(logits, labels, activation=activation),
                               np_squared_errors(logits, labels, activation), rtol=RTOL, atol=ATOL)
    for positive_class in (1, None):  # for two classes the multi-class form is the binary one
        kwargs = dict(positive_class=positive_class, activation=activation)
        np.testing.assert_allclose(losses.mfe_loss(logits, labels, **kwargs), fpe + fne, rtol=RTOL)
        np.testing.assert_allclose(losses.msfe_loss(logits, labels, **kwargs), fpe**2 + fne**2, rtol=RTOL)


def test_mfe_msfe_multiclass_and_one_vs_rest():
    logits, labels = random_problem(14)
    labels[labels == 2] = 0  # class 2 absent from the batch: contributes 0
    errors = np_class_errors(logits, labels, "sigmoid")
    np.testing.assert_allclose(losses.mfe_loss(logits, labels), sum(errors), rtol=RTOL)
    np.testing.assert_allclose(losses.msfe_loss(logits, labels), sum(e**2 for e in errors), rtol=RTOL)
    fpe, fne = np_fpe_fne(logits, labels, positive=3, activation="sigmoid")
    np.testing.assert_allclose(losses.mfe_loss(logits, labels, positive_class=3), fpe + fne, rtol=RTOL)
    absent = losses.group_mean_errors(logits, labels, positive_class=2)
    np.testing.assert_allclose(absent[1], 0.0)


def test_mfe_rejects_an_unknown_activation():
    logits, labels = random_problem(15)
    with pytest.raises(ValueError, match="activation"):
        losses.mfe_loss(logits, labels, activation="tanh")


# --- Reductions to CE -----------------------------------------------------------------------------

CE_SPECIAL_CASES = {
    "focal gamma=0 alpha=1": lambda z, y: losses.focal_loss(z, y, gamma=0.0, alpha=1.0),
    "class-balanced ce beta=0": lambda z, y: losses.class_balanced_ce(z, y, class_counts=COUNTS, beta=0.0),
    "class-balanced focal beta=0 gamma=0": lambda z, y: losses.class_balanced_focal(
        z, y, class_counts=COUNTS, beta=0.0, gamma=0.0),
    "logit adjusted tau=0": lambda z, y: losses.logit_adjusted_loss(
        z, y, log_prior=losses.log_class_prior(COUNTS), tau=0.0),
    "ldam zero margins scale 1": lambda z, y: losses.ldam_loss(z, y, class_counts=COUNTS, max_margin=0.0, scale=1.0),
    "drw before its start": lambda z, y: losses.ldam_loss(
        z, y, class_counts=COUNTS, max_margin=0.0, scale=1.0, weights=losses.drw_weights(COUNTS, 3, start_step=4)),
    "uniform costs": lambda z, y: losses.cost_sensitive_ce(z, y, cost_matrix=1.0 - np.eye(CLASSES)),
    "balanced softmax equal counts": lambda z, y: losses.balanced_softmax_loss(z, y, class_counts=np.full(CLASSES, 7)),
}


@pytest.mark.parametrize("name", sorted(CE_SPECIAL_CASES))
def test_reduces_to_cross_entropy(name):
    logits, labels = random_problem(16)
    np.testing.assert_allclose(CE_SPECIAL_CASES[name](logits, labels), np_ce(logits, labels), rtol=RTOL, atol=ATOL)


# --- Gradients, extremes, vmap ---------------------------------------------------------------------

def _mean(loss):
    return lambda z, y: jnp.mean(loss(z, y))


PER_EXAMPLE_LOSSES = {
    "ce": losses.cross_entropy,
    "cost_sensitive_ce": lambda z, y: losses.cost_sensitive_ce(
        z, y, cost_matrix=losses.minority_cost_matrix(COUNTS, cost_ratio=5.0)),
    "focal gamma=0": lambda z, y: losses.focal_loss(z, y, gamma=0.0),
    "focal gamma=0.5": lambda z, y: losses.focal_loss(z, y, gamma=0.5, alpha=jnp.array([0.25, 0.75, 0.75, 0.75])),
    "focal gamma=2": lambda z, y: losses.focal_loss(z, y, gamma=2.0, alpha=0.25),
    "sigmoid focal gamma=0": lambda z, y: jnp.sum(losses.sigmoid_focal_loss(
        z, jax.nn.one_hot(y, CLASSES), gamma=0.0), axis=-1),
    "sigmoid focal gamma=0.5": lambda z, y: jnp.sum(losses.sigmoid_focal_loss(
        z, jax.nn.one_hot(y, CLASSES), alpha=0.25, gamma=0.5), axis=-1),
    "class_balanced_ce": lambda z, y: losses.class_balanced_ce(z, y, class_counts=COUNTS),
    "class_balanced_focal": lambda z, y: losses.class_balanced_focal(z, y, class_counts=COUNTS, gamma=0.5),
    "ldam_drw": lambda z, y: losses.ldam_loss(z, y, class_counts=COUNTS,
                                              weights=losses.drw_weights(COUNTS, 10, start_step=8)),
    "logit_adjusted": lambda z, y: losses.logit_adjusted_loss(z, y, log_prior=losses.log_class_prior(COUNTS)),
    "balanced_softmax": lambda z, y: losses.balanced_softmax_loss(z, y, class_counts=COUNTS),
    "mse sigmoid": losses.mse_loss,
    "mse softmax": lambda z, y: losses.mse_loss(z, y, activation="softmax"),
}
BATCH_LOSSES = {
    "mfe": losses.mfe_loss,
    "msfe": losses.msfe_loss,
    "mfe binary softmax": lambda z, y: losses.mfe_loss(z, y, positive_class=3, activation="softmax"),
    "msfe binary": lambda z, y: losses.msfe_loss(z, y, positive_class=3),
}
SCALAR_LOSSES = {**{name: _mean(loss) for name, loss in PER_EXAMPLE_LOSSES.items()}, **BATCH_LOSSES}


@pytest.mark.parametrize("name", sorted(SCALAR_LOSSES))
def test_gradient_matches_finite_differences_in_float64(name):
    logits, labels = random_problem(17, batch=6)
    with jax.enable_x64(True):
        loss = SCALAR_LOSSES[name]
        jax_test_util.check_grads(lambda z: loss(z, jnp.asarray(labels)), (jnp.asarray(logits, jnp.float64),),
                                  order=1, modes=("rev",), eps=1e-4, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(SCALAR_LOSSES))
def test_value_and_gradient_are_finite_for_extreme_logits(name):
    # Correct and wrong saturated predictions at +-1e4, for every class including the singleton
    # and the empty one; the batch also lacks some classes entirely for MFE/MSFE.
    logits = np.full((8, CLASSES), -1e4, np.float32)
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3], np.int32)
    logits[np.arange(4), labels[:4]] = 1e4  # confidently right
    logits[np.arange(4, 8), (labels[4:] + 1) % CLASSES] = 1e4  # confidently wrong
    for z, y in [(logits, labels), (logits[:3], labels[:3]), (np.zeros_like(logits), labels)]:
        value, grad = jax.value_and_grad(SCALAR_LOSSES[name])(jnp.asarray(z), jnp.asarray(y))
        assert np.isfinite(value), (name, value)
        assert np.all(np.isfinite(grad)), (name, grad)


def test_vmap_over_a_hyperparameter_grid_equals_a_loop():
    logits, labels = random_problem(18)
    grid = dict(
        gamma=jnp.array([0.0, 0.5, 2.0]), beta=jnp.array([0.0, 0.99, 0.9999]), tau=jnp.array([0.0, 1.0, 2.0]),
        max_margin=jnp.array([0.0, 0.3, 0.5]), scale=jnp.array([1.0, 10.0, 30.0]),
        cost_ratio=jnp.array([1.0, 2.0, 10.0]), step=jnp.array([0, 7, 8]))

    def all_losses(h):
        return jnp.stack([
            losses.focal_loss(logits, labels, gamma=h["gamma"], alpha=0.25),
            losses.class_balanced_focal(logits, labels, class_counts=COUNTS, beta=h["beta"], gamma=h["gamma"]),
            losses.logit_adjusted_loss(logits, labels, log_prior=losses.log_class_prior(COUNTS), tau=h["tau"]),
            losses.ldam_loss(logits, labels, class_counts=COUNTS, max_margin=h["max_margin"], scale=h["scale"],
                             weights=losses.drw_weights(COUNTS, h["step"], start_step=8, beta=h["beta"])),
            losses.cost_sensitive_ce(logits, labels,
                                     cost_matrix=losses.minority_cost_matrix(COUNTS, cost_ratio=h["cost_ratio"])),
            jnp.broadcast_to(losses.msfe_loss(logits * h["scale"], labels), (BATCH,)),
        ])

    vmapped = jax.jit(jax.vmap(all_losses))(grid)
    for i in range(3):
        looped = all_losses({k: float(v[i]) for k, v in grid.items()})
        np.testing.assert_allclose(vmapped[i], looped, rtol=RTOL, atol=ATOL)


# --- The registered loss methods --------------------------------------------------------------------

LOSS_METHODS = ("focal", "mse", "mfe", "msfe", "cb_ce", "cb_focal", "ldam", "ldam_drw", "logit_adjusted",
                "logit_adjust_posthoc", "balanced_softmax")


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_registered_method_is_finite_and_reads_each_of_its_hparams(name):
    import imbjax.method_library.losses  # noqa: F401  (registers the methods)
    from imbjax import methods

    method = methods.get(name)
    logits, labels = random_problem(19)
    counts = jnp.asarray(COUNTS, jnp.float32)

    def outputs(hparams):  # at steps 60 and 90 of 100 (before and after deferred re-weighting starts)
        contexts = [methods.Context(counts, hparams, jnp.int32(step), 100) for step in (60, 90)]
        values, grads = zip(*[jax.value_and_grad(method.loss)(jnp.asarray(logits), jnp.asarray(labels), ctx)
                              for ctx in contexts])
        return jnp.stack(values), jnp.stack(grads), method.postprocess(jnp.asarray(logits), contexts[0])

    defaults = {k: jnp.float32(v) for k, v in method.hparams.items()}
    loss, grad, probs = outputs(defaults)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(jnp.sum(probs, axis=-1), 1.0, rtol=RTOL)
    for hparam in method.hparams:
        changed = outputs({**defaults, hparam: defaults[hparam] * 0.5})
        assert not np.allclose(changed[0], loss) or not np.allclose(changed[2], probs), hparam


@pytest.mark.slow
def test_every_loss_method_runs_through_the_cli(tmp_path):
    """Issue 4: a digits sweep (step imbalance, rho = 20) runs every loss for 5 seeds through the
    CLI and writes one row per run."""
    import subprocess
    import sys
    import textwrap

    import pandas as pd

    loss_methods = ("baseline", "cs_ce", "focal", "mse", "mfe", "msfe", "cb_ce", "cb_focal", "ldam", "ldam_drw",
                    "logit_adjusted", "logit_adjust_posthoc", "balanced_softmax")
    config = tmp_path / "losses.py"
    config.write_text(textwrap.dedent(f"""
        from imbjax.config import base_config
        def get_config():
            c = base_config()
            c.rhos = (20.0,)
            c.seeds = 5
            c.methods = {loss_methods!r}
            c.model_kwargs.hidden = (16,)
            c.batch_size = 32
            c.num_steps = 20
            return c
    """))
    workdir = tmp_path / "work"
    result = subprocess.run([sys.executable, "-m", "imbjax.cli", "run", str(config), "--workdir", str(workdir)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(workdir / "runs.csv")
    assert len(table) == len(loss_methods) * 5 and table["run_id"].is_unique
    assert sorted(table["method"].unique()) == sorted(loss_methods)
    assert table.groupby("method").size().eq(5).all()
    assert table["balanced_accuracy"].notna().all() and np.isfinite(table["train_loss"]).all()
