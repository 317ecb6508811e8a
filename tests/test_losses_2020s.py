"""The long-tail kernels of the 2020s (VS, tau-norm, MaxNorm, label-aware smoothing, IB, LADE, GCL, the mixup /
Remix mixing kernels) against NumPy transcriptions of their official code, and the VS / IB / LADE / GCL
methods in a vmapped sweep next to the baseline."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy_references import np_ce, np_log_softmax

from imbjax import losses, methods, sampling
from imbjax.engine.method import Context
from imbjax.engine.streams import stream_key
from imbjax.methods import loss_methods

RTOL = ATOL = 1e-5
BATCH, CLASSES = 12, 4
COUNTS = np.array([500, 40, 1, 0])  # a head class, a minority class, a singleton and an empty class
EXAMPLES = settings(max_examples=20, deadline=None)


def random_problem(seed, batch=BATCH, classes=CLASSES, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((batch, classes))).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    return logits, labels


def random_counts(seed, classes=CLASSES):
    """Class sizes 0-1000 with at least one non-empty class; some runs have an empty class."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 1000, classes)
    counts[rng.random(classes) < 0.25] = 0
    counts[rng.integers(classes)] = max(counts.max(), 1)
    return counts


def nonempty(counts):
    """The kernels' documented convention: an empty class counts as one example."""
    return np.maximum(np.asarray(counts, np.float64), 1.0)


# --- NumPy transcriptions of the official code (float64) -------------------------------------------




def np_logsumexp(x, axis):
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def np_vs(x, target, cls_num_list, gamma, tau):
    """orparask/VS-Loss losses.py ``VSLoss.forward`` per example."""
    cls_num_list = np.asarray(cls_num_list, np.float64)
    cls_probs = cls_num_list / cls_num_list.sum()
    temp = (1.0 / cls_num_list) ** gamma
    temp = temp / np.min(temp)
    return np_ce(np.asarray(x, np.float64) / temp + tau * np.log(cls_probs), target)


def np_tau_norm(kernel, tau):
    """Kang et al.'s ``weights / torch.pow(torch.norm(weights, 2, 1, keepdim=True), tau)`` on the PyTorch
    layout ``[classes, features]``, returned in the Dense layout ``[features, classes]``."""
    weights = np.asarray(kernel, np.float64).T
    return (weights / np.linalg.norm(weights, 2, axis=1, keepdims=True) ** tau).T


def np_maxnorm_threshold(kernel, thresh):
    """``MaxNorm_via_PGD.setPerLayerThresh`` (ShadeAlsha/LTR-weight-balancing) of the classifier weight."""
    norms = np.linalg.norm(np.asarray(kernel, np.float64).T, 2, axis=1)
    return norms.min() + thresh * (norms.max() - norms.min())


def np_maxnorm(kernel, threshold):
    """``MaxNorm_via_PGD.PGD`` (``tau = 1``) of the classifier weight, PyTorch layout in, Dense layout out."""
    weights = np.asarray(kernel, np.float64).T.copy()
    norms = np.linalg.norm(weights, 2, axis=1)
    shrink = norms > threshold
    weights[shrink] *= (threshold / norms[shrink])[:, None]
    return weights.T


def np_las_smooth(cls_num_list, smooth_head, smooth_tail, shape, power=None):
    """dvlab-research/MiSLAS methods.py ``LabelAwareSmoothing.__init__``'s ``self.smooth``."""
    n = np.asarray(cls_num_list, np.float64)
    n_1, n_k = n.max(), n.min()
    if shape == "concave":
        return smooth_tail + (smooth_head - smooth_tail) * np.sin((n - n_k) * np.pi / (2 * (n_1 - n_k)))
    return smooth_tail + (smooth_head - smooth_tail) * np.power((n - n_k) / (n_1 - n_k), power)


def np_las_official(x, target, smooth):
    """``LabelAwareSmoothing.forward`` per example: ``(1 - eps) nll + eps * mean_j(-log p_j)``."""
    logprobs = np_log_softmax(x)
    eps = smooth[target]
    return (1.0 - eps) * -logprobs[np.arange(len(target)), target] + eps * -logprobs.mean(axis=-1)


def np_las_paper(x, target, smooth):
    """The paper's equation: CE against ``q = 1 - eps_y`` on the true class and ``eps_y / (C - 1)`` elsewhere."""
    logprobs = np_log_softmax(x)
    eps = smooth[target][:, None]
    q = np.broadcast_to(eps / (x.shape[1] - 1), x.shape).copy()
    q[np.arange(len(target)), target] = 1.0 - eps[:, 0]
    return -(q * logprobs).sum(axis=-1)


def np_ib(input, target, features, cls_num_list, alpha=1000.0):
    """pseulki/IB-Loss ``IBLoss(weight=per_cls_weights, alpha).forward`` per example (before ``.mean()``),
    with ``features = sum(|h|, 1)`` of the model and the ``IBReweight`` weights of cifar_train.py."""
    per_cls_weights = 1.0 / np.asarray(cls_num_list, np.float64)
    per_cls_weights = per_cls_weights / np.sum(per_cls_weights) * len(cls_num_list)
    probs = np.exp(np_log_softmax(input))
    grads = np.abs(probs - np.eye(input.shape[1])[target]).sum(axis=1)
    ib = alpha / (grads * np.abs(np.asarray(features, np.float64)).sum(axis=1) + 0.001)
    return per_cls_weights[target] * np_ce(input, target) * ib


def np_lade(y_pred, target, img_num_per_cls, remine_lambda=0.1):
    """hyperconnect/LADE loss/LADELoss.py ``LADELoss.forward``, prior from the class sizes."""
    y_pred = np.asarray(y_pred, np.float64)
    num_classes = y_pred.shape[1]
    img_num_per_cls = np.asarray(img_num_per_cls, np.float64)
    prior = img_num_per_cls / img_num_per_cls.sum()
    members = target == np.arange(num_classes)[:, None]  # C x N
    per_cls_pred_spread = y_pred.T * members
    pred_spread = (y_pred - np.log(prior + 1e-9) + np.log(1.0 / num_classes + 1e-9)).T
    num_samples_per_cls = members.sum(-1).astype(np.float64)
    first_term = per_cls_pred_spread.sum(-1) / (num_samples_per_cls + 1e-8)
    second_term = np_logsumexp(pred_spread, -1) - np.log(y_pred.shape[0])
    estim_loss = first_term - second_term - remine_lambda * second_term**2
    return -np.sum(estim_loss * prior)


def np_prior_ce(x, y, img_num_per_cls):
    """LADE's ``PriorCELoss.forward``: mean CE of ``x + log(prior + 1e-9)``."""
    counts = np.asarray(img_num_per_cls, np.float64)
    return np_ce(np.asarray(x, np.float64) + np.log(counts / counts.sum() + 1e-9), y).mean()


def np_gcl(cosine, target, cls_num_list, noise, m=0.0, s=30.0, noise_mul=0.5, gamma=0.0):
    """Keke921/GCLLoss losses.py ``GCLLoss.forward`` per example, with the drawn ``noise`` given."""
    m_list = np.log(np.asarray(cls_num_list, np.float64))
    m_list = m_list.max() - m_list
    widest = m_list.max() if m_list.max() > 0 else 1.0  # equal class sizes: 0/0 officially; documented: no cloud
    cosine = np.asarray(cosine, np.float64) - noise_mul * np.abs(noise) / widest * m_list
    index = np.eye(cosine.shape[1], dtype=bool)[target]
    ce = np_ce(s * np.where(index, cosine - m, cosine), target)
    return (1.0 - np.exp(-ce)) ** gamma * ce


def np_remix(lam, n_a, n_b, kappa, tau):
    """Chou et al.'s rule as the issue states it, with the division."""
    with np.errstate(divide="ignore"):
        ratio = np.asarray(n_a, np.float64) / np.asarray(n_b, np.float64)
    return np.where((ratio >= kappa) & (lam < tau), 0.0, np.where((ratio <= 1.0 / kappa) & (1.0 - lam < tau), 1.0, lam))


# --- VS ---------------------------------------------------------------------------------------------

@EXAMPLES
@given(seed=st.integers(0, 2**16), gamma=st.floats(0.0, 1.0), tau=st.floats(0.0, 2.0))
def test_vs_loss_is_the_official_vs_loss(seed, gamma, tau):
    logits, labels = random_problem(seed)
    counts = random_counts(seed)
    got = losses.vs_loss(logits, labels, class_counts=counts, gamma=gamma, tau=tau)
    np.testing.assert_allclose(got, np_vs(logits, labels, nonempty(counts), gamma, tau), rtol=RTOL, atol=ATOL)


def test_vs_loss_is_logit_adjustment_at_gamma_zero_and_ce_at_both_zero():
    logits, labels = random_problem(1)
    la = losses.logit_adjusted_loss(logits, labels, log_prior=losses.log_class_prior(COUNTS), tau=1.5)
    np.testing.assert_allclose(losses.vs_loss(logits, labels, class_counts=COUNTS, gamma=0.0, tau=1.5), la, rtol=RTOL)
    np.testing.assert_allclose(losses.vs_loss(logits, labels, class_counts=COUNTS, gamma=0.0, tau=0.0),
                               np_ce(logits, labels), rtol=RTOL, atol=ATOL)


# --- tau-normalisation and MaxNorm ------------------------------------------------------------------

@EXAMPLES
@given(seed=st.integers(0, 2**16), tau=st.floats(0.0, 2.0), fraction=st.floats(0.0, 1.0))
def test_tau_normalize_and_maxnorm_are_the_official_ones(seed, tau, fraction):
    kernel = np.random.default_rng(seed).standard_normal((6, CLASSES)).astype(np.float32)
    np.testing.assert_allclose(losses.tau_normalize(kernel, tau), np_tau_norm(kernel, tau), rtol=RTOL, atol=ATOL)
    threshold = losses.maxnorm_threshold(kernel, fraction)
    np.testing.assert_allclose(threshold, np_maxnorm_threshold(kernel, fraction), rtol=RTOL)
    projected = losses.maxnorm(kernel, threshold)
    np.testing.assert_allclose(projected, np_maxnorm(kernel, float(threshold)), rtol=RTOL, atol=ATOL)
    assert np.all(losses.class_norms(projected) <= threshold * (1 + 1e-6))


def test_tau_one_gives_unit_columns_and_a_zero_column_stays_zero():
    kernel = np.random.default_rng(0).standard_normal((5, CLASSES)).astype(np.float32)
    kernel[:, 2] = 0.0
    for normalised in (losses.tau_normalize(kernel, 1.0), losses.maxnorm(kernel, 0.5)):
        assert np.all(np.isfinite(normalised)) and np.all(normalised[:, 2] == 0.0)
    np.testing.assert_allclose(losses.class_norms(losses.tau_normalize(kernel, 1.0)), [1, 1, 0, 1], rtol=RTOL)
    np.testing.assert_array_equal(losses.tau_normalize(kernel, 0.0), kernel)


# --- Label-aware smoothing ----------------------------------------------------------------------------

@EXAMPLES
@given(seed=st.integers(0, 2**16), eps_head=st.floats(0.0, 0.5), eps_tail=st.floats(0.0, 0.2),
       power=st.floats(0.25, 3.0), shape=st.sampled_from(["power", "concave"]))
def test_label_aware_smoothing_is_the_paper_equation_and_the_official_forward(seed, eps_head, eps_tail, power, shape):
    logits, labels = random_problem(seed)
    counts = random_counts(seed)
    balanced = np.ptp(nonempty(counts)) == 0  # 0/0 in the official code; documented: every class is the head
    smooth = (np.full(CLASSES, eps_head) if balanced
              else np_las_smooth(nonempty(counts), eps_head, eps_tail, shape, power))
    kwargs = {"class_counts": counts, "eps_head": eps_head, "eps_tail": eps_tail, "power": power, "shape": shape}
    np.testing.assert_allclose(losses.label_aware_epsilons(counts, eps_head=eps_head, eps_tail=eps_tail, power=power,
                                                           shape=shape), smooth, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(losses.label_aware_smoothing(logits, labels, **kwargs),
                               np_las_paper(logits, labels, smooth), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(losses.label_aware_smoothing(logits, labels, spread="all", **kwargs),
                               np_las_official(logits, labels, smooth), rtol=RTOL, atol=ATOL)


def test_label_aware_smoothing_head_and_tail_factors_and_balanced_counts():
    eps = losses.label_aware_epsilons(np.array([100, 10, 67, 1]), eps_head=0.3, eps_tail=0.1)
    np.testing.assert_allclose(eps, [0.3, 0.1 + 0.2 * 9 / 99, 0.1 + 0.2 * 66 / 99, 0.1], rtol=RTOL)
    np.testing.assert_allclose(losses.label_aware_epsilons(np.full(CLASSES, 7), eps_head=0.3, shape="concave"), 0.3)
    logits, labels = random_problem(2)
    plain = losses.label_aware_smoothing(logits, labels, class_counts=COUNTS, eps_head=0.0, eps_tail=0.0)
    np.testing.assert_allclose(plain, np_ce(logits, labels), rtol=RTOL, atol=ATOL)


# --- IB ---------------------------------------------------------------------------------------------

@EXAMPLES
@given(seed=st.integers(0, 2**16), alpha=st.floats(1.0, 1e4))
def test_ib_loss_is_the_official_ib_loss(seed, alpha):
    logits, labels = random_problem(seed)
    features = np.maximum(np.random.default_rng(seed + 1).standard_normal((BATCH, 7)), 0.0).astype(np.float32)
    counts = random_counts(seed)
    got = np.asarray(losses.ib_loss(logits, labels, features=features, class_counts=counts, alpha=alpha), np.float64)
    want = np_ib(logits, labels, features, nonempty(counts), alpha)
    # float32 CE = logsumexp(z) - z_y has an absolute error of order 1e-7 |z|, which the IB factor
    # w alpha / (influence + epsilon) (up to 1e3 alpha w for a confident example) multiplies
    ce_error = 1e-6 * (1.0 + np.abs(logits).max()) * want / np_ce(logits, labels)
    np.testing.assert_array_less(np.abs(got - want), 1e-4 * np.abs(want) + ce_error + 1e-7)


# --- LADE -------------------------------------------------------------------------------------------

@EXAMPLES
@given(seed=st.integers(0, 2**16), remine_lambda=st.floats(0.0, 1.0), weight=st.floats(0.0, 1.0),
       present=st.integers(1, CLASSES))
def test_lade_is_the_official_prior_ce_plus_lader(seed, remine_lambda, weight, present):
    # labels from the first `present` classes only: the others are absent from the batch
    logits, labels = random_problem(seed, classes=CLASSES)
    labels = labels % present
    counts = nonempty(random_counts(seed))
    regularizer = losses.lade_regularizer(logits, labels, class_counts=counts, remine_lambda=remine_lambda)
    np.testing.assert_allclose(regularizer, np_lade(logits, labels, counts, remine_lambda), rtol=1e-4, atol=1e-4)
    total = losses.lade_loss(logits, labels, class_counts=counts, weight=weight, remine_lambda=remine_lambda)
    want = np_prior_ce(logits, labels, counts) + weight * np_lade(logits, labels, counts, remine_lambda)
    np.testing.assert_allclose(total, want, rtol=1e-4, atol=1e-4)


def test_lade_counts_an_empty_class_as_one_example():
    logits, labels = random_problem(3)
    labels = labels % 3  # the empty class 3 is never a label
    got = losses.lade_loss(logits, labels, class_counts=COUNTS)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, np_prior_ce(logits, labels, nonempty(COUNTS)) +
                               0.1 * np_lade(logits, labels, nonempty(COUNTS)), rtol=1e-4)


# --- GCL --------------------------------------------------------------------------------------------

def gcl_noise(key, shape):
    """The documented draw of :func:`imbjax.losses.gcl_loss`: ``|clip(normal(key, shape) / 3, -1, 1)|``."""
    return np.abs(np.clip(np.asarray(jax.random.normal(key, shape), np.float64) / 3.0, -1.0, 1.0))


@EXAMPLES
@given(seed=st.integers(0, 2**16), noise_mul=st.floats(0.0, 1.0), margin=st.floats(0.0, 0.5),
       scale=st.floats(1.0, 30.0), gamma=st.sampled_from([0.0, 1.0, 2.0]))
def test_gcl_loss_is_the_official_gcl_loss(seed, noise_mul, margin, scale, gamma):
    logits, labels = random_problem(seed)
    cosines = np.tanh(logits)
    counts = random_counts(seed)
    key = jax.random.PRNGKey(seed)
    got = losses.gcl_loss(cosines, labels, class_counts=counts, key=key, noise_mul=noise_mul, margin=margin,
                          scale=scale, gamma=gamma)
    want = np_gcl(cosines, labels, nonempty(counts), gcl_noise(key, cosines.shape), m=margin, s=scale,
                  noise_mul=noise_mul, gamma=gamma)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_gcl_cloud_is_a_half_normal_of_scale_one_third_on_the_smallest_class():
    """Two classes, the tail one with cloud size 1: zero cosines and label 0 give
    ``CE = log(1 + exp(-s noise_mul |delta|))``, which recovers ``|delta|`` per example."""
    n, scale, noise_mul = 4000, 1.0, 1.0
    ce = jax.jit(functools.partial(losses.gcl_loss, noise_mul=noise_mul, scale=scale))(
        jnp.zeros((n, 2)), jnp.zeros(n, jnp.int32), class_counts=jnp.array([100.0, 10.0]), key=jax.random.PRNGKey(7))
    delta = -np.log(np.expm1(np.asarray(ce, np.float64))) / (scale * noise_mul)
    assert scipy.stats.kstest(delta, scipy.stats.halfnorm(scale=1 / 3).cdf).pvalue > 1e-3
    np.testing.assert_allclose(losses.gaussian_cloud_sizes(np.array([100, 10, 1, 0])), [0, 0.5, 1, 1], rtol=RTOL)
    np.testing.assert_array_equal(losses.gaussian_cloud_sizes(np.full(3, 5)), 0.0)


# --- Extremes, gradients, vmap ------------------------------------------------------------------------

FEATURES = np.abs(np.random.default_rng(5).standard_normal((8, 3))).astype(np.float32)
SCALAR_LOSSES = {
    "vs": lambda z, y: jnp.mean(losses.vs_loss(z, y, class_counts=COUNTS, gamma=0.3, tau=1.0)),
    "las": lambda z, y: jnp.mean(losses.label_aware_smoothing(z, y, class_counts=COUNTS, eps_head=0.3, eps_tail=0.1)),
    "las concave all": lambda z, y: jnp.mean(losses.label_aware_smoothing(
        z, y, class_counts=COUNTS, shape="concave", spread="all")),
    "ib": lambda z, y: jnp.mean(losses.ib_loss(z, y, features=FEATURES[: len(y)], class_counts=COUNTS)),
    "lade": lambda z, y: losses.lade_loss(z, y, class_counts=COUNTS),
    "gcl": lambda z, y: jnp.mean(losses.gcl_loss(z, y, class_counts=COUNTS, key=jax.random.PRNGKey(0), margin=0.1)),
    "gcl focal": lambda z, y: jnp.mean(losses.gcl_loss(z, y, class_counts=COUNTS, key=jax.random.PRNGKey(0),
                                                       gamma=1.0)),
    "mixed ce": lambda z, y: jnp.mean(sampling.mixed_cross_entropy(z, y, (y + 1) % CLASSES, 0.3)),
}


NAMES = sorted(SCALAR_LOSSES)
#: GCL's focal factor is held constant in the gradient, so finite differences do not apply to it.
DIFFERENTIABLE = [name for name in NAMES if name != "gcl focal"]


def stacked(names):
    """One function of every named loss (one compile for all): ``(z, y) -> float[len(names)]``."""
    return lambda z, y: jnp.stack([SCALAR_LOSSES[name](z, y) for name in names])


def test_values_and_gradients_are_finite_for_extreme_logits_and_an_empty_class():
    # confidently right and wrong at +-1e4 for every class, the singleton and the empty one included
    logits = np.full((8, CLASSES), -1e4, np.float32)
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3], np.int32)
    logits[np.arange(4), labels[:4]] = 1e4
    logits[np.arange(4, 8), (labels[4:] + 1) % CLASSES] = 1e4
    values_and_grads = jax.jit(lambda z, y: (stacked(NAMES)(z, y), jax.jacrev(stacked(NAMES))(z, y)))
    absent = labels % 3  # the empty class 3 is absent from the batch
    for z, y in [(logits, labels), (logits, absent), (np.zeros_like(logits), labels)]:
        values, grads = values_and_grads(jnp.asarray(z), jnp.asarray(y))
        for name, value, grad in zip(NAMES, values, grads):
            assert np.isfinite(value), (name, value)
            assert np.all(np.isfinite(grad)), (name, grad)


def test_gradients_match_central_differences_in_float64():
    logits, labels = random_problem(17, batch=6, scale=1.0)
    z, eps = np.asarray(logits, np.float64), 1e-5
    with jax.enable_x64(True):
        loss = jax.jit(lambda z: stacked(DIFFERENTIABLE)(z, jnp.asarray(labels)))
        analytic = np.asarray(jax.jit(jax.jacrev(loss))(jnp.asarray(z)))  # [losses, batch, classes]
        numeric = np.zeros_like(analytic)
        for index in np.ndindex(z.shape):
            step = np.zeros_like(z)
            step[index] = eps
            numeric[(slice(None), *index)] = (np.asarray(loss(z + step)) - np.asarray(loss(z - step))) / (2 * eps)
    for name, got, want in zip(DIFFERENTIABLE, analytic, numeric):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=name)


def test_vmap_over_traced_hyperparameters_equals_a_loop():
    logits, labels = random_problem(18)
    features = np.abs(logits) + 0.5
    grid = {"a": jnp.array([0.0, 0.3, 1.0]), "b": jnp.array([0.0, 0.5, 2.0])}

    def all_losses(h):
        return jnp.stack([
            losses.vs_loss(logits, labels, class_counts=COUNTS, gamma=h["a"], tau=h["b"]),
            losses.label_aware_smoothing(logits, labels, class_counts=COUNTS, eps_head=h["a"], power=h["b"]),
            losses.ib_loss(logits, labels, features=features, class_counts=COUNTS, alpha=h["b"] + 1.0),
            jnp.broadcast_to(losses.lade_loss(logits, labels, class_counts=COUNTS, weight=h["a"],
                                              remine_lambda=h["b"]), (BATCH,)),
            losses.gcl_loss(logits, labels, class_counts=COUNTS, key=jax.random.PRNGKey(1), noise_mul=h["a"],
                            margin=h["a"], scale=h["b"] + 1.0, gamma=h["b"]),
            losses.tau_normalize(logits, h["a"])[:, 0],
            losses.maxnorm(logits, h["b"])[:, 0],
            sampling.remix_label_weight(jnp.linspace(0, 1, BATCH), COUNTS[labels], COUNTS[::-1][labels],
                                        kappa=h["b"] + 1.0, tau=h["a"]),
        ])

    vmapped = jax.jit(jax.vmap(all_losses))(grid)
    for i in range(3):
        np.testing.assert_allclose(vmapped[i], all_losses({k: float(v[i]) for k, v in grid.items()}), rtol=RTOL,
                                   atol=ATOL)


@pytest.mark.parametrize("call, message", [
    (lambda: losses.vs_loss(*random_problem(0), class_counts=COUNTS, gamma=-0.1), "gamma must lie in"),
    (lambda: losses.tau_normalize(np.ones((2, 2)), -1.0), "tau must lie in"),
    (lambda: losses.maxnorm(np.ones((2, 2)), -1.0), "threshold must lie in"),
    (lambda: losses.maxnorm_threshold(np.ones((2, 2)), 1.5), "fraction must lie in"),
    (lambda: losses.label_aware_smoothing(*random_problem(0), class_counts=COUNTS, shape="convex"),
     r"unknown shape 'convex'; choose one of \['power', 'concave'\]"),
    (lambda: losses.label_aware_smoothing(*random_problem(0), class_counts=COUNTS, spread="true"),
     r"unknown spread 'true'; choose one of \['others', 'all'\]"),
    (lambda: losses.label_aware_smoothing(*random_problem(0), class_counts=COUNTS, eps_head=1.5), "eps_head"),
    (lambda: losses.ib_loss(*random_problem(0), features=np.ones((BATCH, 2)), class_counts=COUNTS, alpha=0.0),
     "alpha must lie in"),
    (lambda: losses.lade_loss(*random_problem(0), class_counts=COUNTS, remine_lambda=-1.0), "remine_lambda"),
    (lambda: losses.gcl_loss(*random_problem(0), class_counts=COUNTS, key=jax.random.PRNGKey(0), scale=0.0),
     "scale must lie in"),
    (lambda: sampling.remix_label_weight(0.5, 3.0, 1.0, kappa=0.5), "kappa must lie in"),
    (lambda: sampling.mixing_weights(jax.random.PRNGKey(0), 4, -1.0), "alpha must lie in"),
])
def test_bad_hyperparameters_raise_one_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- Mixing kernels -----------------------------------------------------------------------------------

def test_mixing_weights_are_beta_alpha_alpha_and_one_at_alpha_zero():
    draw = jax.jit(sampling.mixing_weights, static_argnums=1)  # alpha traced: one compile for every alpha
    for seed, alpha in enumerate([0.2, 1.0, 4.0]):
        draws = np.asarray(draw(jax.random.PRNGKey(seed), 4000, alpha), np.float64)
        assert draws.shape == (4000,)
        assert scipy.stats.kstest(draws, scipy.stats.beta(alpha, alpha).cdf).pvalue > 1e-3, alpha
    np.testing.assert_array_equal(draw(jax.random.PRNGKey(0), 4000, 0.0), 1.0)


def test_mixing_partners_are_a_permutation():
    partners = np.asarray(sampling.mixing_partners(jax.random.PRNGKey(0), 64))
    assert partners.dtype == np.int32 and sorted(partners) == list(range(64))


@EXAMPLES
@given(seed=st.integers(0, 2**16))
def test_mix_inputs_and_mixed_cross_entropy_are_mixup(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, 3, 2)).astype(np.float32)
    lam = rng.random(BATCH).astype(np.float32)
    partners = rng.permutation(BATCH).astype(np.int32)
    want = lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partners]
    np.testing.assert_allclose(sampling.mix_inputs(x, partners, lam), want, rtol=RTOL, atol=ATOL)
    logits, labels = random_problem(seed)
    got = sampling.mixed_cross_entropy(logits, labels, labels[partners], lam)
    np.testing.assert_allclose(got, lam * np_ce(logits, labels) + (1 - lam) * np_ce(logits, labels[partners]),
                               rtol=RTOL, atol=ATOL)


@EXAMPLES
@given(lam=st.lists(st.floats(0.0, 1.0), min_size=8, max_size=8),
       counts=st.lists(st.tuples(st.integers(0, 50), st.integers(1, 50)), min_size=8, max_size=8),
       kappa=st.sampled_from([1.0, 1.5, 2.0, 3.0, 5.0]), tau=st.floats(0.0, 1.0), swap=st.booleans())
def test_remix_label_weight_is_chou_et_al(lam, counts, kappa, tau, swap):
    # one of the two counts may be 0 (the ratio is then 0 or infinite)
    lam = np.asarray(lam, np.float32)
    n_a, n_b = np.asarray(counts, np.float64).T
    if swap:
        n_a, n_b = n_b, n_a
    got = sampling.remix_label_weight(lam, n_a, n_b, kappa=kappa, tau=tau)
    np.testing.assert_allclose(got, np_remix(lam, n_a, n_b, np.float32(kappa), np.float32(tau)), rtol=0, atol=0)


def test_remix_examples_and_two_empty_classes():
    lam = np.array([0.2, 0.8, 0.2, 0.8, 0.4])
    got = sampling.remix_label_weight(lam, np.array([30, 30, 1, 1, 10]), np.array([10, 10, 3, 3, 10]))
    np.testing.assert_allclose(got, [0.0, 0.8, 0.2, 1.0, 0.4], rtol=RTOL)  # majority a: label b's; minority a: a's
    assert float(sampling.remix_label_weight(0.3, 0.0, 0.0)) == 0.0  # both conditions hold: the first wins


# --- The registered methods ---------------------------------------------------------------------------

def context(hparams, step=0, num_steps=100, features=None, counts=COUNTS):
    return Context(jnp.asarray(counts, jnp.float32), {k: jnp.float32(v) for k, v in hparams.items()},
                           jnp.int32(step), num_steps, features, (), jax.random.PRNGKey(step))


def test_method_losses_are_the_kernels_batch_means_at_the_paper_defaults():
    logits, labels = random_problem(21)
    features = np.abs(random_problem(22, classes=5)[0])
    defaults = {name: dict(methods.get(name).hparams) for name in ("vs", "ib", "lade", "gcl")}
    assert defaults == {"vs": {"gamma": 0.2, "tau": 1.0}, "ib": {"ib_alpha": 1000.0, "ib_start": 0.5, "ib_lr_factor": 0.01},
                        "lade": {"lade_weight": 0.1, "remine_lambda": 0.1}, "gcl": {"noise_mul": 0.5, "scale": 30.0}}
    assert methods.get("gcl").model_kwargs == {"head": "cosine"}
    np.testing.assert_allclose(loss_methods.vs_mean(logits, labels, context(defaults["vs"])),
                               np_vs(logits, labels, nonempty(COUNTS), 0.2, 1.0).mean(), rtol=RTOL)
    np.testing.assert_allclose(loss_methods.ib_mean(logits, labels, context(defaults["ib"], 50, features=features)),
                               np_ib(logits, labels, features, nonempty(COUNTS)).mean(), rtol=1e-4)
    np.testing.assert_allclose(loss_methods.lade_batch_loss(logits, labels, context(defaults["lade"])),
                               np_prior_ce(logits, labels, nonempty(COUNTS)) +
                               0.1 * np_lade(logits, labels, nonempty(COUNTS)), rtol=1e-4)
    cosines, step = np.tanh(logits), 13
    noise = gcl_noise(stream_key(jax.random.PRNGKey(step), "gcl_noise"), cosines.shape)
    np.testing.assert_allclose(loss_methods.gcl_mean(cosines, labels, context(defaults["gcl"], step)),
                               np_gcl(cosines, labels, nonempty(COUNTS), noise).mean(), rtol=1e-4)


@pytest.mark.parametrize("ib_start, num_steps", [(0.5, 8), (0.25, 12), (0.75, 20), (0.0, 4)])
def test_ib_switches_from_ce_to_the_ib_loss_at_its_start_step(ib_start, num_steps):
    """Inside a compiled scan over the steps (a traced step), the loss is plain CE up to step
    ``ib_start * num_steps`` (epoch 100 of 200 for 0.5) and the IB loss from it on."""
    logits, labels = random_problem(23)
    features = np.abs(random_problem(24)[0])
    hparams = {"ib_alpha": 1000.0, "ib_start": ib_start}

    def loss_at(step):
        ctx = Context(jnp.asarray(COUNTS, jnp.float32), {k: jnp.float32(v) for k, v in hparams.items()},
                              step, num_steps, jnp.asarray(features))
        return loss_methods.ib_mean(jnp.asarray(logits), jnp.asarray(labels), ctx)

    per_step = np.asarray(jax.jit(lambda: jax.lax.map(loss_at, jnp.arange(num_steps, dtype=jnp.int32)))())
    start = int(ib_start * num_steps)
    np.testing.assert_allclose(per_step[:start], np_ce(logits, labels).mean(), rtol=RTOL)
    np.testing.assert_allclose(per_step[start:], np_ib(logits, labels, features, nonempty(COUNTS)).mean(), rtol=1e-4)


@pytest.mark.parametrize("ib_start, num_steps, factor", [(0.5, 8, 0.01), (0.25, 12, 0.3), (0.0, 4, 2.0)])
def test_ib_learning_rate_factor_is_one_before_its_start_and_ib_lr_factor_from_it_on(ib_start, num_steps, factor):
    """The official script's rate in the IB phase (0.01 x the schedule's), at a traced step."""
    hparams = {"ib_alpha": 1000.0, "ib_start": ib_start, "ib_lr_factor": factor}
    per_step = np.asarray(jax.jit(lambda: jax.lax.map(
        lambda step: loss_methods.ib_learning_rate(context(hparams, step, num_steps)),
        jnp.arange(num_steps, dtype=jnp.int32)))())
    start = int(ib_start * num_steps)
    np.testing.assert_array_equal(per_step[:start], 1.0)
    np.testing.assert_allclose(per_step[start:], factor, rtol=1e-7)
    assert methods.get("ib").learning_rate_factor is loss_methods.ib_learning_rate


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_ib_phase_at_a_factor_is_ib_at_that_factor_times_the_learning_rate(optimizer):
    """IB from the first step (``ib_start = 0``) with ``ib_lr_factor = f`` at learning rate ``lr`` trains the
    parameters that ``ib_lr_factor = 1`` trains at ``f x lr``: the factor scales the optimizer's update as a
    learning rate does (SGD with momentum, Adam); the baseline in the same program is not scaled."""
    from imbjax.config import base_config, program_spec
    from imbjax.data import load
    from imbjax.engine.program import DeviceData

    config = base_config()
    config.methods = ("baseline", "ib")
    config.optimizer = optimizer
    config.model_kwargs.hidden = (16,)
    config.batch_size = 32
    config.num_steps = 6
    dataset = load("digits")
    data = DeviceData.from_dataset(dataset)
    spec = program_spec(config, dataset, profile="step", method_names=("baseline", "ib"))
    program = methods.make_program(spec)
    lr, factor = 0.05, 0.1

    def params_after(method_index, learning_rate, ib_lr_factor):
        hparams = {**{k: jnp.float32(v) for k, v in spec.hparam_defaults().items()}, "rho": jnp.float32(10.0),
                   "mu": jnp.float32(0.5), "learning_rate": jnp.float32(learning_rate),
                   "weight_decay": jnp.float32(0.0), "method_index": jnp.int32(method_index),
                   "data_seed": jnp.int32(0), "ib_start": jnp.float32(0.0), "ib_lr_factor": jnp.float32(ib_lr_factor)}
        state = program.init(data, jax.random.PRNGKey(0), hparams)
        return jax.tree.leaves(jax.jit(program.advance, static_argnums=3)(data, state, hparams, 6).params)

    for got, want in zip(params_after(1, lr, factor), params_after(1, factor * lr, 1.0)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not all(np.allclose(got, want, rtol=1e-3) for got, want in zip(params_after(1, lr, factor),
                                                                           params_after(1, lr, 1.0)))
    for got, want in zip(params_after(0, lr, factor), params_after(0, lr, 1.0)):  # the baseline: no factor
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_new_methods_train_in_a_vmapped_sweep_next_to_the_baseline():
    """VS, IB (at two starts) and LADE share the baseline's one compiled standard program; GCL's cosine
    head gives it a program of its own. Every run trains (vmapped init and 30 steps) without diverging;
    IB that never starts (``ib_start = 1``) trains exactly like the baseline, IB from half-way does not."""
    from imbjax.config import base_config, program_spec
    from imbjax.data import load
    from imbjax.engine.blocks import has_diverged
    from imbjax.engine.program import DeviceData
    from imbjax.sweep import grid

    config = base_config()
    config.datasets = ("digits",)
    config.rhos = (10.0,)
    config.mus = (0.5,)
    config.seeds = 2
    config.methods = ("baseline", "vs", "ib", "lade", "gcl")
    config.hparams = {"ib": {"ib_start": (0.5, 1.0)}}
    config.model_kwargs.hidden = (16,)
    config.batch_size = 32
    config.num_steps = 30
    dataset = load("digits")
    data = DeviceData.from_dataset(dataset)
    groups = grid.expand(config)
    assert sorted(group.methods for group in groups) == [("baseline", "vs", "ib", "lade"), ("gcl",)]
    assert {group.family for group in groups} == {"standard"}
    states = {}
    for group in groups:
        spec = program_spec(config, dataset, profile=group.profile, method_names=group.methods,
                                  model=group.model)
        program = methods.make_program(spec)

        def trained(key, hparams, program=program, spec=spec):
            return program.advance(data, program.init(data, key, hparams), hparams, spec.num_steps)

        keys = jnp.stack([jax.random.PRNGKey(run.seed) for run in group.runs])
        hparams = {k: jnp.asarray(v) for k, v in grid.stack_hparams(group.runs, spec.hparam_defaults()).items()}
        stacked = jax.jit(jax.vmap(trained))(keys, hparams)
        assert not np.any(jax.vmap(has_diverged)(stacked)), group.methods
        assert np.all(np.asarray(stacked.step) == config.num_steps)
        for i, run in enumerate(group.runs):
            states[run.columns["method"], run.columns.get("hp_ib_start"), run.seed] = jax.tree.map(
                lambda leaf, i=i: np.asarray(leaf[i]), stacked)
    assert len(states) == 2 * 6
    for seed in (0, 1):
        baseline = jax.tree.leaves(states["baseline", None, seed].params)
        never = jax.tree.leaves(states["ib", 1.0, seed].params)
        halfway = jax.tree.leaves(states["ib", 0.5, seed].params)
        for got, want in zip(never, baseline):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert not all(np.allclose(got, want, rtol=1e-3) for got, want in zip(halfway, baseline))
