"""Class rectification loss (Dong, Gong & Zhu 2017; survey Eq. 17).

References: loop-by-loop NumPy transcriptions of the paper's batch minority selection, imbalance
measure, class- and instance-level hard mining, triplet ranking term and Eq. 17 (the kernel,
:mod:`imbjax.losses.class_rectification`), on random batches; a trained run of the methods on separable
imbalanced clusters; the registry's hyper-parameter checks.
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
from imbjax.config import base_config, make_train
from imbjax.losses import class_rectification as crl

NUM_CLASSES = 4
BATCH = 12
DIM = 3


# --- NumPy transcriptions -------------------------------------------------------------------------

def minority_numpy(labels, num_classes):
    """Sort classes by batch count (smallest first, ties by index); take them while the running
    total stays within half the batch."""
    counts = np.bincount(labels, minlength=num_classes)
    minority, total = np.zeros(num_classes, bool), 0
    for c in sorted(range(num_classes), key=lambda c: (counts[c], c)):
        total += counts[c]
        if 2 * total > len(labels):
            break
        minority[c] = True
    return minority


def imbalance_numpy(labels, num_classes):
    """Percentage of the batch that must change class for a uniform class distribution."""
    fractions = np.bincount(labels, minlength=num_classes) / len(labels)
    excess = sum(max(f - 1 / num_classes, 0.0) for f in fractions)
    return 100.0 * excess


def softmax_numpy(logits):
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def hard_pairs_numpy(features, logits, labels, minority, k, level):
    """For each minority anchor: the k same-class others with lowest p(y_a | x) (class level) or
    largest distance (instance level), and the k other-class examples with highest p(y_a | x) or
    smallest distance; equal hardness goes to the lower index."""
    batch = len(labels)
    probs = softmax_numpy(logits.astype(np.float64))
    positives, negatives = np.zeros((batch, batch), bool), np.zeros((batch, batch), bool)
    for a in range(batch):
        if not minority[labels[a]]:
            continue
        if level == "class":
            positive_hardness = {j: -probs[j, labels[a]] for j in range(batch)}
            negative_hardness = {j: probs[j, labels[a]] for j in range(batch)}
        else:
            distance = {j: np.linalg.norm(features[a].astype(np.float64) - features[j]) for j in range(batch)}
            positive_hardness = distance
            negative_hardness = {j: -d for j, d in distance.items()}
        same = [j for j in range(batch) if j != a and labels[j] == labels[a]]
        other = [j for j in range(batch) if labels[j] != labels[a]]
        for j in sorted(same, key=lambda j: (-positive_hardness[j], j))[:k]:
            positives[a, j] = True
        for j in sorted(other, key=lambda j: (-negative_hardness[j], j))[:k]:
            negatives[a, j] = True
    return positives, negatives


def triplet_term_numpy(features, positives, negatives, margin):
    features = features.astype(np.float64)
    losses = [max(0.0, margin + np.linalg.norm(features[a] - features[p]) - np.linalg.norm(features[a] - features[n]))
              for a in range(len(features)) for p in np.flatnonzero(positives[a]) for n in np.flatnonzero(negatives[a])]
    return float(np.mean(losses)) if losses else 0.0


def crl_loss_numpy(logits, labels, features, eta, margin, k, level):
    minority = minority_numpy(labels, logits.shape[1])
    positives, negatives = hard_pairs_numpy(features, logits, labels, minority, k, level)
    alpha = min(eta * imbalance_numpy(labels, logits.shape[1]), 1.0)
    ce = -np.mean(np.log(softmax_numpy(logits.astype(np.float64))[np.arange(len(labels)), labels]))
    return alpha * triplet_term_numpy(features, positives, negatives, margin) + (1 - alpha) * ce


# --- Random batches ---------------------------------------------------------------------------------

def random_batch(seed):
    """An imbalanced batch (class probabilities drawn from a Dirichlet), random logits and features on a
    coarse grid (so equal distances and scores, i.e. ties, occur)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(NUM_CLASSES, BATCH, p=rng.dirichlet(np.full(NUM_CLASSES, 0.7))).astype(np.int32)
    logits = rng.normal(size=(BATCH, NUM_CLASSES)).astype(np.float32)
    features = rng.integers(-2, 3, size=(BATCH, DIM)).astype(np.float32)
    return labels, logits, features


minority_jit = jax.jit(crl.batch_minority_classes, static_argnums=1)
imbalance_jit = jax.jit(crl.batch_imbalance_percent, static_argnums=1)
hard_pairs_jit = jax.jit(crl.hard_pairs, static_argnames="level")
crl_loss_jit = jax.jit(crl.crl_loss, static_argnames="level")

seeds = st.integers(0, 2**31 - 1)


@settings(max_examples=40, deadline=None)
@given(seeds)
def test_minority_classes_and_imbalance_match_numpy(seed):
    labels = random_batch(seed)[0]
    np.testing.assert_array_equal(minority_jit(jnp.array(labels), NUM_CLASSES), minority_numpy(labels, NUM_CLASSES))
    np.testing.assert_allclose(imbalance_jit(jnp.array(labels), NUM_CLASSES), imbalance_numpy(labels, NUM_CLASSES),
                               rtol=1e-5, atol=1e-4)


def test_minority_selection_examples():
    """Counts [6, 3, 2, 1] in a batch of 12: classes 3, 2, 1 sum to 6 = half; [4, 4, 4, 0]: class 3
    (absent) and class 0 (first of the tied) fit within 6; six each of classes 0 and 1: the absent
    classes 2 and 3 and class 0."""
    cases = [([0] * 6 + [1] * 3 + [2] * 2 + [3], [False, True, True, True]),
             ([0] * 4 + [1] * 4 + [2] * 4, [True, False, False, True]),
             ([0] * 6 + [1] * 6, [True, False, True, True])]
    for labels, expected in cases:
        np.testing.assert_array_equal(minority_jit(jnp.array(labels), NUM_CLASSES), expected)
    assert float(imbalance_jit(jnp.zeros(8, jnp.int32), NUM_CLASSES)) == pytest.approx(75.0)
    assert float(imbalance_jit(jnp.arange(8) % NUM_CLASSES, NUM_CLASSES)) == pytest.approx(0.0)


@settings(max_examples=30, deadline=None)
@given(seeds, st.sampled_from(crl.LEVELS), st.integers(1, 6))
def test_hard_mining_matches_numpy(seed, level, k):
    labels, logits, features = random_batch(seed)
    minority = minority_numpy(labels, NUM_CLASSES)
    positives, negatives = hard_pairs_jit(jnp.array(features), jnp.array(logits), jnp.array(labels),
                                          jnp.array(minority), jnp.float32(k), level=level)
    expected_positives, expected_negatives = hard_pairs_numpy(features, logits, labels, minority, k, level)
    np.testing.assert_array_equal(positives, expected_positives)
    np.testing.assert_array_equal(negatives, expected_negatives)


def hardest_k_numpy(hardness, candidates, k):
    """Per row: the candidates in order of decreasing hardness (stable: lower index first on ties),
    the first k of them."""
    chosen = np.zeros_like(candidates)
    for row in range(hardness.shape[0]):
        ranked = sorted(np.flatnonzero(candidates[row]), key=lambda j: (-hardness[row, j], j))
        chosen[row, ranked[:int(np.ceil(k))]] = True
    return chosen


@settings(max_examples=40, deadline=None)
@given(seeds, st.sampled_from([0.5, 1.0, 2.0, 3.5, 25.0]), st.sampled_from([1, 16, 64]))
def test_hardest_k_ranks_like_a_stable_sort_with_heavy_ties(seed, k, size):
    rng = np.random.default_rng(seed)
    hardness = rng.integers(-2, 3, (size, size)).astype(np.float32)  # few values: many ties
    candidates = rng.random((size, size)) < 0.6
    chosen = jax.jit(crl.hardest_k)(jnp.array(hardness), jnp.array(candidates), jnp.float32(k))
    np.testing.assert_array_equal(chosen, hardest_k_numpy(hardness, candidates, k))


@settings(max_examples=30, deadline=None)
@given(seeds, st.sampled_from(crl.LEVELS), st.integers(1, 6), st.floats(0.0, 2.0), st.floats(0.0, 0.02))
def test_crl_term_and_total_loss_match_numpy(seed, level, k, margin, eta):
    labels, logits, features = random_batch(seed)
    features = features + np.random.default_rng(seed).normal(scale=0.3, size=features.shape).astype(np.float32)
    minority = minority_numpy(labels, NUM_CLASSES)
    positives, negatives = hard_pairs_numpy(features, logits, labels, minority, k, level)
    term = crl.triplet_ranking_term(jnp.array(features), jnp.array(positives), jnp.array(negatives), margin)
    np.testing.assert_allclose(term, triplet_term_numpy(features, positives, negatives, margin), rtol=1e-4, atol=1e-5)
    total = crl_loss_jit(jnp.array(logits), jnp.array(labels), features=jnp.array(features), eta=jnp.float32(eta),
                         margin=jnp.float32(margin), k=jnp.float32(k), level=level)
    np.testing.assert_allclose(total, crl_loss_numpy(logits, labels, features, eta, margin, k, level),
                               rtol=1e-4, atol=1e-5)


def test_the_crl_term_is_active_and_gradients_are_finite_with_repeated_examples():
    """A batch with a duplicated minority example (coincident features) has a non-zero CRL term and
    finite gradients; a balanced batch has alpha = 0, so the loss is the cross-entropy."""
    labels = jnp.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3], jnp.int32)
    rng = np.random.default_rng(0)
    logits = jnp.array(rng.normal(size=(12, NUM_CLASSES)), jnp.float32)
    features = jnp.array(rng.normal(size=(12, DIM)), jnp.float32).at[7].set(0.0).at[6].set(0.0)
    hparams = {"eta": jnp.float32(0.01), "margin": jnp.float32(1.0), "k": jnp.float32(3)}
    for level in crl.LEVELS:
        grads = jax.jit(jax.grad(lambda f: crl.crl_loss(logits, labels, features=f, level=level, **hparams)))(features)
        assert np.all(np.isfinite(grads)) and float(jnp.abs(grads).sum()) > 0
    balanced = jnp.arange(12) % NUM_CLASSES
    ce = -np.mean(np.log(softmax_numpy(np.asarray(logits, np.float64))[np.arange(12), balanced]))
    np.testing.assert_allclose(crl_loss_jit(logits, balanced, features=features, level="class", **hparams), ce, rtol=1e-5)


def test_unknown_mining_level_raises():
    labels, logits, features = random_batch(0)
    with pytest.raises(ValueError, match="'pair'.*class.*instance"):
        crl.hard_pairs(jnp.array(features), jnp.array(logits), jnp.array(labels), jnp.ones(NUM_CLASSES, bool), 3,
                       "pair")


@pytest.mark.parametrize("hparams, message", [({"eta": -0.1}, "eta"), ({"top_k": 0.0}, "top_k"),
                                              ({"margin": (1.0, -1.0)}, "margin"), ({"gamma": 2.0}, "gamma")])
def test_bad_hparams_raise(hparams, message):
    crl_methods = [name for name in methods.available() if methods.get(name).family == "crl"]
    assert crl_methods == ["crl", "crl_instance"]
    for name in crl_methods:
        with pytest.raises(ValueError, match=message):
            methods.check_hparams(name, hparams)
    methods.check_hparams("crl", {"eta": (0.0, 0.01), "top_k": (1, 25), "margin": 0.5})


# --- Training ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clusters():
    """Well-separated Gaussian clusters, 4 classes, 140 training examples per class."""
    return datasets.load("synthetic", num_classes=4, n_per_class=200, n_features=8, class_sep=3.0)


def train_config(method):
    config = base_config()
    config.datasets = ("synthetic",)
    config.methods = (method,)
    config.rhos = (20.0,)
    config.mus = (0.5,)
    config.model_kwargs.hidden = (16,)
    config.batch_size = 32
    config.num_steps = 150
    config.learning_rates = (1e-2,)
    return config


@pytest.mark.slow
@pytest.mark.parametrize("method", [name for name, method in methods.BUILT_IN.items() if method.family == "crl"])
def test_training_on_imbalanced_clusters_beats_chance_on_minority_classes(clusters, method):
    """At rho = 20 (7 examples in each of the two minority classes; two seeds) the minority classes beat
    chance (recall 1/4) on the balanced test set, each on average over the seeds and together by a wide
    margin; at rho = 140 (one example each) training stays finite."""
    train = jax.jit(jax.vmap(make_train(train_config(method), dataset=clusters)))
    rhos = jnp.array([20.0, 20.0, 140.0])
    results = train(jax.random.split(jax.random.PRNGKey(0), 3), {"rho": rhos})
    np.testing.assert_array_equal(results["train_min_class"], [7.0, 7.0, 1.0])
    assert np.all(np.isfinite(results["train_loss"])) and np.all(np.isfinite(results["ovr_roc_auc"]))
    minority_recall = np.asarray(results["recall_per_class"])[:2, 2:]  # 2 seeds x 2 minority classes
    assert minority_recall.mean() > 0.5 and np.all(minority_recall.mean(axis=0) > 0.25), minority_recall
