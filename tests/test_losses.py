"""Loss kernels against NumPy transcriptions of their papers' equations, optax, and each other."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import test_util as jax_test_util
from numpy_references import np_ce, np_log_softmax

from imbjax import losses
from imbjax.engine.method import Context

RTOL = ATOL = 1e-5
BATCH, CLASSES = 16, 4
COUNTS = np.array([500, 40, 1, 0])  # a head class, a minority class, a singleton and an empty class


def random_problem(seed, batch=BATCH, classes=CLASSES, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((batch, classes))).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    return logits, labels


# --- NumPy transcriptions (float64) ------------------------------------------------------------




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


def np_official_ldam(x, target, cls_num_list, max_m=0.5, s=30.0, weight=None, reduction="mean"):
    """kaidic/LDAM-DRW losses.py ``LDAMLoss(cls_num_list, max_m, weight, s).forward(x, target)`` in
    float64: ``m_j = 1 / sqrt(sqrt(n_j))`` scaled so that ``max_j m_j = max_m``, the batch margins by
    the same one-hot matmul, ``cross_entropy(s * where(index, x - m, x), target, weight)``: PyTorch's
    mean reduction ``sum_i w_{y_i} CE_i / sum_i w_{y_i}``; ``reduction="none"`` gives ``w_{y_i} CE_i``."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        m_list = 1.0 / np.sqrt(np.sqrt(np.asarray(cls_num_list, np.float64)))
        m_list = m_list * (max_m / np.max(m_list))
        index = np.zeros(x.shape, bool)
        index[np.arange(len(target)), target] = True
        batch_m = (m_list[None, :] @ index.astype(np.float64).T).reshape(-1, 1)
    output = np.where(index, x - batch_m, x)
    w = np.ones(x.shape[1]) if weight is None else np.asarray(weight, np.float64)
    per_example = w[target] * np_ce(s * output, target)
    return per_example if reduction == "none" else per_example.sum() / w[target].sum()


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
    expected = np.array([sum(costs[y, q] for q in range(CLASSES) if q != y) / (CLASSES - 1) for y in labels])
    got = losses.cost_sensitive_ce(logits, labels, costs=costs)
    np.testing.assert_allclose(got, expected * np_ce(logits, labels), rtol=RTOL, atol=ATOL)


def test_binary_cost_sensitive_ce_weights_false_negatives_and_false_positives():
    logits, labels = random_problem(2, classes=2)
    false_negative_cost, false_positive_cost = 7.0, 0.5
    costs = np.array([[0.0, false_positive_cost], [false_negative_cost, 0.0]], np.float32)  # row = true class
    weight = np.where(labels == 1, false_negative_cost, false_positive_cost)
    np.testing.assert_allclose(losses.cost_sensitive_ce(logits, labels, costs=costs),
                               weight * np_ce(logits, labels), rtol=RTOL, atol=ATOL)


def test_cost_threshold_is_survey_eq_10_and_the_bayes_decision():
    # A false negative (true 1, predicted 0) three times as costly as a false positive: p* = 1 / (1 + 3).
    np.testing.assert_allclose(losses.cost_threshold(costs=np.array([[0.0, 1.0], [3.0, 0.0]])), 1.0 / (1.0 + 3.0))
    rng = np.random.default_rng(3)
    for _ in range(20):
        costs = rng.uniform(0.0, 1.0, (2, 2))
        costs[0, 1] += 1.0  # a false positive costs more than a true negative,
        costs[1, 0] += 1.0  # a false negative more than a true positive
        threshold = float(losses.cost_threshold(costs=costs))
        for p in rng.uniform(0.0, 1.0, 50):
            if abs(p - threshold) < 1e-4:
                continue
            expected_cost = np.array([1.0 - p, p]) @ costs  # expected cost of predicting 0 and 1
            assert (p >= threshold) == (expected_cost[1] <= expected_cost[0])


def test_minority_cost_matrix_traced_and_in_cost_sensitive_ce():
    build = jax.jit(lambda counts, ratio: losses.minority_cost_matrix(counts, cost_ratio=ratio))
    got = build(jnp.array([50, 50, 5, 0]), 4.0)
    expected = np.array([[0, 1, 1, 1], [1, 0, 1, 1], [4, 4, 0, 4], [4, 4, 4, 0]], np.float32)  # row = true class
    np.testing.assert_array_equal(got, expected)
    logits, labels = random_problem(4)
    uniform = losses.minority_cost_matrix(np.full(CLASSES, 10), cost_ratio=4.0)
    np.testing.assert_allclose(losses.cost_sensitive_ce(logits, labels, costs=uniform),
                               np_ce(logits, labels), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("bad", [np.zeros((3, 2)), np.zeros((1, 1)), np.zeros(3)])
def test_cost_sensitive_ce_rejects_a_non_square_cost_matrix(bad):
    logits, labels = random_problem(5)
    with pytest.raises(ValueError, match="costs"):
        losses.cost_sensitive_ce(logits, labels, costs=bad)


def test_cost_threshold_rejects_a_multiclass_cost_matrix():
    with pytest.raises(ValueError, match="binary"):
        losses.cost_threshold(costs=np.ones((3, 3)))


def test_mean_misclassification_costs_average_each_row_without_its_diagonal():
    costs = np.arange(16, dtype=np.float32).reshape(4, 4)  # row = true class
    expected = [(costs[t].sum() - costs[t, t]) / 3 for t in range(4)]
    np.testing.assert_allclose(losses.mean_misclassification_costs(costs=costs), expected, rtol=1e-6)


def test_khan_cost_sensitive_losses_are_the_written_out_formulas():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    xi = rng.uniform(0.5, 4, (3, 3))  # xi[p, q]: true class p, predicted class q
    weighted = xi[labels] * np.exp(logits)
    expected = -np.log(weighted[np.arange(6), labels] / weighted.sum(1))
    got = losses.cost_sensitive_softmax_ce(jnp.array(logits, jnp.float32), jnp.array(labels),
                                           costs=jnp.array(xi, jnp.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    hinge = [sum(max(0.0, 1 + logits[i, q] + np.log(xi[labels[i], q]) - logits[i, labels[i]]
                     - np.log(xi[labels[i], labels[i]])) for q in range(3) if q != labels[i]) for i in range(6)]
    got = losses.cost_sensitive_hinge(jnp.array(logits, jnp.float32), jnp.array(labels),
                                      costs=jnp.array(xi, jnp.float32))
    np.testing.assert_allclose(got, hinge, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", [losses.cost_sensitive_softmax_ce, losses.cost_sensitive_hinge])
def test_khan_cost_sensitive_losses_refuse_costs_of_another_number_of_classes(loss):
    logits, labels = random_problem(6)
    with pytest.raises(ValueError, match=r"costs has shape \(3, 3\) but logits have 4 classes"):
        loss(logits, labels, costs=np.ones((3, 3), np.float32))


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


@pytest.mark.parametrize("alpha", [1.0, 0.3, 2.5])
def test_focal_method_weights_minority_classes_by_alpha_and_the_largest_by_one(alpha):
    """``alpha_t = alpha`` for a true class with fewer examples than the largest (the singleton and
    the empty class included), 1 for the largest; ``alpha = 1`` is the unweighted focal loss."""
    from imbjax.methods.loss_methods import focal_mean

    logits, labels = random_problem(30)
    got = focal_mean(jnp.asarray(logits), jnp.asarray(labels), _library_context(COUNTS, 0, gamma=1.5, alpha=alpha))
    np.testing.assert_allclose(got, np.mean(np_focal(logits, labels, 1.5, [1.0, alpha, alpha, alpha])), rtol=RTOL)


def test_focal_method_with_alpha_one_is_unweighted_and_lin_et_al_alpha_maps_to_its_odds():
    """alpha = 1, gamma = 0 is CE; Lin et al.'s binary alpha_t (0.25 rare, 0.75 frequent) is the
    method's alpha = 0.25 / 0.75 = 1/3 times the overall factor 0.75."""
    from imbjax.methods.loss_methods import focal_mean

    logits, labels = random_problem(31, classes=2)
    counts = np.array([100, 10])

    def method(gamma, alpha):
        return float(focal_mean(jnp.asarray(logits), jnp.asarray(labels),
                                _library_context(counts, 0, gamma=gamma, alpha=alpha)))

    np.testing.assert_allclose(method(0.0, 1.0), np.mean(np_ce(logits, labels)), rtol=RTOL)
    lin = np.mean(np_focal(logits, labels, 2.0, np.array([0.75, 0.25])))
    np.testing.assert_allclose(0.75 * method(2.0, 1.0 / 3.0), lin, rtol=RTOL)


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


NONEMPTY_COUNTS = np.array([500, 40, 3, 1])


def random_cosines(seed, batch=BATCH, classes=CLASSES):
    """LDAM's inputs: cosines in [-1, 1] (what a ``head="cosine"`` model outputs) and labels."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (batch, classes)).astype(np.float32), rng.integers(0, classes, batch).astype(np.int32)


@functools.cache
def _jitted_ldam():
    return jax.jit(lambda z, y, counts, m, s, w: losses.ldam_loss(z, y, class_counts=counts, max_margin=m, scale=s,
                                                               weights=w))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), max_margin=st.floats(0.0, 1.0), scale=st.floats(1.0, 64.0),
       weighted=st.booleans())
def test_ldam_loss_is_the_official_ldam_loss(seed, max_margin, scale, weighted):
    logits, labels = random_cosines(seed)
    weights = np.random.default_rng(seed).uniform(0.1, 3.0, CLASSES) if weighted else None
    got = _jitted_ldam()(logits, labels, NONEMPTY_COUNTS, max_margin, scale, 1.0 if weights is None else weights)
    expected = np_official_ldam(logits, labels, NONEMPTY_COUNTS, max_margin, scale, weights, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-4)


def test_ldam_margins_are_c_over_n_to_the_quarter_scaled_to_max_margin():
    margins = np.asarray(losses.ldam_margins(NONEMPTY_COUNTS, max_margin=0.5))
    constant = 0.5 * NONEMPTY_COUNTS.min() ** 0.25  # C, so that the smallest class's margin is 0.5
    np.testing.assert_allclose(margins, constant / NONEMPTY_COUNTS ** 0.25, rtol=RTOL)


@pytest.mark.parametrize("value", [1.0, 1e4])
def test_ldam_loss_at_extreme_logits_equals_the_official_loss(value):
    """Saturated cosines (+-1, the cosine head's range) and logits +-1e4: confidently right and
    wrong for every class, the loss and its gradient finite."""
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3], np.int32)
    logits = np.full((8, CLASSES), -value, np.float32)
    logits[np.arange(4), labels[:4]] = value
    logits[np.arange(4, 8), (labels[4:] + 1) % CLASSES] = value
    loss = functools.partial(losses.ldam_loss, class_counts=NONEMPTY_COUNTS, max_margin=0.5, scale=30.0)
    np.testing.assert_allclose(loss(logits, labels), np_official_ldam(logits, labels, NONEMPTY_COUNTS,
                                                                      reduction="none"), rtol=RTOL, atol=1e-3)
    grad = jax.grad(lambda z: jnp.mean(loss(z, labels)))(jnp.asarray(logits))
    assert np.all(np.isfinite(grad))


def test_ldam_loss_with_an_empty_class_counts_it_as_a_singleton():
    """The official margins of an empty class are 1/0 -> NaN for every example (the one-hot matmul
    spreads the NaN); here an empty class has a singleton's margin, so the loss is the official loss
    of the counts with 0 replaced by 1."""
    logits, labels = random_cosines(20)
    assert np.all(np.isnan(np_official_ldam(logits, labels, COUNTS, reduction="none")))
    got = losses.ldam_loss(logits, labels, class_counts=COUNTS, max_margin=0.5, scale=30.0)
    np.testing.assert_allclose(got, np_official_ldam(logits, labels, np.maximum(COUNTS, 1), reduction="none"),
                               rtol=RTOL, atol=1e-4)


def _library_context(counts, step, num_steps=100, **hparams):
    from imbjax.engine.method import Context

    return Context(jnp.asarray(counts, jnp.float32), {k: jnp.float32(v) for k, v in hparams.items()},
                           jnp.int32(step), num_steps)


@pytest.mark.parametrize("step", [79, 80])
def test_ldam_drw_batch_loss_is_the_official_weighted_mean(step):
    """Before epoch 160 of 200 the official code's weights are all 1 (beta = 0), from it on the
    class-balanced weights with beta = 0.9999; its cross_entropy divides by the batch's summed weights."""
    from imbjax.methods.loss_methods import ldam_drw_mean, ldam_mean

    logits, labels = random_cosines(21)
    hparams = dict(max_margin=0.5, scale=30.0, drw_start=0.8, beta=0.9999)
    weights = np_class_balanced_weights(NONEMPTY_COUNTS, 0.9999) if step >= 80 else None
    expected = np_official_ldam(logits, labels, NONEMPTY_COUNTS, weight=weights)
    got = ldam_drw_mean(jnp.asarray(logits), jnp.asarray(labels), _library_context(NONEMPTY_COUNTS, step, **hparams))
    np.testing.assert_allclose(got, expected, rtol=RTOL)
    plain = ldam_mean(jnp.asarray(logits), jnp.asarray(labels), _library_context(NONEMPTY_COUNTS, step, **hparams))
    np.testing.assert_allclose(plain, np_official_ldam(logits, labels, NONEMPTY_COUNTS), rtol=RTOL)


def test_ldam_prediction_is_the_softmax_of_the_scaled_cosines():
    from imbjax.methods.loss_methods import ldam_probabilities

    logits, _ = random_cosines(22)
    probs = ldam_probabilities(jnp.asarray(logits), _library_context(NONEMPTY_COUNTS, 0, scale=30.0))
    np.testing.assert_allclose(probs, np.exp(np_log_softmax(30.0 * logits)), rtol=RTOL, atol=1e-7)
    np.testing.assert_array_equal(np.argmax(probs, axis=1), np.argmax(logits, axis=1))


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
    "uniform costs": lambda z, y: losses.cost_sensitive_ce(z, y, costs=1.0 - np.eye(CLASSES)),
    "balanced softmax equal counts": lambda z, y: losses.balanced_softmax_loss(z, y, class_counts=np.full(CLASSES, 7)),
    "cost-sensitive softmax, costs constant along each row": lambda z, y: losses.cost_sensitive_softmax_ce(
        z, y, costs=np.repeat(np.arange(1.0, CLASSES + 1, dtype=np.float32)[:, None], CLASSES, axis=1)),
}


@pytest.mark.parametrize("name", sorted(CE_SPECIAL_CASES))
def test_reduces_to_cross_entropy(name):
    logits, labels = random_problem(16)
    np.testing.assert_allclose(CE_SPECIAL_CASES[name](logits, labels), np_ce(logits, labels), rtol=RTOL, atol=ATOL)


# --- Gradients, extremes, vmap ---------------------------------------------------------------------

def _mean(loss):
    return lambda z, y: jnp.mean(loss(z, y))


KHAN_COSTS = np.random.default_rng(19).uniform(1.0, 4.0, (CLASSES, CLASSES)).astype(np.float32)
PER_EXAMPLE_LOSSES = {
    "ce": losses.cross_entropy,
    "cost_sensitive_ce": lambda z, y: losses.cost_sensitive_ce(
        z, y, costs=losses.minority_cost_matrix(COUNTS, cost_ratio=5.0)),
    "cost_sensitive_softmax_ce": lambda z, y: losses.cost_sensitive_softmax_ce(z, y, costs=KHAN_COSTS),
    "cost_sensitive_hinge": lambda z, y: losses.cost_sensitive_hinge(z, y, costs=KHAN_COSTS),
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
                                     costs=losses.minority_cost_matrix(COUNTS, cost_ratio=h["cost_ratio"])),
            jnp.broadcast_to(losses.msfe_loss(logits * h["scale"], labels), (BATCH,)),
        ])

    vmapped = jax.jit(jax.vmap(all_losses))(grid)
    for i in range(3):
        looped = all_losses({k: float(v[i]) for k, v in grid.items()})
        np.testing.assert_allclose(vmapped[i], looped, rtol=RTOL, atol=ATOL)


# --- The registered loss methods --------------------------------------------------------------------

def standard_loop_methods() -> list[str]:
    """Every registered method of the standard training loop: its loss and prediction read only the
    logits, labels, class counts, hyper-parameters and step."""
    from imbjax import methods

    return [name for name in methods.available() if methods.get(name).family == "standard"]


@pytest.mark.parametrize("name", standard_loop_methods())
def test_registered_method_is_finite_and_reads_each_of_its_hparams(name):
    from imbjax import methods

    method = methods.get(name)
    logits, labels = random_problem(19)
    counts = jnp.asarray(COUNTS, jnp.float32)

    features = jnp.abs(jnp.asarray(np.random.default_rng(3).normal(size=(len(labels), 8)), jnp.float32))

    def outputs(hparams):  # at steps 30, 60 and 90 of 100 (before and after a deferred loss starts)
        contexts = [Context(counts, hparams, jnp.int32(step), 100, features, (),
                                    jax.random.PRNGKey(step)) for step in (30, 60, 90)]
        values, grads = zip(*[jax.value_and_grad(method.loss)(jnp.asarray(logits), jnp.asarray(labels), ctx)
                              for ctx in contexts])
        rates = jnp.stack([method.learning_rate_factor(ctx) for ctx in contexts])
        return jnp.stack(values), jnp.stack(grads), method.postprocess(jnp.asarray(logits), contexts[0]), rates

    defaults = {k: jnp.float32(v) for k, v in method.hparams.items()}
    loss, grad, probs, rates = outputs(defaults)
    assert np.all(np.isfinite(rates)) and np.all(np.asarray(rates) >= 0)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(jnp.sum(probs, axis=-1), 1.0, rtol=RTOL)
    for hparam in method.hparams:
        changed = outputs({**defaults, hparam: defaults[hparam] * 0.5})
        assert not (np.allclose(changed[0], loss) and np.allclose(changed[2], probs)
                    and np.allclose(changed[3], rates)), hparam


@pytest.mark.slow
def test_every_loss_method_runs_through_the_cli(tmp_path):
    """Issue 4: a digits sweep (step imbalance, rho = 20) runs every method of the standard loop (every
    loss) for 5 seeds through the CLI and writes one row per run."""
    import subprocess
    import sys
    import textwrap

    import pandas as pd

    loss_methods = tuple(standard_loop_methods())
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
