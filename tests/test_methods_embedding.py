"""Embedding methods: DOS (Ando & Huang 2017) and LMLE (Huang et al. 2016).

References: NumPy transcriptions of the building blocks (in-class neighbour targets, micro-cluster
loss, weighted CE over the targets, quintuplet selection, triple-header hinge loss, cluster-wise kNN);
the refresh inside the scan against the network's own features and the kernels (vmapped, with a run
that is not due); both methods trained in one tiny sweep on separable clusters at rho = 20 and with
single-example minority classes; DOS without neighbours against the baseline run.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import log_softmax

from imbjax import data as datasets
from imbjax import methods, models
from imbjax.config import base_config
from imbjax.method_library import dos, lmle
from imbjax.sampling import class_kmeans
from imbjax.sweep import runner
from imbjax.train import DeviceData, apply_in_batches, make_program, program_spec

NUM_CLASSES = 4
MINORITY = (2, 3)  # mu = 0.5, minority "last"


def embedding_config(method_names):
    config = base_config()
    config.methods = tuple(method_names)
    config.datasets = ("synthetic",)
    config.dataset_kwargs = {"synthetic": {"num_classes": NUM_CLASSES, "n_per_class": 200, "n_features": 4,
                                           "class_sep": 3.0}}
    config.model_kwargs.hidden = (16,)
    config.batch_size = 16
    config.num_steps = 120
    config.rhos = (20.0, 140.0)  # 140: one training example per minority class
    config.learning_rates = (1e-2,)
    config.seeds = 2
    return config


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The runs table of the baseline, DOS (k_minority 5 and 0) and LMLE at rho 20 and 140, two seeds
    each (one compile per method)."""
    config = embedding_config(("baseline", "dos", "lmle"))
    config.hparams = {"dos": {"k_minority": (5.0, 0.0)}}
    return runner.run_sweep(config, tmp_path_factory.mktemp("embedding"))


def random_problem(seed, num_pool=40, dim=3, num_classes=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_pool, dim)).astype(np.float32)
    labels = rng.integers(0, num_classes, num_pool)
    mask = rng.random(num_pool) < 0.8
    return x, labels, mask


def squared_distances(a, b):
    return ((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1)


# --- DOS ------------------------------------------------------------------------------------------

def neighbor_targets_numpy(x, labels, mask, k_per_class, width):
    """For every example: the other mask members of its class by distance (ties: lower index),
    the first k_{y_i}, padded with -1."""
    distances = squared_distances(x, x)
    out = np.full((len(x), width), -1)
    for i in range(len(x)):
        candidates = [j for j in range(len(x)) if mask[j] and j != i and labels[j] == labels[i]]
        ranked = sorted(candidates, key=lambda j: (distances[i, j], j))[:k_per_class[labels[i]]]
        out[i, :len(ranked)] = ranked
    return out


@pytest.mark.parametrize("seed", range(3))
def test_neighbor_targets_match_numpy(seed):
    x, labels, mask = random_problem(seed)
    k_per_class = np.array([3, 0, 5])
    got = dos.neighbor_targets(jnp.array(x), jnp.array(labels), jnp.array(mask), jnp.array(k_per_class), 6)
    np.testing.assert_array_equal(got, neighbor_targets_numpy(x, labels, mask, k_per_class, 6))


def test_neighbors_per_class_gives_minority_classes_k_minority():
    counts = jnp.array([50.0, 50.0, 5.0, 1.0])
    np.testing.assert_array_equal(dos.neighbors_per_class(counts, 3.4, 0.0, 10), [0, 0, 3, 3])
    np.testing.assert_array_equal(dos.neighbors_per_class(counts, 12.0, 1.0, 10), [1, 1, 10, 10])
    np.testing.assert_array_equal(dos.neighbors_per_class(jnp.array([7.0, 7.0]), 5.0, 2.0, 10), [2, 2])


def test_micro_cluster_loss_and_weighted_ce_match_numpy():
    rng = np.random.default_rng(0)
    batch, width, dim, classes = 6, 4, 3, 5
    features = rng.normal(size=(batch, dim)).astype(np.float32)
    targets = rng.normal(size=(batch, width, dim)).astype(np.float32)
    valid = rng.random((batch, width)) < 0.6
    valid[0] = False
    logits = rng.normal(size=(batch, classes)).astype(np.float32)
    target_logits = rng.normal(size=(batch, width, classes)).astype(np.float32)
    labels = rng.integers(0, classes, batch)

    pull, ce = [], []
    for i in range(batch):
        chosen = targets[i][valid[i]]
        pull.append(((features[i] - chosen.mean(0)) ** 2).sum() if len(chosen) else 0.0)
        ce.append(-log_softmax(logits[i])[labels[i]]
                  - 0.5 * sum(log_softmax(target_logits[i, j])[labels[i]] for j in range(width) if valid[i, j]))
    got_pull = jax.jit(dos.micro_cluster_loss)(jnp.array(features), jnp.array(targets), jnp.array(valid))
    np.testing.assert_allclose(got_pull, pull, rtol=1e-5, atol=1e-6)
    got_ce = jax.jit(dos.weighted_target_ce)(jnp.array(logits), jnp.array(target_logits), jnp.array(labels),
                                             jnp.array(valid), 0.5)
    np.testing.assert_allclose(got_ce, ce, rtol=1e-5)
    # the micro-cluster loss is (1/k) sum_j ||f - v_j||^2 less the targets' spread
    i = 1
    chosen = targets[i][valid[i]].astype(np.float64)
    spread = ((chosen - chosen.mean(0)) ** 2).sum(-1).mean()
    np.testing.assert_allclose(pull[i], ((features[i] - chosen) ** 2).sum(-1).mean() - spread, rtol=1e-5)


def test_head_logits_are_the_models_logits_of_its_features():
    model = models.make_model("mlp", 3, hidden=(8,))
    x = jnp.array(np.random.default_rng(1).normal(size=(5, 4)), jnp.float32)
    params = model.init(jax.random.PRNGKey(0), x)
    logits, features = model.apply(params, x)
    np.testing.assert_allclose(dos.head_logits(params, features), logits, rtol=1e-5, atol=1e-6)


def first_steps(method):
    """``(spec, data, model, initial, state, after)``: two runs of ``method`` (seed 0, rho 20) with
    ``refresh_steps`` 3 and 100, vmapped, at init, after 3 steps and after 4 steps."""
    config = embedding_config((method,))
    dataset = datasets.load("synthetic", **config.dataset_kwargs["synthetic"])
    spec = program_spec(config, dataset, profile="step", method_names=(method,))
    program = make_program(spec)
    data = DeviceData.from_dataset(dataset)
    values = {"rho": 20.0, "mu": 0.5, "learning_rate": 1e-2, **spec.hparam_defaults()}
    hparams = {**{k: jnp.full(2, v, jnp.float32) for k, v in values.items()},
               "refresh_steps": jnp.array([3.0, 100.0]), "method_index": jnp.zeros(2, jnp.int32)}

    init = jax.jit(jax.vmap(lambda key, hparams: program.init(data, key, hparams)))
    step = jax.jit(jax.vmap(lambda state, hparams: program.advance(data, state, hparams, 1)))
    initial = state = init(jnp.stack([jax.random.PRNGKey(0)] * 2), hparams)
    for _ in range(3):
        state = step(state, hparams)
    after = step(state, hparams)
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    first, second = (lambda tree: jax.tree.map(lambda a: a[0], tree)), (lambda tree: jax.tree.map(lambda a: a[1], tree))
    return spec, data, model, first(initial), first(state), first(after), second(after)


def test_dos_refreshes_embeddings_and_neighbours_every_refresh_steps():
    """Up to step R the targets are those of init; the step starting at R refreshes them from the
    network of step R (embeddings and in-class neighbours of the pool); a run with a longer
    interval in the same vmapped program keeps its targets."""
    spec, data, model, initial, state, after, not_due = first_steps("dos")
    np.testing.assert_array_equal(state.extra.embeddings, initial.extra.embeddings)
    np.testing.assert_array_equal(not_due.extra.embeddings, initial.extra.embeddings)
    _, embeddings = apply_in_batches(model, state.params, data.x_train, spec.eval_batch_size)
    np.testing.assert_allclose(after.extra.embeddings, embeddings, rtol=1e-5, atol=1e-6)
    assert not np.allclose(after.extra.embeddings, initial.extra.embeddings)
    labels, mask, counts = np.asarray(data.y_train), np.asarray(state.extra.mask), np.asarray(state.class_counts)
    k = np.asarray(dos.neighbors_per_class(counts, 5.0, 0.0, dos.MAX_NEIGHBORS))
    expected = neighbor_targets_numpy(np.asarray(embeddings), labels, mask, k, dos.MAX_NEIGHBORS)
    np.testing.assert_array_equal(after.extra.neighbors, expected)
    found = np.asarray(after.extra.neighbors >= 0).sum(1)
    np.testing.assert_array_equal(found[mask], np.minimum(k[labels], counts[labels] - 1)[mask])


# --- LMLE -----------------------------------------------------------------------------------------

def quintuplets_numpy(anchors, x, labels, cluster, mask):
    """Huang et al.'s quintuplet of every anchor by brute force: (anchor, farthest in its cluster,
    nearest of its class in another cluster, farthest of its class, nearest of another class);
    ties to the lower index, the anchor where a member is missing."""
    distances = squared_distances(x, x)
    rows, other_cluster, negative = [], [], []
    for a in anchors:
        members = [j for j in range(len(x)) if mask[j] and j != a]
        same_cluster = [j for j in members if labels[j] == labels[a] and cluster[j] == cluster[a]]
        other = [j for j in members if labels[j] == labels[a] and cluster[j] != cluster[a]]
        same_class = [j for j in members if labels[j] == labels[a]]
        other_class = [j for j in range(len(x)) if mask[j] and labels[j] != labels[a]]

        def far(js):
            return min(js, key=lambda j: (-distances[a, j], j)) if js else a

        def near(js):
            return min(js, key=lambda j: (distances[a, j], j)) if js else a

        rows.append([a, far(same_cluster), near(other), far(same_class), near(other_class)])
        other_cluster.append(bool(other))
        negative.append(bool(other_class))
    return np.array(rows), np.array(other_cluster), np.array(negative)


@pytest.mark.parametrize("seed", range(3))
def test_quintuplets_match_numpy(seed):
    x, labels, mask = random_problem(seed)
    rng = np.random.default_rng(seed + 100)
    cluster = rng.integers(0, 3, len(x))
    labels[:2] = 3  # class 3: one member in the mask at most (the anchor alone in its class)
    mask[1] = False
    anchors = np.concatenate([[0], rng.choice(np.flatnonzero(mask), 9)])
    got = jax.jit(lmle.select_quintuplets)(jnp.array(anchors), jnp.array(x), jnp.array(labels), jnp.array(cluster),
                                  jnp.array(mask))
    expected = quintuplets_numpy(anchors, x, labels, cluster, mask)
    np.testing.assert_array_equal(got.indices, expected[0])
    np.testing.assert_array_equal(got.has_other_cluster, expected[1])
    np.testing.assert_array_equal(got.has_negative, expected[2])
    assert not bool(got.has_other_cluster[0]) and np.all(np.asarray(got.indices[0, :4]) == 0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("largest", [True, False])
def test_first_extreme_index_is_argmax_or_argmin_with_ties_and_nans(seed, largest):
    rng = np.random.default_rng(seed)
    values = rng.integers(-3, 4, (6, 5, 40)).astype(np.float32)  # many ties
    values[0, 0, [7, 30]] = np.nan                               # the first NaN wins, as in NumPy
    values[1, 1, :] = np.inf
    values[2, 2, 5] = -np.inf
    got = jax.jit(lmle.first_extreme_index, static_argnames="largest")(jnp.array(values), largest=largest)
    expected = (np.argmax if largest else np.argmin)(values, axis=-1)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, (jnp.argmax if largest else jnp.argmin)(jnp.array(values), axis=-1))


def test_triple_header_hinge_matches_numpy():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(8, 5, 4)).astype(np.float32)
    has_other_cluster, has_negative = rng.random(8) < 0.7, rng.random(8) < 0.8
    margins = (0.3, 0.5, 0.2)
    expected = []
    for f, other, negative in zip(features.astype(np.float64), has_other_cluster, has_negative):
        d = [((f[0] - f[j]) ** 2).sum() for j in range(5)]
        eps = max(0.0, margins[0] + d[1] - d[2])
        tau = max(0.0, margins[1] + d[2] - d[3])
        sig = max(0.0, margins[2] + d[3] - d[4])
        expected.append((eps + tau) * other + sig * negative)
    got = jax.jit(lmle.triple_header_hinge)(jnp.array(features), jnp.array(has_other_cluster), jnp.array(has_negative),
                                   margins)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def cluster_knn_numpy(queries, centroids, sizes, k):
    """Huang et al.'s cluster-wise kNN rule as written: the k nearest non-empty centroids; their
    class if they agree, else argmax_c [min_{other classes in kNN} D - max_{class c in kNN} D]."""
    num_classes, num_clusters = sizes.shape
    flat = centroids.reshape(num_classes * num_clusters, -1)
    owner = np.repeat(np.arange(num_classes), num_clusters)
    used = np.flatnonzero(sizes.reshape(-1) > 0)
    labels = []
    for d in squared_distances(queries, flat):
        knn_set = used[np.argsort(d[used], kind="stable")[:k]]
        classes = sorted(set(owner[knn_set]))
        if len(classes) == 1:
            labels.append(classes[0])
            continue
        margin = {c: min(d[m] for m in knn_set if owner[m] != c) - max(d[m] for m in knn_set if owner[m] == c)
                  for c in classes}
        labels.append(max(classes, key=lambda c: margin[c]))
    return np.array(labels)


def cluster_knn_scores_numpy(queries, centroids, sizes, k):
    """The extended scores of lmle's docstring, transcribed (4 where no other class has a centroid)."""
    num_classes, num_clusters = sizes.shape
    flat = centroids.reshape(num_classes * num_clusters, -1)
    owner = np.repeat(np.arange(num_classes), num_clusters)
    used = np.flatnonzero(sizes.reshape(-1) > 0)
    scores = np.full((len(queries), num_classes), -np.inf)
    for q, d in enumerate(squared_distances(queries, flat)):
        knn_set = used[np.argsort(d[used], kind="stable")[:k]]
        for c in range(num_classes):
            own = [m for m in used if owner[m] == c]
            if own:
                far = max([d[m] for m in own if m in knn_set] + [min(d[m] for m in own)])
                scores[q, c] = min([d[m] for m in used if owner[m] != c] + [4.0]) - far
    return scores


knn_scores = jax.jit(lmle.cluster_knn_scores, static_argnums=3)


def unit_rows(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_cluster_knn_follows_the_papers_rule_and_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    centroids = unit_rows(rng.normal(size=(3, 3, 2))) * rng.uniform(0.2, 1.0, (3, 3, 1))  # means of unit vectors
    sizes = rng.integers(0, 3, (3, 3))
    sizes[:, 0] = 1
    sizes[2] = [1, 0, 0]  # a class with a single cluster
    queries = unit_rows(rng.normal(size=(60, 2)))
    for k in (1, 3, 5):
        scores = np.asarray(knn_scores(jnp.array(queries), jnp.array(centroids), jnp.array(sizes), k))
        np.testing.assert_allclose(scores, cluster_knn_scores_numpy(queries, centroids, sizes, k), rtol=1e-4,
                                   atol=1e-5)
        np.testing.assert_array_equal(scores.argmax(1), cluster_knn_numpy(queries, centroids, sizes, k))
    for empty in ([1], [1, 2]):  # classes without training examples; then a single class left
        no_class = sizes.copy()
        no_class[empty] = 0
        scores = np.asarray(knn_scores(jnp.array(queries), jnp.array(centroids), jnp.array(no_class), 3))
        assert np.all(scores[:, empty] == -np.inf) and np.all(np.isfinite(np.delete(scores, empty, axis=1)))
        np.testing.assert_allclose(scores, cluster_knn_scores_numpy(queries, centroids, no_class, 3), rtol=1e-4,
                                   atol=1e-5)


def test_lmle_reclusters_every_refresh_steps():
    """Up to step R the clusters are those of init; the step starting at R re-clusters the
    network's normalised features of step R (k-means with the run's key folded with R)."""
    spec, data, model, initial, state, after, not_due = first_steps("lmle")
    for kept in (state, not_due):
        jax.tree.map(np.testing.assert_array_equal, kept.extra.clusters, initial.extra.clusters)
    _, features = apply_in_batches(model, state.params, data.x_train, spec.eval_batch_size)
    embeddings = lmle.normalise(features)
    np.testing.assert_allclose(after.extra.clusters.embeddings, embeddings, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(embeddings), axis=1), 1.0, rtol=1e-5)
    cluster, centroids, sizes = jax.jit(lambda key: class_kmeans(
        key, embeddings, data.y_train, state.extra.mask, spec.num_classes, 4, num_iters=lmle.KMEANS_ITERS))(
        jax.random.fold_in(state.extra.cluster_key, 3))
    np.testing.assert_array_equal(after.extra.clusters.cluster, cluster)
    np.testing.assert_array_equal(after.extra.clusters.sizes, sizes)
    np.testing.assert_allclose(after.extra.clusters.centroids, centroids, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(sizes).sum(1), state.class_counts)


# --- Both methods ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["dos", "lmle"])
def test_method_beats_chance_on_minority_classes_and_survives_single_example_classes(sweep, method):
    runs = sweep[(sweep.method == method) & (sweep.get("hp_k_minority", 5.0).fillna(5.0) == 5.0)]
    assert len(runs) == 4
    metrics = [c for c in runs.columns if runs[c].dtype.kind == "f" and not c.startswith("hp_")]
    assert {"accuracy", "ovr_roc_auc", "train_loss", "recall_per_class_3"} <= set(metrics)
    for column in metrics:  # every metric, also with one training example per minority class
        assert np.all(np.isfinite(runs[column])), column
    rho20 = runs[runs.rho == 20.0]
    for c in MINORITY:
        assert rho20[f"recall_per_class_{c}"].mean() > 1.0 / NUM_CLASSES, (c, rho20[f"recall_per_class_{c}"])
    assert np.all(runs[runs.rho == 140.0].train_min_class == 1)


def test_dos_without_neighbours_is_the_baseline(sweep):
    """k = 0 for every class leaves only the CE of the batch's own embeddings: the baseline's loss on
    the baseline's batches (same key streams), so the same runs."""
    baseline = sweep[sweep.method == "baseline"].sort_values(["rho", "seed"])
    plain_dos = sweep[(sweep.method == "dos") & (sweep.hp_k_minority == 0.0)].sort_values(["rho", "seed"])
    assert len(baseline) == len(plain_dos) == 4
    for column in ("train_loss", "ovr_roc_auc", "balanced_accuracy", "log_loss"):
        np.testing.assert_allclose(plain_dos[column], baseline[column], rtol=1e-4, atol=1e-5, err_msg=column)


@pytest.mark.parametrize("method,hparams,bad", [
    ("dos", {"k_minority": 11.0}, "k_minority"),
    ("dos", {"k_majority": -1.0}, "k_majority"),
    ("dos", {"micro_cluster_weight": (1.0, -0.5)}, "micro_cluster_weight"),
    ("dos", {"refresh_steps": -2.0}, "refresh_steps"),
    ("dos", {"k": 3.0}, "'k'"),
    ("lmle", {"margin_cluster": -0.1}, "margin_cluster"),
    ("lmle", {"margin_negative": (0.2, 5.0)}, "margin_negative"),
    ("lmle", {"knn_temperature": 0.0}, "knn_temperature"),
    ("lmle", {"refresh_steps": -1.0}, "refresh_steps"),
    ("lmle", {"num_clusters": 3.0}, "num_clusters"),
])
def test_bad_hparams_raise_before_compiling(method, hparams, bad):
    with pytest.raises(ValueError, match=bad):
        methods.check_hparams(method, hparams)
