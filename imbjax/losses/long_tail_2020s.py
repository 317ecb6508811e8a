"""Long-tail losses and classifier kernels of the 2020s.

* VS loss (Kini et al. 2021): CE of ``Delta * z + iota`` (multiplicative and additive logit adjustment);
* tau-normalisation (Kang et al. 2020) and MaxNorm (Alshammari et al. 2022) of a Dense kernel's class
  columns;
* label-aware smoothing (Zhong et al. 2021, MiSLAS);
* IB loss (Park et al. 2021), the influence-balanced loss of the balancing phase;
* LADE (Hong et al. 2021): the LADE-CE loss plus its LADER regulariser;
* GCL (Li et al. 2022): CE of Gaussian-clouded cosine logits.

Each kernel is its loss as the paper's official code computes it (the code is named in each docstring;
where issue 18's formula differs, both forms are given) and returns ``float[batch]``, except LADE's
batch terms, which are scalars. ``class_counts: [classes]`` are the training-subset sizes (may be
traced). As in :mod:`imbjax.losses.long_tail`, **an empty class is treated as a class with one example**
(``n_j -> max(n_j, 1)``) wherever a count enters a logarithm, a ratio or a minimum, so no value is
infinite; an empty class never occurs as a label.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from imbjax.losses._checks import check_in_range
from imbjax.losses.classification import cross_entropy
from imbjax.losses.long_tail import (
    _nonempty_counts,
    log_class_prior,
    logit_adjusted_loss,
)

#: The public kernels, exported by :mod:`imbjax.losses`.
__all__ = [
    "class_norms",
    "gaussian_cloud_sizes",
    "gcl_loss",
    "ib_loss",
    "inverse_frequency_weights",
    "label_aware_epsilons",
    "label_aware_smoothing",
    "lade_loss",
    "lade_regularizer",
    "maxnorm",
    "maxnorm_threshold",
    "tau_normalize",
    "vs_loss",
]

#: Shapes of label-aware smoothing's ``eps_y`` against the class size (:func:`label_aware_epsilons`).
SMOOTHING_SHAPES = ("power", "concave")
#: Where label-aware smoothing puts the mass ``eps_y`` (:func:`label_aware_smoothing`).
SMOOTHING_SPREADS = ("others", "all")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {list(choices)}")


# --- VS loss ---------------------------------------------------------------------------------------

def vs_loss(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array, gamma=0.2, tau=1.0) -> jax.Array:
    """Vector-scaling loss (Kini et al. 2021): ``CE(Delta * z_i + iota, y_i)``.

    ``Delta_j = (n_j / n_max)^gamma`` (multiplicative, CDT) and ``iota_j = tau log(n_j / sum_k n_k)``
    (additive, logit adjustment); the official ``VSLoss`` (orparask/VS-Loss, losses.py) divides by
    ``(1 / n_j)^gamma / min_k (1 / n_k)^gamma``, the same ``Delta``. ``gamma = 0`` is the logit-adjusted
    loss, ``tau = 0`` CDT, both 0 plain CE. Predictions use the raw logits ``z``.

    Args:
      logits: ``[batch, classes]``; labels: ``int[batch]``; class_counts: ``[classes]``.
      gamma: >= 0; tau: scalar (both may be traced).

    Returns:
      ``float[batch]``.
    """
    check_in_range("gamma", gamma, low=0.0, high=math.inf)
    counts = _nonempty_counts(class_counts)
    delta = (counts / jnp.max(counts)) ** gamma
    return cross_entropy(delta * logits + tau * log_class_prior(class_counts), labels)


# --- Classifier kernels: tau-normalisation and MaxNorm ----------------------------------------------

def class_norms(kernel: jax.Array) -> jax.Array:
    """L2 norm of each class column of a Dense kernel ``[features, classes]``: ``float[classes]``."""
    return jnp.linalg.norm(kernel, axis=0)


def tau_normalize(kernel: jax.Array, tau) -> jax.Array:
    """tau-normalised classifier (Kang et al. 2020, decoupling): ``w_j / ||w_j||^tau`` per class column.

    ``kernel: [features, classes]`` (a Flax ``Dense`` kernel; the official ``ws = weights /
    torch.pow(torch.norm(weights, 2, 1, keepdim=True), tau)`` normalises the rows of PyTorch's
    ``[classes, features]`` weight). ``tau = 0`` leaves the kernel unchanged, ``tau = 1`` gives unit
    columns. A zero column stays zero (the official form gives NaN). The bias is not touched.

    Args:
      kernel: ``[features, classes]``; tau: >= 0 (may be traced).

    Returns:
      ``[features, classes]``.
    """
    check_in_range("tau", tau, low=0.0, high=math.inf)
    norms = class_norms(kernel)
    return kernel / jnp.where(norms > 0, norms, 1.0) ** tau


def maxnorm(kernel: jax.Array, threshold) -> jax.Array:
    """MaxNorm projection (Alshammari et al. 2022, weight balancing): each class column ``w_j`` scaled to
    ``w_j * min(1, threshold / ||w_j||)``, the projection onto the ball ``||w_j|| <= threshold`` that
    projected gradient descent applies after every step.

    The official ``MaxNorm_via_PGD`` (ShadeAlsha/LTR-weight-balancing) projects the classifier's
    weight with an absolute threshold fixed when the projection starts: :func:`maxnorm_threshold`
    (its ``tau = 1``; the bias is not projected).

    Args:
      kernel: ``[features, classes]``; threshold: >= 0 (may be traced).

    Returns:
      ``[features, classes]``.
    """
    check_in_range("threshold", threshold, low=0.0, high=math.inf)
    norms = class_norms(kernel)
    return kernel * jnp.minimum(1.0, threshold / jnp.where(norms > 0, norms, 1.0))


def maxnorm_threshold(kernel: jax.Array, fraction) -> jax.Array:
    """The official MaxNorm radius: ``min_j ||w_j|| + fraction (max_j ||w_j|| - min_j ||w_j||)`` of the
    kernel when the projection starts (``MaxNorm_via_PGD.setPerLayerThresh``, its ``thresh``), a
    scalar. ``fraction = 1``: no column is shrunk at first; ``0``: every column to the smallest norm.

    Args:
      kernel: ``[features, classes]``; fraction: in [0, 1] (may be traced).
    """
    check_in_range("fraction", fraction, low=0.0, high=1.0, high_inclusive=True)
    norms = class_norms(kernel)
    return jnp.min(norms) + fraction * (jnp.max(norms) - jnp.min(norms))


# --- Label-aware smoothing (MiSLAS) -----------------------------------------------------------------

def label_aware_epsilons(class_counts: jax.Array, *, eps_head=0.3, eps_tail=0.0, power=1.0,
                         shape: str = "power") -> jax.Array:
    """Label-aware smoothing factor of every class (Zhong et al. 2021), ``float32[classes]``.

    ``eps_j = eps_tail + (eps_head - eps_tail) f(r_j)`` with ``r_j = (n_j - n_min) / (n_max - n_min)``:
    ``shape="power"``, ``f(r) = r^power`` (the official code's ``'exp'``; ``power = 1`` its ``'linear'``)
    or ``shape="concave"``, ``f(r) = sin(pi r / 2)`` (MiSLAS's default). The largest class gets
    ``eps_head``, the smallest ``eps_tail``. When every class has the same size (``n_max = n_min``,
    0/0 in the official code) every class is the head: ``r = 1``.

    Args:
      class_counts: ``[classes]``; eps_head, eps_tail: in [0, 1]; power: >= 0 (all may be traced).
      shape: ``"power"`` or ``"concave"``.
    """
    _check_choice("shape", shape, SMOOTHING_SHAPES)
    check_in_range("eps_head", eps_head, low=0.0, high=1.0, high_inclusive=True)
    check_in_range("eps_tail", eps_tail, low=0.0, high=1.0, high_inclusive=True)
    check_in_range("power", power, low=0.0, high=math.inf)
    counts = _nonempty_counts(class_counts)
    span = jnp.max(counts) - jnp.min(counts)
    position = jnp.where(span > 0, (counts - jnp.min(counts)) / jnp.where(span > 0, span, 1.0), 1.0)
    growth = position ** power if shape == "power" else jnp.sin(0.5 * jnp.pi * position)
    return eps_tail + (eps_head - eps_tail) * growth


def label_aware_smoothing(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array, eps_head=0.3,
                          eps_tail=0.0, power=1.0, shape: str = "power", spread: str = "others") -> jax.Array:
    """Label-aware smoothing loss (Zhong et al. 2021, MiSLAS): CE against a smoothed target.

    ``eps_y`` from :func:`label_aware_epsilons`; ``spread="others"`` (issue 18's formula, the default):
    target ``1 - eps_y`` on the true class and ``eps_y / (C - 1)`` on each other class, so
    ``loss_i = -(1 - eps_y) log p_y - eps_y / (C - 1) sum_{j != y} log p_j``. ``spread="all"`` is the
    official ``LabelAwareSmoothing.forward`` (dvlab-research/MiSLAS, methods.py): ``(1 - eps_y) (-log p_y)
    + eps_y mean_j (-log p_j)``, i.e. ``eps_y / C`` on every class, the true one included (its true class
    gets ``1 - eps_y (C - 1) / C``): the ``"others"`` loss at ``eps_y (C - 1) / C``. The official default
    shape is ``"concave"`` (this function's default, ``"power"`` with ``power = 1``, is its ``'linear'``);
    its CIFAR-10-LT configs set ``eps_head = 0.3, eps_tail = 0.0``, the defaults here. ``eps = 0`` everywhere
    gives plain CE.

    Args:
      logits: ``[batch, classes]`` (``classes >= 2``); labels: ``int[batch]``; class_counts: ``[classes]``.
      eps_head, eps_tail, power, shape: see :func:`label_aware_epsilons`.
      spread: ``"others"`` or ``"all"``.

    Returns:
      ``float[batch]``.
    """
    _check_choice("spread", spread, SMOOTHING_SPREADS)
    num_classes = logits.shape[-1]
    if num_classes < 2:
        raise ValueError(f"label_aware_smoothing needs logits with at least 2 classes, got shape {logits.shape}")
    eps = label_aware_epsilons(class_counts, eps_head=eps_head, eps_tail=eps_tail, power=power, shape=shape)[labels]
    negative_log_probs = -jax.nn.log_softmax(logits, axis=-1)
    true_class = jnp.take_along_axis(negative_log_probs, labels[:, None], axis=-1)[:, 0]
    all_classes = jnp.sum(negative_log_probs, axis=-1)
    if spread == "others":
        return (1.0 - eps) * true_class + eps / (num_classes - 1) * (all_classes - true_class)
    return (1.0 - eps) * true_class + eps / num_classes * all_classes


# --- IB loss --------------------------------------------------------------------------------------

def inverse_frequency_weights(class_counts: jax.Array) -> jax.Array:
    """``w_j = (1 / n_j) / sum_k (1 / n_k) * C``: IB's class weights (the official ``IBReweight``),
    ``float32[classes]``, summing to ``C``; ``n_j = 0`` is treated as 1."""
    inverse = 1.0 / _nonempty_counts(class_counts)
    return inverse * (inverse.shape[0] / jnp.sum(inverse))


def ib_loss(logits: jax.Array, labels: jax.Array, *, features: jax.Array, class_counts: jax.Array, alpha=1000.0,
            epsilon=1e-3) -> jax.Array:
    """Influence-balanced loss (Park et al. 2021) of the balancing phase, per example.

    ``loss_i = w_{y_i} CE_i * alpha / (||softmax(z_i) - e_{y_i}||_1 ||h_i||_1 + epsilon)``: the CE
    divided by the example's influence on the decision boundary, approximated by the norm of the
    gradient of CE with respect to the logits, ``||p - y||_1``, times the L1 norm of the penultimate
    features ``h`` (the input of the output layer), and weighted by :func:`inverse_frequency_weights`;
    ``||p - y||_1 = 2 (1 - p_y)`` is computed as ``-2 expm1(-CE)``, exact where the official sum of
    ``|p_j - y_j|`` rounds ``1 - p_y`` in float32.
    This is the official ``IBLoss`` (pseulki/IB-Loss, losses.py; the model returns
    ``sum(|h|, 1)``), whose batch loss is the plain mean of these values, with its ``epsilon = 0.001``
    and the README's ``IBReweight`` weights. Nothing is detached: gradients also flow through the
    influence factor, as in the official code.

    Args:
      logits: ``[batch, classes]``; labels: ``int[batch]``.
      features: ``[batch, feature_dim]`` the penultimate features ``h``.
      class_counts: ``[classes]``.
      alpha: > 0, the loss scale (official: 1000); epsilon: > 0.

    Returns:
      ``float[batch]``.
    """
    check_in_range("alpha", alpha, low=1e-30, high=math.inf)
    check_in_range("epsilon", epsilon, low=1e-30, high=math.inf)
    ce = cross_entropy(logits, labels)
    logit_gradient_norm = -2.0 * jnp.expm1(-ce)  # ||p - e_y||_1 = 2 (1 - p_y), accurate as p_y -> 1
    influence = logit_gradient_norm * jnp.sum(jnp.abs(features), axis=-1)
    return inverse_frequency_weights(class_counts)[labels] * ce * alpha / (influence + epsilon)


# --- LADE -----------------------------------------------------------------------------------------

def lade_regularizer(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array, remine_lambda=0.1
                     ) -> jax.Array:
    """LADER, the label-distribution regulariser of LADE (Hong et al. 2021), a scalar batch loss.

    For each class ``c``, the Donsker-Varadhan estimate of the log-likelihood ratio regularised as in
    ReMINE: ``T_c = mean_{i: y_i = c} z_ic`` (0 for a class absent from the batch), ``S_c =
    logsumexp_i (z_ic - log pi_c + log(1 / C)) - log N`` over all ``N`` examples of the batch, and
    ``LADER = -sum_c pi_c (T_c - S_c - remine_lambda S_c^2)`` with the training prior ``pi_c = n_c /
    sum_k n_k``. The official ``LADELoss.forward`` (hyperconnect/LADE, loss/LADELoss.py), whose
    ``log(pi + 1e-9)`` and ``log(1 / C + 1e-9)`` are exact logarithms here (an empty class counts as
    one example instead of getting ``log 1e-9``).

    Args:
      logits: ``[batch, classes]``; labels: ``int[batch]``; class_counts: ``[classes]``.
      remine_lambda: >= 0 (official: 0.1; may be traced).

    Returns:
      scalar.
    """
    check_in_range("remine_lambda", remine_lambda, low=0.0, high=math.inf)
    num_examples, num_classes = logits.shape
    log_prior = log_class_prior(class_counts)
    members = jax.nn.one_hot(labels, num_classes, dtype=logits.dtype)
    batch_counts = jnp.sum(members, axis=0)
    mean_true_logit = jnp.sum(members * logits, axis=0) / jnp.maximum(batch_counts, 1.0)
    shifted = logits - log_prior - jnp.log(num_classes)
    log_mean_exp = jax.nn.logsumexp(shifted, axis=0) - jnp.log(num_examples)
    estimate = mean_true_logit - log_mean_exp - remine_lambda * log_mean_exp**2
    return -jnp.sum(jnp.exp(log_prior) * estimate)


def lade_loss(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array, weight=0.1, remine_lambda=0.1
              ) -> jax.Array:
    """LADE (Hong et al. 2021): ``mean_i LADE-CE_i + weight * LADER``, a scalar batch loss.

    LADE-CE is the official ``PriorCELoss``, ``CE(z_i + log pi, y_i)`` (the logit-adjusted loss with
    ``tau = 1``, i.e. balanced softmax), and LADER :func:`lade_regularizer`; the official CIFAR-100-LT
    config weights them 1 and 0.1 with ``remine_lambda = 0.1``. For a uniform test distribution the
    model predicts ``softmax(z)``.

    Args:
      logits: ``[batch, classes]``; labels: ``int[batch]``; class_counts: ``[classes]``.
      weight: >= 0, LADER's weight ``alpha``; remine_lambda: >= 0 (both may be traced).

    Returns:
      scalar.
    """
    check_in_range("weight", weight, low=0.0, high=math.inf)
    prior_ce = logit_adjusted_loss(logits, labels, log_prior=log_class_prior(class_counts), tau=1.0)
    return jnp.mean(prior_ce) + weight * lade_regularizer(logits, labels, class_counts=class_counts,
                                                          remine_lambda=remine_lambda)


# --- GCL ------------------------------------------------------------------------------------------

def gaussian_cloud_sizes(class_counts: jax.Array) -> jax.Array:
    """GCL's relative cloud sizes ``a_j = (log n_max - log n_j) / max_k (log n_max - log n_k)`` in [0, 1]:
    0 for the largest class, 1 for the smallest; all 0 when every class has the same size (0/0 in the
    official code). ``float32[classes]``."""
    log_counts = jnp.log(_nonempty_counts(class_counts))
    gaps = jnp.max(log_counts) - log_counts
    widest = jnp.max(gaps)
    return gaps / jnp.where(widest > 0, widest, 1.0)


def gcl_loss(logits: jax.Array, labels: jax.Array, *, class_counts: jax.Array, key: jax.Array, noise_mul=0.5,
             margin=0.0, scale=30.0, gamma=0.0) -> jax.Array:
    """Gaussian clouded logit loss (Li et al. 2022), per example.

    The cosine logits ``z_ij = cos(h_i, w_j)`` of every class are lowered by a Gaussian cloud whose size
    grows towards the tail, ``z~_ij = z_ij - noise_mul |delta_ij| a_j`` with ``delta_ij ~ N(0, 1/3^2)``
    clipped to [-1, 1] and ``a_j`` :func:`gaussian_cloud_sizes`; the true class also loses a margin
    ``m``; then ``CE_i = CE(s (z~_i - m e_{y_i}), y_i)`` and ``loss_i = (1 - p_i)^gamma CE_i`` with
    ``p_i = exp(-CE_i)`` held constant in the gradient (``gamma = 0``: CE). The official ``GCLLoss``
    (Keke921/GCLLoss, losses.py): stage 1 (backbone) uses ``m = 0, s = 30, noise_mul = 0.5, gamma = 0``,
    stage 2 (classifier re-training) ``m = 0.1, s = 20, noise_mul = 0.5, gamma = 1``. A fresh
    ``delta`` is drawn for every logit: ``|clip(normal(key, logits.shape) / 3, -1, 1)|``.

    Args:
      logits: ``[batch, classes]`` cosines in [-1, 1] (a model's ``head="cosine"``).
      labels: ``int[batch]``; class_counts: ``[classes]``; key: a PRNG key for ``delta``.
      noise_mul: >= 0; margin: >= 0; scale: > 0; gamma: >= 0 (all may be traced).

    Returns:
      ``float[batch]``.
    """
    check_in_range("noise_mul", noise_mul, low=0.0, high=math.inf)
    check_in_range("margin", margin, low=0.0, high=math.inf)
    check_in_range("scale", scale, low=1e-30, high=math.inf)
    check_in_range("gamma", gamma, low=0.0, high=math.inf)
    cloud = jnp.abs(jnp.clip(jax.random.normal(key, logits.shape, logits.dtype) / 3.0, -1.0, 1.0))
    clouded = logits - noise_mul * cloud * gaussian_cloud_sizes(class_counts)
    with_margin = clouded - margin * jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    ce = cross_entropy(scale * with_margin, labels)
    return (1.0 - jax.lax.stop_gradient(jnp.exp(-ce))) ** gamma * ce
