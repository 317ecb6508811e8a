"""Resampling kernels against imbalanced-learn / scikit-learn: sampling_strategy targets, ROS/RUS index
sets, kNN, SMOTE family, NearMiss-1, Tomek links, ENN, dynamic sampling (survey Eq. 11).

``imbjax.sampling.smote`` is shadowed by the exported function of that name, so the SMOTE family is
imported from its module by path."""
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imblearn.over_sampling import BorderlineSMOTE, RandomOverSampler
from imblearn.under_sampling import EditedNearestNeighbours, NearMiss, RandomUnderSampler, TomekLinks
from sklearn.neighbors import NearestNeighbors

from imbjax.imbalance import masked_class_counts, subset_mask
from imbjax.sampling import cleaning, dynamic, neighbors, strategy
from imbjax.sampling.smote import (
    borderline_danger,
    borderline_smote,
    cluster_oversample,
    equalize_cluster_counts,
    smote,
)

# Jitted once per static configuration and shared by the tests (compilation dominates their time).
_ros = jax.jit(strategy.ros_indices, static_argnums=4)
_rus = jax.jit(strategy.rus_indices, static_argnums=4)
_smote = jax.jit(smote, static_argnames=("max_new", "k_neighbors", "max_candidates", "chunk_size"))
_borderline = jax.jit(borderline_smote, static_argnames=("max_new", "kind", "max_candidates", "chunk_size"))
_cluster = jax.jit(cluster_oversample, static_argnames=("num_clusters", "max_new", "method", "chunk_size"))
_tomek = jax.jit(cleaning.tomek_mask, static_argnames=("chunk_size",))
_enn = jax.jit(cleaning.enn_mask, static_argnames=("kind_sel", "chunk_size"))
_nearmiss = jax.jit(cleaning.nearmiss1_mask, static_argnames=("chunk_size",))

OVER_STRINGS = ["auto", "minority", "not minority", "not majority", "all"]
UNDER_STRINGS = ["auto", "majority", "not minority", "not majority", "all"]


def _imblearn_counts(sampler, y):
    _, resampled = sampler.fit_resample(np.zeros((len(y), 1)), y)
    return Counter(resampled.tolist())


def _as_dict(counts):
    return {c: int(n) for c, n in enumerate(np.asarray(counts)) if n > 0}


def _labels_from_counts(counts, rng):
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


# --- sampling_strategy -> target counts, ROS / RUS index sets -----------------------------------

@settings(max_examples=20, deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=2, max_size=5), seed=st.integers(0, 1000))
def test_string_strategies_match_imblearn(counts, seed):
    y = _labels_from_counts(counts, np.random.default_rng(seed))
    for name in OVER_STRINGS:
        ours = strategy.target_counts(np.array(counts), name, kind="over")
        assert _as_dict(ours) == _imblearn_counts(RandomOverSampler(sampling_strategy=name), y), name
    for name in UNDER_STRINGS:
        ours = strategy.target_counts(np.array(counts), name, kind="under")
        assert _as_dict(ours) == _imblearn_counts(RandomUnderSampler(sampling_strategy=name), y), name


@settings(max_examples=30, deadline=None)
@given(counts=st.tuples(st.integers(1, 200), st.integers(1, 200)), ratio=st.floats(0.01, 1.0))
def test_float_strategy_matches_imblearn_or_both_raise(counts, ratio):
    y = _labels_from_counts(counts, np.random.default_rng(0))
    for kind, sampler in (("over", RandomOverSampler), ("under", RandomUnderSampler)):
        try:
            expected = _imblearn_counts(sampler(sampling_strategy=ratio), y)
        except ValueError:
            with pytest.raises(ValueError, match="sampling_strategy"):
                strategy.target_counts(np.array(counts), ratio, kind=kind)
            continue
        assert _as_dict(strategy.target_counts(np.array(counts), ratio, kind=kind)) == expected


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_dict_and_array_strategies_match_imblearn(data):
    counts = np.array(data.draw(st.lists(st.integers(1, 30), min_size=2, max_size=4)))
    y = _labels_from_counts(counts, np.random.default_rng(0))
    over = {c: int(n + data.draw(st.integers(0, 20))) for c, n in enumerate(counts) if data.draw(st.booleans())}
    under = {c: data.draw(st.integers(0, int(n))) for c, n in enumerate(counts) if data.draw(st.booleans())}
    assert _as_dict(strategy.target_counts(counts, over, kind="over")) == \
        _imblearn_counts(RandomOverSampler(sampling_strategy=over), y)
    expected_under = _imblearn_counts(RandomUnderSampler(sampling_strategy=under), y)
    ours_under = np.asarray(strategy.target_counts(counts, under, kind="under"))
    assert {c: n for c, n in enumerate(ours_under.tolist()) if n > 0} == expected_under
    per_class = counts.copy()
    per_class[list(over)] = list(over.values())
    np.testing.assert_array_equal(strategy.target_counts(counts, per_class, kind="over"),
                                  strategy.target_counts(counts, over, kind="over"))


def test_traced_counts_give_the_concrete_result():
    counts = np.array([30, 7, 0, 12])
    for kind, names in (("over", OVER_STRINGS), ("under", UNDER_STRINGS)):
        for form in names + [{1: 10 if kind == "over" else 5}, np.array([30, 9, 0, 12]) if kind == "over" else
                             np.array([20, 7, 0, 3])]:
            traced = jax.jit(lambda c, form=form, kind=kind: strategy.target_counts(c, form, kind=kind))(counts)
            np.testing.assert_array_equal(traced, strategy.target_counts(counts, form, kind=kind))
    for ratio in (0.5, 0.25, 1.0):
        binary = np.array([40, 8])
        for kind in ("over", "under"):
            traced = jax.jit(lambda c, r=ratio, k=kind: strategy.target_counts(c, r, kind=k))(binary)
            np.testing.assert_array_equal(traced, strategy.target_counts(binary, ratio, kind=kind))


def test_absent_classes_are_ignored_and_keep_zero():
    counts = np.array([0, 5, 20, 0, 9])
    np.testing.assert_array_equal(strategy.target_counts(counts, "all", kind="over"), [0, 20, 20, 0, 20])
    np.testing.assert_array_equal(strategy.target_counts(counts, "minority", kind="over"), [0, 20, 20, 0, 9])
    np.testing.assert_array_equal(strategy.target_counts(counts, "auto", kind="under"), [0, 5, 5, 0, 5])
    np.testing.assert_array_equal(strategy.targeted_classes(counts, "auto", kind="clean"), [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(strategy.targeted_classes(counts, [2, 4], kind="clean"), [0, 0, 1, 0, 1])


def test_threshold_n_counts():
    np.testing.assert_array_equal(strategy.threshold_n_counts(np.array([500, 40, 120, 3]), 100), [100, 40, 100, 3])
    traced = jax.jit(strategy.threshold_n_counts)(jnp.array([500, 40]), jnp.array(50))
    np.testing.assert_array_equal(traced, [50, 40])


@pytest.mark.parametrize("form, kind, message", [
    ("bogus", "over", "unknown sampling_strategy 'bogus'"),
    ("majority", "over", "'majority' for kind='over'"),
    ("minority", "under", "'minority' for kind='under'"),
    (1.5, "over", r"\(0, 1\], got 1.5"),
    (0.0, "under", r"\(0, 1\], got 0.0"),
    (0.05, "over", "would remove minority examples"),
    (0.05, "under", "would add majority examples"),
    ({0: 3}, "over", "at least its current count"),
    ({1: 11}, "under", "between 0 and its current count"),
    ({2: 3}, "over", "not class labels"),
    ([0], "over", "only valid for cleaning"),
    ("auto", "sideways", "unknown sampling kind 'sideways'"),
])
def test_bad_strategies_raise(form, kind, message):
    with pytest.raises(ValueError, match=message):
        strategy.target_counts(np.array([40, 10]), form, kind=kind)


def test_other_bad_inputs_raise():
    with pytest.raises(ValueError, match="needs binary data"):
        strategy.target_counts(np.array([40, 10, 5]), 0.5, kind="over")
    with pytest.raises(ValueError, match="more than 1 class"):
        strategy.target_counts(np.array([40, 0]), "auto", kind="over")
    with pytest.raises(ValueError, match="no examples"):
        strategy.target_counts(np.array([40, 10, 0]), {2: 5}, kind="over")
    with pytest.raises(ValueError, match="threshold N must be >= 1"):
        strategy.threshold_n_counts(np.array([4, 5]), 0)
    labels, mask = jnp.array([0, 0, 0, 1]), jnp.ones(4, bool)
    with pytest.raises(ValueError, match="exceed|between 0 and the class counts"):
        strategy.rus_indices(jax.random.key(0), labels, mask, jnp.array([2, 2]), 4)
    with pytest.raises(ValueError, match="max_size is 5"):
        strategy.ros_indices(jax.random.key(0), labels, mask, jnp.array([3, 3]), 5)
    with pytest.raises(ValueError, match=r"k must lie in \[1, 4\]"):
        neighbors.knn(jnp.zeros((2, 3)), jnp.zeros((4, 3)), 5)
    x = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="unknown Borderline-SMOTE kind 'borderline-3'"):
        borderline_smote(jax.random.key(0), x, labels, mask, jnp.array([3, 3]), max_new=4, kind="borderline-3")
    with pytest.raises(ValueError, match="unknown cluster over-sampling method 'adasyn'"):
        cluster_oversample(jax.random.key(0), x, labels, mask, jnp.array([3, 3]), num_clusters=2,
                                 max_new=4, method="adasyn")
    with pytest.raises(ValueError, match="candidate set .* has 4 entries but max_size is 3"):
        smote(jax.random.key(0), x, labels, mask, jnp.array([4, 4]), max_new=4, k_neighbors=2, max_candidates=3)
    with pytest.raises(ValueError, match="unknown ENN kind_sel 'any'"):
        cleaning.enn_mask(x, labels, mask, jnp.array([True, True]), kind_sel="any")


def _subset(seed, counts_per_class, n=240, d=3):
    """A pool ``x, labels`` and a training subset with the given class counts."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(counts_per_class), n)
    x = rng.normal(size=(n, d)).astype(np.float32) + labels[:, None] * 0.7
    mask = subset_mask(jax.random.key(seed), jnp.asarray(labels), jnp.asarray(counts_per_class))
    return jnp.asarray(x), jnp.asarray(labels), mask


@pytest.mark.slow
@pytest.mark.parametrize("form", OVER_STRINGS + [{0: 30, 2: 25}])
def test_ros_indices_reproduce_imblearn_class_counts(form):
    _, labels, mask = _subset(1, [25, 6, 14])
    y = np.asarray(labels)[np.asarray(mask)]
    target = strategy.target_counts(masked_class_counts(labels, mask, 3), form, kind="over")
    indices, valid = _ros(jax.random.key(2), labels, mask, target, 96)
    indices = np.asarray(indices)[: int(valid)]
    expected = _imblearn_counts(RandomOverSampler(sampling_strategy=form), y)
    assert Counter(np.asarray(labels)[indices].tolist()) == expected
    np.testing.assert_array_equal(indices[: len(y)], np.flatnonzero(mask))  # originals first, pool order
    assert np.all(np.asarray(mask)[indices])


@pytest.mark.parametrize("form", UNDER_STRINGS + [{0: 3, 1: 6}])
def test_rus_indices_reproduce_imblearn_class_counts(form):
    _, labels, mask = _subset(3, [25, 6, 14])
    y = np.asarray(labels)[np.asarray(mask)]
    target = strategy.target_counts(masked_class_counts(labels, mask, 3), form, kind="under")
    indices, valid = _rus(jax.random.key(4), labels, mask, target, 64)
    indices = np.asarray(indices)[: int(valid)]
    expected = _imblearn_counts(RandomUnderSampler(sampling_strategy=form), y)
    assert Counter(np.asarray(labels)[indices].tolist()) == expected
    assert len(set(indices.tolist())) == len(indices) and np.all(np.asarray(mask)[indices])


# --- kNN -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_knn_equals_sklearn_with_candidates_self_exclusion_and_groups():
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(230, 6)).astype(np.float32)
    group = rng.integers(0, 3, 230)
    candidate = rng.random(230) < 0.6
    query_index = rng.choice(230, 70, replace=False)
    k = 4
    indices, distances = neighbors.knn(jnp.asarray(pool[query_index]), jnp.asarray(pool), k,
                                       candidate_mask=jnp.asarray(candidate), query_index=jnp.asarray(query_index),
                                       query_group=jnp.asarray(group[query_index]), pool_group=jnp.asarray(group),
                                       chunk_size=32)
    for row, q in enumerate(query_index):
        allowed = np.flatnonzero(candidate & (group == group[q]) & (np.arange(230) != q))
        ref_distance, ref_index = NearestNeighbors(n_neighbors=k).fit(pool[allowed]).kneighbors(pool[q:q + 1])
        np.testing.assert_array_equal(indices[row], allowed[ref_index[0]])
        np.testing.assert_allclose(distances[row], ref_distance[0], rtol=1e-5, atol=1e-5)


def test_knn_marks_missing_neighbours():
    pool = jnp.arange(10.0)[:, None]
    indices, distances = neighbors.knn(pool[:2], pool, 3, candidate_mask=jnp.arange(10) < 3,
                                       query_index=jnp.array([0, 1]))
    np.testing.assert_array_equal(indices, [[1, 2, -1], [0, 2, -1]])
    assert np.all(np.isinf(np.asarray(distances)[:, 2]))


# --- SMOTE family --------------------------------------------------------------------------------

def _segment_residual(points, starts, ends):
    """Distance of each point from the segment [start, end] (0 when on it)."""
    direction = ends - starts
    t = np.clip(np.sum((points - starts) * direction, -1) / np.maximum(np.sum(direction ** 2, -1), 1e-12), 0, 1)
    return np.linalg.norm(points - starts - t[..., None] * direction, axis=-1)


def _class_knn_table(x, labels, mask, k, same_class=True):
    """sklearn: pool index -> pool indices of its k nearest subset examples (same class or any)."""
    table = {}
    for c in np.unique(labels[mask]):
        members = np.flatnonzero(mask & (labels == c)) if same_class else np.flatnonzero(mask)
        queries = np.flatnonzero(mask & (labels == c))
        found = NearestNeighbors(n_neighbors=k + 1).fit(x[members]).kneighbors(x[queries], return_distance=False)
        table.update({q: set(members[row[1:]].tolist()) for q, row in zip(queries, found)})
    return table


@pytest.mark.slow
def test_smote_points_lie_on_segments_to_k_nearest_class_neighbours():
    x, labels, mask = _subset(5, [40, 9, 17])
    target = strategy.target_counts(masked_class_counts(labels, mask, 3), "auto", kind="over")
    out = _smote(jax.random.key(0), x, labels, mask, target, max_new=64, chunk_size=16)
    x, labels, mask = map(np.asarray, (x, labels, mask))
    valid = np.asarray(out.valid)
    assert Counter(np.asarray(out.labels)[valid].tolist()) == {1: 31, 2: 23}
    assert np.all(np.asarray(out.labels)[~valid] == -1) and np.all(np.asarray(out.points)[~valid] == 0)
    points = np.asarray(out.points)[valid]
    # Without trusting seed/neighbor: every point is on a segment (s, n), s of its class, n in sklearn's 5-NN of s.
    table = _class_knn_table(x, labels, mask, 5)
    for point, label in zip(points, np.asarray(out.labels)[valid]):
        pairs = np.array([(s, n) for s in np.flatnonzero(mask & (labels == label)) for n in table[s]])
        assert _segment_residual(point[None], x[pairs[:, 0]], x[pairs[:, 1]]).min() < 1e-5
    seed, neighbor = np.asarray(out.seed)[valid], np.asarray(out.neighbor)[valid]
    assert all(n in table[s] for s, n in zip(seed, neighbor))
    assert np.all(_segment_residual(points, x[seed], x[neighbor]) < 1e-5)
    # Gathering the candidates (the 26 examples of classes 1 and 2) first gives the same samples.
    compact = _smote(jax.random.key(0), *map(jnp.asarray, (x, labels, mask)), target, max_new=64, max_candidates=32,
                     chunk_size=16)
    jax.tree.map(np.testing.assert_array_equal, compact, out)


def _overlapping_binary(seed, n=160):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.25).astype(int)
    x = rng.normal(size=(n, 2)).astype(np.float32) + labels[:, None] * 1.2
    return x, labels


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["borderline-1", "borderline-2"])
def test_borderline_danger_sets_and_points_match_imblearn(kind):
    x, labels = _overlapping_binary(7)
    mask = np.ones(len(labels), bool)
    mask[::7] = False  # the pool is larger than the subset
    reference = BorderlineSMOTE(kind=kind, random_state=0)
    reference.fit_resample(x[mask], labels[mask])
    expected_danger = np.flatnonzero(mask)[reference.in_danger_indices[1]]
    danger = np.asarray(borderline_danger(jnp.asarray(x), jnp.asarray(labels), jnp.asarray(mask)))
    np.testing.assert_array_equal(np.flatnonzero(danger & (labels == 1)), expected_danger)

    target = strategy.target_counts(masked_class_counts(jnp.asarray(labels), jnp.asarray(mask), 2), "auto", kind="over")
    out = _borderline(jax.random.key(1), jnp.asarray(x), jnp.asarray(labels), jnp.asarray(mask), target,
                      max_new=128, kind=kind, chunk_size=32)
    valid = np.asarray(out.valid)
    assert valid.sum() == int(target[1]) - int(np.sum(mask & (labels == 1)))
    seed, neighbor, points = np.asarray(out.seed)[valid], np.asarray(out.neighbor)[valid], np.asarray(out.points)[valid]
    assert set(seed.tolist()) <= set(expected_danger.tolist())
    table = _class_knn_table(x, labels, mask, 5, same_class=kind == "borderline-1")
    assert all(n in table[s] for s, n in zip(seed, neighbor))
    assert np.all(_segment_residual(points, x[seed], x[neighbor]) < 1e-5)
    if kind == "borderline-2":  # (borderline-1's compacted path is the one SMOTE's test checks)
        compact = _borderline(jax.random.key(1), jnp.asarray(x), jnp.asarray(labels), jnp.asarray(mask), target,
                              max_new=128, kind=kind, max_candidates=48, chunk_size=32)
        jax.tree.map(np.testing.assert_array_equal, compact, out)
        other = labels[neighbor] != 1
        assert other.any()
        fraction = np.linalg.norm(points - x[seed], axis=1) / np.linalg.norm(x[neighbor] - x[seed], axis=1)
        assert np.all(fraction[other] <= 0.5 + 1e-6)


def _greedy_cluster_fill(sizes, extra):
    """NumPy reference: add the new examples one at a time to the currently smallest non-empty cluster."""
    final = sizes.astype(float).copy()
    final[sizes == 0] = np.inf
    for c, budget in enumerate(extra):
        for _ in range(budget):
            final[c, np.argmin(final[c])] += 1
    return np.where(sizes > 0, final, 0).astype(int) - sizes


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.lists(st.integers(0, 20), min_size=4, max_size=4), min_size=3, max_size=3),
       extra=st.lists(st.integers(0, 40), min_size=3, max_size=3))
def test_equalize_cluster_counts_is_water_filling(sizes, extra):
    sizes, extra = np.array(sizes), np.array(extra)
    extra = np.where(sizes.sum(1) > 0, extra, 0)
    new = np.asarray(_equalize_jit(jnp.asarray(sizes), jnp.asarray(extra)))
    np.testing.assert_array_equal(new.sum(1), extra)
    assert np.all(new >= 0) and np.all(new[sizes == 0] == 0)
    reference = _greedy_cluster_fill(sizes, extra)
    np.testing.assert_array_equal(np.sort(sizes + new, axis=1), np.sort(sizes + reference, axis=1))


_equalize_jit = jax.jit(equalize_cluster_counts)


def test_class_kmeans_reaches_a_lloyd_fixed_point():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 2)) * 6
    blob = rng.integers(0, 6, 300)
    x = (centres[blob] + rng.normal(size=(300, 2)) * 0.5).astype(np.float32)
    labels = blob % 2  # each class is three blobs
    mask = rng.random(300) < 0.8
    kmeans = jax.jit(neighbors.class_kmeans, static_argnums=(4, 5), static_argnames=("num_iters",))
    cluster, centroids, sizes = kmeans(jax.random.key(3), jnp.asarray(x), jnp.asarray(labels), jnp.asarray(mask), 2, 3,
                                       num_iters=30)
    cluster, centroids, sizes = map(np.asarray, (cluster, centroids, sizes))
    for c in range(2):
        members = mask & (labels == c)
        nearest = np.argmin(((x[members, None, :] - centroids[c][None]) ** 2).sum(-1), axis=1)
        np.testing.assert_array_equal(cluster[members], nearest)
        np.testing.assert_array_equal(sizes[c], np.bincount(cluster[members], minlength=3))
        for k in range(3):
            np.testing.assert_allclose(centroids[c, k], x[members & (cluster == k)].mean(0), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["smote", "ros"])
def test_cluster_oversample_stays_inside_clusters_and_equalizes(method):
    x, labels, mask = _subset(9, [50, 12, 20])
    target = strategy.target_counts(masked_class_counts(labels, mask, 3), "auto", kind="over")
    out, cluster = _cluster(jax.random.key(0), x, labels, mask, target, num_clusters=3, max_new=96, method=method,
                            chunk_size=32)
    x, labels, mask, cluster = map(np.asarray, (x, labels, mask, cluster))
    valid = np.asarray(out.valid)
    seed, neighbor, points = np.asarray(out.seed)[valid], np.asarray(out.neighbor)[valid], np.asarray(out.points)[valid]
    new_labels = np.asarray(out.labels)[valid]
    assert Counter(new_labels.tolist()) == {1: 38, 2: 30}
    assert np.all(labels[seed] == new_labels) and np.all(labels[neighbor] == new_labels)
    assert np.all(cluster[seed] == cluster[neighbor]) and np.all(mask[seed] & mask[neighbor])
    if method == "ros":
        np.testing.assert_array_equal(points, x[seed])
    else:
        assert np.all(_segment_residual(points, x[seed], x[neighbor]) < 1e-5)
    sizes = np.array([np.bincount(cluster[mask & (labels == c)], minlength=3) for c in range(3)])
    added = np.array([np.bincount(cluster[seed[new_labels == c]], minlength=3) for c in range(3)])
    np.testing.assert_array_equal(added, equalize_cluster_counts(jnp.asarray(sizes), jnp.asarray([0, 38, 30])))


# --- cleaning ------------------------------------------------------------------------------------

def _cleaning_data(seed, num_classes):
    rng = np.random.default_rng(seed)
    n = 180
    labels = rng.choice(num_classes, n, p=np.linspace(3, 1, num_classes) / np.linspace(3, 1, num_classes).sum())
    x = rng.normal(size=(n, 3)).astype(np.float32) + labels[:, None] * 0.8
    mask = rng.random(n) < 0.85
    return x, labels, mask


def _keep_from_imblearn(sampler, x, labels, mask):
    sampler.fit_resample(x[mask], labels[mask])
    keep = np.zeros(len(labels), bool)
    keep[np.flatnonzero(mask)[sampler.sample_indices_]] = True
    return keep


@pytest.mark.slow
@pytest.mark.parametrize("num_classes, seed", [(2, 0), (3, 1)])
def test_cleaning_removes_exactly_what_imblearn_removes(num_classes, seed):
    x, labels, mask = _cleaning_data(seed, num_classes)
    args = tuple(map(jnp.asarray, (x, labels, mask)))
    counts = masked_class_counts(args[1], args[2], num_classes)
    assert len(set(np.asarray(counts).tolist())) == num_classes  # no ties for the minority class
    clean = strategy.targeted_classes(counts, "auto", kind="clean")
    under = strategy.target_counts(counts, "auto", kind="under")
    cases = [
        (_tomek(*args, clean, chunk_size=60), TomekLinks()),
        (_enn(*args, clean, chunk_size=60), EditedNearestNeighbours()),
        (_enn(*args, clean, kind_sel="mode", chunk_size=60), EditedNearestNeighbours(kind_sel="mode")),
        (_nearmiss(*args, under, chunk_size=60), NearMiss(version=1)),
    ]
    for ours, reference in cases:
        expected = _keep_from_imblearn(reference, x, labels, mask)
        assert expected.sum() < mask.sum(), type(reference).__name__  # the case removes something
        np.testing.assert_array_equal(np.asarray(ours), expected, err_msg=type(reference).__name__)


def test_cleaning_with_other_strategies_matches_imblearn():
    x, labels, mask = _cleaning_data(4, 3)
    args = tuple(map(jnp.asarray, (x, labels, mask)))
    counts = masked_class_counts(args[1], args[2], 3)
    for name in ("all", "majority", [0, 2]):
        clean = strategy.targeted_classes(counts, name, kind="clean")
        expected = _keep_from_imblearn(EditedNearestNeighbours(sampling_strategy=name), x, labels, mask)
        np.testing.assert_array_equal(_enn(*args, clean, chunk_size=60), expected)
        np.testing.assert_array_equal(_tomek(*args, clean, chunk_size=60),
                                      _keep_from_imblearn(TomekLinks(sampling_strategy=name), x, labels, mask))
    under = strategy.target_counts(counts, {0: 10, 1: 20}, kind="under")
    np.testing.assert_array_equal(_nearmiss(*args, under, chunk_size=60),
                                  _keep_from_imblearn(NearMiss(sampling_strategy={0: 10, 1: 20}), x, labels, mask))


# --- dynamic sampling (survey Eq. 11) --------------------------------------------------------------

def test_dynamic_sample_sizes_follow_eq_11_over_rounds():
    rounds = np.array([[0.2, 0.5, 0.9], [0.6, 0.6, 0.9], [0.9, 0.95, 0.99], [1.0, 1.0, 1.0]])
    expected = np.array([[57.142857, 35.714286, 7.142857],    # (0.8, 0.5, 0.1) / 1.4 * 100
                         [44.444444, 44.444444, 11.111111],   # (0.4, 0.4, 0.1) / 0.9 * 100
                         [62.5, 31.25, 6.25],                  # (0.1, 0.05, 0.01) / 0.16 * 100
                         [100 / 3, 100 / 3, 100 / 3]])         # all F1 = 1: uniform N*/C
    for f1, sizes in zip(rounds, expected):
        np.testing.assert_allclose(dynamic.dynamic_sample_sizes(jnp.asarray(f1), 100.0), sizes, rtol=1e-4)
    traced = jax.jit(jax.vmap(dynamic.dynamic_sample_sizes, in_axes=(0, None)))(jnp.asarray(rounds), 100.0)
    np.testing.assert_allclose(traced, expected, rtol=1e-4)


def test_class_size_weights_give_each_class_its_size():
    _, labels, mask = _subset(11, [30, 5, 12])
    sizes = jnp.array([10.0, 60.0, 30.0])
    weights = np.asarray(dynamic.class_size_weights(labels, mask, sizes))
    np.testing.assert_allclose(np.bincount(np.asarray(labels), weights=weights, minlength=3), sizes, rtol=1e-5)
    assert np.all(weights[~np.asarray(mask)] == 0)


# --- vmap over seeds equals a loop, with traced counts ---------------------------------------------

@pytest.mark.slow
def test_vmap_over_seeds_with_traced_counts_equals_a_loop():
    x, labels, _ = _subset(13, [30, 8, 15])
    keys = jax.random.split(jax.random.key(0), 3)
    masks = jax.vmap(lambda key: subset_mask(key, labels, jnp.array([30, 8, 15])))(keys)

    def run(key, mask):
        ros_key, smote_key, cluster_key = jax.random.split(key, 3)
        over = strategy.target_counts(masked_class_counts(labels, mask, 3), "auto", kind="over")  # traced counts
        return (strategy.ros_indices(ros_key, labels, mask, over, 96),
                smote(smote_key, x, labels, mask, over, max_new=64, chunk_size=16),
                cluster_oversample(cluster_key, x, labels, mask, over, num_clusters=3, max_new=96,
                                         method="smote", chunk_size=32))

    batched = jax.jit(jax.vmap(run))(keys, masks)
    for i, (key, mask) in enumerate(zip(keys, masks)):
        ros_key, smote_key, cluster_key = jax.random.split(key, 3)
        over = strategy.target_counts(masked_class_counts(labels, mask, 3), "auto", kind="over")  # concrete: NumPy path
        looped = (_ros(ros_key, labels, mask, over, 96),
                  _smote(smote_key, x, labels, mask, over, max_new=64, chunk_size=16),
                  _cluster(cluster_key, x, labels, mask, over, num_clusters=3, max_new=96, method="smote",
                           chunk_size=32))
        for got, want in zip(jax.tree.leaves(jax.tree.map(lambda a, i=i: a[i], batched)), jax.tree.leaves(looped)):
            if jnp.issubdtype(want.dtype, jnp.floating):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
            else:
                np.testing.assert_array_equal(got, want)
    assert np.asarray(batched[1].valid).sum(1).tolist() == [37, 37, 37]
