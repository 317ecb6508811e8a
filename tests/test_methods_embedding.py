"""Embedding methods: DOS (Ando & Huang 2017) and LMLE (Huang et al. 2016).

References: NumPy transcriptions of the building blocks (in-class neighbour targets, DOS's per-example
loss with r-fold overloading, rho-weighted target CE and micro-cluster loss, quintuplet selection,
triple-header hinge loss, cluster-wise kNN); the refresh inside the scan against the network's own
features and the kernels (vmapped, with a run that is not due, twice for determinism); both methods
trained in one tiny sweep on separable clusters at rho = 20 and with single-example minority
classes; DOS without neighbours or replication against the baseline run.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

from imbjax import data as datasets
from imbjax import methods, models
from imbjax.config import base_config, program_spec
from imbjax.engine.blocks import apply_in_batches
from imbjax.engine.program import DeviceData
from imbjax.methods import dos, lmle, make_program
from imbjax.sampling import class_kmeans
from imbjax.sweep import runner

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
    """The runs table of the baseline, DOS (k_minority 5 and 0 x oversampling_rate 0 and 1) and LMLE
    at rho 20 and 140, two seeds each (one compile per family)."""
    config = embedding_config(("baseline", "dos", "lmle"))
    config.hparams = {"dos": {"k_minority": (5.0, 0.0), "oversampling_rate": (0.0, 1.0)}}
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
    """For every example of the mask: the other mask members of its class by distance (ties: lower
    index), the first k_{y_i}, padded with -1; -1 for examples outside the mask."""
    distances = squared_distances(x, x)
    out = np.full((len(x), width), -1)
    for i in np.flatnonzero(mask):
        candidates = [j for j in range(len(x)) if mask[j] and j != i and labels[j] == labels[i]]
        ranked = sorted(candidates, key=lambda j: (distances[i, j], j))[:k_per_class[labels[i]]]
        out[i, :len(ranked)] = ranked
    return out


def neighbor_targets(x, labels, mask, k_per_class, width, num_classes=3, slots=None):
    """:func:`dos.neighbor_targets` with class tables of ``slots`` columns (default: the pool size)."""
    members = dos.class_members(jnp.array(labels), jnp.array(mask), num_classes, slots or len(labels))
    return np.asarray(dos.neighbor_targets(jnp.asarray(x), members, jnp.array(k_per_class), width))


@pytest.mark.parametrize("width", [40, 20])
def test_class_members_lists_each_classes_subset_by_pool_index(width):
    _, labels, mask = random_problem(2)
    got = np.asarray(dos.class_members(jnp.array(labels), jnp.array(mask), 4, width))
    for c in range(4):
        members = np.flatnonzero(mask & (labels == c))
        np.testing.assert_array_equal(got[c], np.pad(members, (0, width - len(members)), constant_values=-1))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("width", [6, 12])
def test_neighbor_targets_are_in_class_training_examples_other_than_self(seed, width):
    x, labels, mask = random_problem(seed)
    k_per_class = np.array([3, 0, min(width, 11)])
    got = neighbor_targets(x, labels, mask, k_per_class, width)
    np.testing.assert_array_equal(got, neighbor_targets_numpy(x, labels, mask, k_per_class, width))
    rows, slots = np.nonzero(got >= 0)
    chosen = got[rows, slots]
    assert len(chosen) > 0
    assert np.all(labels[chosen] == labels[rows]) and np.all(chosen != rows)
    assert np.all(mask[rows]) and np.all(mask[chosen])
    assert np.all(got[labels == 1] == -1)  # k = 0 for class 1


def test_neighbor_targets_with_class_tables_narrower_than_the_neighbour_table():
    x, labels, mask = random_problem(5, num_pool=14)
    slots = int(np.bincount(labels[mask], minlength=3).max())
    k_per_class = np.array([10, 10, 10])
    got = neighbor_targets(x, labels, mask, k_per_class, 10, slots=slots)
    np.testing.assert_array_equal(got, neighbor_targets_numpy(x, labels, mask, k_per_class, 10))
    assert slots < 10 and np.any(got >= 0)


def test_neighbor_search_in_normalised_features_is_the_search_of_unit_rows():
    x, labels, mask = random_problem(7)
    x = x * np.random.default_rng(8).uniform(0.1, 10.0, (len(x), 1)).astype(np.float32)
    k_per_class = np.array([4, 4, 4])
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    got = neighbor_targets(dos.feature_space(jnp.array(x), 1.0), labels, mask, k_per_class, 4)
    np.testing.assert_array_equal(got, neighbor_targets_numpy(unit, labels, mask, k_per_class, 4))
    np.testing.assert_array_equal(dos.feature_space(jnp.array(x), 0.0), x)


def test_neighbors_per_class_gives_minority_classes_k_minority():
    counts = jnp.array([50.0, 50.0, 5.0, 1.0])
    np.testing.assert_array_equal(dos.neighbors_per_class(counts, 3.4, 0.0, 10), [0, 0, 3, 3])
    np.testing.assert_array_equal(dos.neighbors_per_class(counts, 12.0, 1.0, 10), [1, 1, 10, 10])
    np.testing.assert_array_equal(dos.neighbors_per_class(jnp.array([7.0, 7.0]), 5.0, 2.0, 10), [2, 2])


def test_oversampling_rates_replicate_minority_classes_only():
    counts = jnp.array([100.0, 100.0, 10.0, 2.0, 3.0])
    np.testing.assert_array_equal(dos.oversampling_rates(counts, 0.0), [1, 1, 10, 50, 33])  # round(n_max / n_c)
    np.testing.assert_array_equal(dos.oversampling_rates(counts, 3.0), [1, 1, 3, 3, 3])
    np.testing.assert_array_equal(dos.oversampling_rates(counts, 1.0), [1, 1, 1, 1, 1])
    np.testing.assert_array_equal(dos.oversampling_rates(jnp.array([7.0, 7.0]), 0.0), [1, 1])


copies_per_weight_vector = jax.jit(dos.copies_per_weight_vector, static_argnums=1)


@given(st.lists(st.integers(1, 45), min_size=8, max_size=8), st.sampled_from([1, 3, 10]))
@settings(max_examples=30, deadline=None)
def test_copies_per_weight_vector_cycle_through_the_vectors(rates, num_vectors):
    got = np.asarray(copies_per_weight_vector(jnp.array(rates, jnp.float32), num_vectors))
    expected = np.array([[sum(1 for l in range(r) if l % num_vectors == m) for m in range(num_vectors)]
                         for r in rates])
    np.testing.assert_array_equal(got, expected)


def dos_example_loss_numpy(logits, features, labels, targets, target_logits, valid, draws, rates, lam, beta, normalise):
    """The module docstring's L_i, transcribed with loops: r overloaded instances, instance l with
    weight vector l mod R (the draws normalised over the real neighbours), each adding the own CE,
    beta * sum_j rho_j CE(g(v_j)) and lambda * sum_j w_j ||f - v_j||^2."""
    def space(a):
        a = np.asarray(a, np.float64)
        return a / np.linalg.norm(a, axis=-1, keepdims=True) if normalise else a

    num_vectors = draws.shape[1]
    out = []
    for i in range(len(labels)):
        own = -log_softmax(logits[i].astype(np.float64))[labels[i]]
        real = np.flatnonzero(valid[i])
        distances = np.array([np.linalg.norm(space(features[i]) - space(targets[i, j])) for j in real])
        target_ce = np.array([-log_softmax(target_logits[i, j].astype(np.float64))[labels[i]] for j in real])
        total = 0.0
        for copy in range(int(rates[i])):
            total += own
            if len(real) == 0:
                continue
            w = draws[i, copy % num_vectors, real].astype(np.float64)
            w = w / w.sum()
            rho = np.exp(-w * distances) / np.exp(-w * distances).sum()
            total += beta * (rho * target_ce).sum() + lam * (w * distances**2).sum()
        out.append(total)
    return np.array(out)


def random_dos_batch(seed, batch=7, width=4, dim=3, classes=5, num_vectors=3):
    rng = np.random.default_rng(seed)
    valid = rng.random((batch, width)) < 0.6
    valid[0] = False   # an example without neighbours
    valid[1] = True
    return dict(
        logits=rng.normal(size=(batch, classes)).astype(np.float32),
        features=rng.normal(size=(batch, dim)).astype(np.float32),
        labels=rng.integers(0, classes, batch),
        targets=rng.normal(size=(batch, width, dim)).astype(np.float32),
        target_logits=rng.normal(size=(batch, width, classes)).astype(np.float32),
        valid=valid,
        draws=rng.uniform(1e-3, 1.0, (batch, num_vectors, width)).astype(np.float32),
        rates=rng.integers(1, 8, batch).astype(np.float32))


example_loss = jax.jit(dos.dos_example_loss)


def dos_example_loss(b, lam, beta, normalise):
    """:func:`dos.dos_example_loss` of a :func:`random_dos_batch` (compiled once per shape)."""
    targets = dos.DOSTargets(jnp.array(b["targets"]), jnp.array(b["target_logits"]), jnp.array(b["valid"]),
                             jnp.array(b["draws"]))
    return example_loss(jnp.array(b["logits"]), jnp.array(b["features"]), jnp.array(b["labels"]), targets,
                        jnp.array(b["rates"]), jnp.float32(lam), jnp.float32(beta), jnp.float32(normalise))


@given(st.integers(0, 2**31 - 1), st.sampled_from([0.0, 0.5, 2.0]), st.sampled_from([0.0, 1.0, 3.0]),
       st.sampled_from([0.0, 1.0]))
@settings(max_examples=12, deadline=None)
def test_dos_example_loss_matches_numpy_transcription(seed, lam, beta, normalise):
    b = random_dos_batch(seed)
    got = dos_example_loss(b, lam, beta, normalise)
    expected = dos_example_loss_numpy(**b, lam=lam, beta=beta, normalise=normalise)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-5)
    own = -log_softmax(b["logits"].astype(np.float64), axis=-1)[np.arange(7), b["labels"]]
    np.testing.assert_allclose(got[0], b["rates"][0] * own[0], rtol=1e-5)  # k = 0: r times the plain CE


def test_dos_without_micro_cluster_targets_or_replication_is_plain_ce():
    b = random_dos_batch(3)
    ce = -log_softmax(b["logits"].astype(np.float64), axis=-1)[np.arange(7), b["labels"]]
    np.testing.assert_allclose(dos_example_loss({**b, "rates": np.ones(7, np.float32)}, 0.0, 0.0, 0.0), ce, rtol=1e-5)
    np.testing.assert_allclose(dos_example_loss({**b, "valid": np.zeros_like(b["valid"])}, 2.0, 3.0, 0.0),
                               b["rates"] * ce, rtol=1e-5)  # no neighbours: each copy is the plain CE


def test_target_ce_trains_only_the_output_layer_and_micro_cluster_only_the_features():
    """rho and the targets are constants: the targets' CE has no gradient with respect to f(x_i) or
    g(f(x_i)); the micro-cluster loss has none with respect to the logits. Gradients stay finite
    with normalised features of 0."""
    b = random_dos_batch(4)
    b["features"][2] = 0.0

    targets = dos.DOSTargets(jnp.array(b["targets"]), jnp.array(b["target_logits"]), jnp.array(b["valid"]),
                             jnp.array(b["draws"]))

    @jax.jit
    def grads(logits, features, lam, beta, normalise):
        def total(logits, features):
            return jnp.sum(dos.dos_example_loss(logits, features, jnp.array(b["labels"]), targets,
                                                jnp.array(b["rates"]), lam, beta, normalise))
        return jax.grad(total, argnums=(0, 1))(logits, features)

    logits, features = jnp.array(b["logits"]), jnp.array(b["features"])
    grad_ce = grads(logits, features, 0.0, 0.0, 0.0)
    grad_targets = grads(logits, features, 0.0, 5.0, 0.0)
    np.testing.assert_allclose(grad_targets[0], grad_ce[0], rtol=1e-6)
    np.testing.assert_array_equal(grad_targets[1], 0.0)
    grad_pull = grads(logits, features, 2.0, 0.0, 1.0)
    np.testing.assert_allclose(grad_pull[0], grad_ce[0], rtol=1e-6)
    assert np.all(np.isfinite(grad_pull[1])) and np.abs(np.asarray(grad_pull[1][1])).sum() > 0


def test_micro_cluster_term_is_bounded_by_four_with_normalised_features():
    b = random_dos_batch(5)
    b["features"] *= 100.0
    b["targets"] *= 50.0
    ones = {**b, "rates": np.ones(7, np.float32)}
    micro = np.asarray(dos_example_loss(ones, 1.0, 0.0, 1.0) - dos_example_loss(ones, 0.0, 0.0, 1.0))
    assert np.all(micro <= 4.0 + 1e-5) and np.all(micro >= 0.0) and micro[1] > 0
    raw = np.asarray(dos_example_loss(ones, 1.0, 0.0, 0.0) - dos_example_loss(ones, 0.0, 0.0, 0.0))
    assert raw[1] > 100.0


def test_head_logits_are_the_models_logits_of_its_features():
    model = models.make_model("mlp", 3, hidden=(8,))
    x = jnp.array(np.random.default_rng(1).normal(size=(5, 4)), jnp.float32)
    params = model.init(jax.random.PRNGKey(0), x)
    logits, features = model.apply(params, x)
    np.testing.assert_allclose(dos.head_logits(params, features), logits, rtol=1e-5, atol=1e-6)


def test_weight_vectors_are_fixed_per_example_and_round():
    key = jax.random.PRNGKey(3)
    draw = jax.jit(dos.draw_weight_vectors, static_argnums=(2, 3))
    a = draw(key, jnp.array([4, 9, 4]), 3, 5)
    np.testing.assert_array_equal(a[0], a[2])
    assert not np.allclose(a[0], a[1])
    assert not np.allclose(draw(jax.random.fold_in(key, 1), jnp.array([4, 9, 4]), 3, 5)[0], a[0])
    assert a.shape == (3, 3, 5) and np.all((np.asarray(a) > 0) & (np.asarray(a) <= 1))


def first_steps(method, **overrides):
    """``(spec, data, model, initial, state, after, not_due)``: two runs of ``method`` (seed 0, rho 20)
    with ``refresh_steps`` 3 and 100, vmapped, at init, after 3 steps and after 4 steps (both runs)."""
    config = embedding_config((method,))
    dataset = datasets.load("synthetic", **config.dataset_kwargs["synthetic"])
    spec = program_spec(config, dataset, profile="step", method_names=(method,))
    program = make_program(spec)
    data = DeviceData.from_dataset(dataset)
    values = {"rho": 20.0, "mu": 0.5, "learning_rate": 1e-2, **spec.hparam_defaults(), **overrides}
    hparams = {**{k: jnp.full(2, v, jnp.float32) for k, v in values.items()},
               "refresh_steps": jnp.array([3.0, 100.0]), "method_index": jnp.zeros(2, jnp.int32)}

    init = jax.jit(jax.vmap(lambda key, hparams: program.init(data, key, hparams)))
    step = jax.jit(jax.vmap(lambda state, hparams: program.advance(data, state, hparams, 1)))
    initial = state = init(jnp.stack([jax.random.PRNGKey(0)] * 2), hparams)
    for _ in range(3):
        state = step(state, hparams)
    after = step(state, hparams)
    again = step(step(step(step(init(jnp.stack([jax.random.PRNGKey(0)] * 2), hparams), hparams), hparams), hparams),
                 hparams)
    jax.tree.map(np.testing.assert_array_equal, again, after)  # deterministic
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    first, second = (lambda tree: jax.tree.map(lambda a: a[0], tree)), (lambda tree: jax.tree.map(lambda a: a[1], tree))
    return spec, data, model, first(initial), first(state), first(after), second(after)


@pytest.mark.slow
@pytest.mark.parametrize("normalise", [0.0, 1.0])
def test_dos_refreshes_embeddings_and_neighbours_every_refresh_steps(normalise):
    """Up to step R the targets are those of init; the step starting at R refreshes them from the
    network of step R (features and in-class neighbours of the pool, searched in the normalised
    features when ``normalise``); a run with a longer interval in the same vmapped program keeps its
    targets. Two calls of the vmapped program give the same states."""
    spec, data, model, initial, state, after, not_due = first_steps("dos", normalise=normalise)
    np.testing.assert_array_equal(state.extra.embeddings, initial.extra.embeddings)
    np.testing.assert_array_equal(not_due.extra.embeddings, initial.extra.embeddings)
    _, embeddings = apply_in_batches(model, state.params, data.x_train, spec.eval_batch_size)
    np.testing.assert_allclose(after.extra.embeddings, embeddings, rtol=1e-5, atol=1e-6)
    assert not np.allclose(after.extra.embeddings, initial.extra.embeddings)
    labels, mask, counts = np.asarray(data.y_train), np.asarray(state.subset), np.asarray(state.class_counts)
    k = np.asarray(dos.neighbors_per_class(counts, 5.0, 0.0, dos.MAX_NEIGHBORS))
    space = np.asarray(embeddings, np.float64)
    if normalise:
        space = space / np.linalg.norm(space, axis=1, keepdims=True)
    expected = neighbor_targets_numpy(space, labels, mask, k, dos.MAX_NEIGHBORS)
    np.testing.assert_array_equal(after.extra.neighbors, expected)
    found = np.asarray(after.extra.neighbors >= 0).sum(1)
    np.testing.assert_array_equal(found[mask], np.minimum(k[labels], counts[labels] - 1)[mask])


def dos_config(hparams):
    config = embedding_config(("dos",))
    config.hparams = {"dos": hparams}
    return config


@pytest.mark.parametrize("hparams,bad", [
    ({"oversampling_rate": (1.0, 2.5)}, "oversampling_rate=2.5"),
    ({"normalise": 0.5}, "normalise=0.5"),
])
def test_settings_that_cannot_do_what_they_say_are_refused_before_compiling(hparams, bad):
    dataset = datasets.load("synthetic", **embedding_config(()).dataset_kwargs["synthetic"])
    with pytest.raises(ValueError, match=bad):
        program_spec(dos_config(hparams), dataset, profile="step", method_names=("dos",))


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


@pytest.mark.slow
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
    with jax.threefry_partitionable(False):  # the random bits of imbjax's programs (imbjax.engine.program.with_run_random_bits)
        cluster, centroids, sizes = jax.jit(lambda key: class_kmeans(
            key, embeddings, data.y_train, state.extra.mask, spec.num_classes, 4, num_iters=lmle.KMEANS_ITERS))(
            jax.random.fold_in(state.extra.cluster_key, 3))
    np.testing.assert_array_equal(after.extra.clusters.cluster, cluster)
    np.testing.assert_array_equal(after.extra.clusters.sizes, sizes)
    np.testing.assert_allclose(after.extra.clusters.centroids, centroids, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(sizes).sum(1), state.class_counts)


# --- Both methods ----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("method", ["dos", "lmle"])
def test_method_beats_chance_on_minority_classes_and_survives_single_example_classes(sweep, method):
    defaults = (sweep.get("hp_k_minority", 5.0).fillna(5.0) == 5.0) & (sweep.get("hp_oversampling_rate", 0.0).fillna(0.0) == 0.0)
    runs = sweep[(sweep.method == method) & defaults]
    assert len(runs) == 4
    metrics = [c for c in runs.columns if runs[c].dtype.kind == "f" and not c.startswith("hp_")]
    assert {"accuracy", "ovr_roc_auc", "train_loss", "recall_per_class_3"} <= set(metrics)
    for column in metrics:  # every metric, also with one training example per minority class
        assert np.all(np.isfinite(runs[column])), column
    rho20 = runs[runs.rho == 20.0]
    for c in MINORITY:
        assert rho20[f"recall_per_class_{c}"].mean() > 1.0 / NUM_CLASSES, (c, rho20[f"recall_per_class_{c}"])
    assert np.all(runs[runs.rho == 140.0].train_min_class == 1)


@pytest.mark.slow
def test_dos_without_neighbours_is_the_baseline(sweep):
    """k = 0 for every class and over-sampling rate 1 leave only the CE of the batch's own features:
    the baseline's loss on the baseline's batches (same key streams), so the same runs."""
    baseline = sweep[sweep.method == "baseline"].sort_values(["rho", "seed"])
    plain_dos = sweep[(sweep.method == "dos") & (sweep.hp_k_minority == 0.0)
                      & (sweep.hp_oversampling_rate == 1.0)].sort_values(["rho", "seed"])
    assert len(baseline) == len(plain_dos) == 4
    for column in ("train_loss", "ovr_roc_auc", "balanced_accuracy", "log_loss"):
        np.testing.assert_allclose(plain_dos[column], baseline[column], rtol=1e-4, atol=1e-5, err_msg=column)


@pytest.mark.parametrize("method,hparams,bad", [
    ("dos", {"k_minority": 11.0}, "k_minority"),
    ("dos", {"k_majority": -1.0}, "k_majority"),
    ("dos", {"micro_cluster_weight": (1.0, -0.5)}, "micro_cluster_weight"),
    ("dos", {"refresh_steps": -2.0}, "refresh_steps"),
    ("dos", {"k": 3.0}, "'k'"),
    ("dos", {"oversampling_rate": -1.0}, "oversampling_rate"),
    ("dos", {"normalise": 2.0}, "normalise"),
    ("lmle", {"margin_cluster": -0.1}, "margin_cluster"),
    ("lmle", {"margin_negative": (0.2, 5.0)}, "margin_negative"),
    ("lmle", {"knn_temperature": 0.0}, "knn_temperature"),
    ("lmle", {"refresh_steps": -1.0}, "refresh_steps"),
    ("lmle", {"num_clusters": 3.0}, "num_clusters"),
])
def test_bad_hparams_raise_before_compiling(method, hparams, bad):
    with pytest.raises(ValueError, match=bad):
        methods.check_hparams(method, hparams)
