"""imbjax.imbalance against NumPy references, inside jit/vmap, and its error messages."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imbjax import imbalance


def reference_sizes(num_classes, n_max, profile, rho, mu):
    """The profiles' class sizes in float64, before flooring, as the papers' code computes them."""
    c = np.arange(num_classes)
    if profile == "step":
        num_minority = min(int(np.round(mu * num_classes)), num_classes - 1)
        return np.where(c >= num_classes - num_minority, n_max / rho, float(n_max))
    if profile == "linear":
        return n_max - (n_max - n_max / rho) * c / (num_classes - 1)
    return n_max * rho ** (-c / (num_classes - 1))


def reference_counts(num_classes, n_max, profile, rho, mu):
    return np.floor(reference_sizes(num_classes, n_max, profile, rho, mu)).astype(int).tolist()


def test_cifar10_lt_counts():
    counts = imbalance.class_counts(10, 5000, profile="exp", rho=100)
    assert counts.tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_step_and_linear_examples():
    assert imbalance.class_counts(10, 100, profile="step", rho=10, mu=0.5).tolist() == [100] * 5 + [10] * 5
    assert imbalance.class_counts(10, 100, profile="step", rho=10, mu=0.2).tolist() == [100] * 8 + [10] * 2
    assert imbalance.class_counts(5, 100, profile="linear", rho=5).tolist() == [100, 80, 60, 40, 20]


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(num_classes=st.integers(2, 12), n_max=st.integers(1, 6000), profile=st.sampled_from(imbalance.PROFILES),
       rho=st.floats(1.0, 500.0), mu=st.floats(0.05, 0.95))
def test_counts_match_float64_reference(num_classes, n_max, profile, rho, mu):
    got = np.asarray(imbalance.class_counts(num_classes, n_max, profile=profile, rho=rho, mu=mu))
    sizes = reference_sizes(num_classes, n_max, profile, rho, mu)
    want = np.floor(sizes).astype(int)
    # float32 arithmetic may round to the integer just above a size only when the size lies within
    # the documented tolerance (plus float32 error) below it; everywhere else the counts are equal.
    near_integer = (np.ceil(sizes) - sizes > 0) & (np.ceil(sizes) - sizes < 2e-3)
    assert got.shape == (num_classes,)
    np.testing.assert_array_equal(got[~near_integer], want[~near_integer])
    assert np.all((got == want) | (near_integer & (got == want + 1)))
    assert got[0] == n_max


def test_counts_traced_inside_jit_and_vmap():
    rhos = jnp.array([1.0, 10.0, 100.0])
    mus = jnp.array([0.2, 0.5, 0.8])
    got = jax.jit(jax.vmap(lambda r, m: imbalance.class_counts(10, 1000, profile="step", rho=r, mu=m)))(rhos, mus)
    for row, rho, mu in zip(got, rhos.tolist(), mus.tolist()):
        assert row.tolist() == reference_counts(10, 1000, "step", rho, mu)


POOL_SIZE, MAX_CLASSES = 300, 6


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), num_classes=st.integers(2, MAX_CLASSES), n=st.integers(10, POOL_SIZE))
def test_subset_mask_takes_exactly_the_counts(seed, num_classes, n):
    """Random pools of n <= 300 examples, padded to a fixed shape (one compile): the padding is
    outside the pool and every class gets exactly min(wanted, available in the pool)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, POOL_SIZE)
    available = np.bincount(labels, minlength=MAX_CLASSES)
    wanted = np.zeros(MAX_CLASSES, int)
    wanted[:num_classes] = rng.integers(0, n // num_classes + 3, num_classes)
    pool = (rng.random(POOL_SIZE) < 0.8) & (np.arange(POOL_SIZE) < n)
    mask = np.asarray(_subset(jax.random.PRNGKey(seed), jnp.asarray(labels), jnp.asarray(wanted), jnp.asarray(pool)))
    in_pool = np.bincount(labels[pool], minlength=MAX_CLASSES)
    np.testing.assert_array_equal(np.bincount(labels[mask], minlength=MAX_CLASSES), np.minimum(wanted, in_pool))
    assert not np.any(mask & ~pool)
    assert available.sum() == POOL_SIZE


_subset = jax.jit(lambda key, labels, counts, pool: imbalance.subset_mask(key, labels, counts, pool=pool))


@pytest.mark.slow
def test_subset_mask_is_uniform_within_a_class():
    labels = jnp.zeros(10, jnp.int32)
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    masks = jax.vmap(lambda k: imbalance.subset_mask(k, labels, jnp.array([3])))(keys)
    frequency = np.asarray(masks).mean(0)
    # Each example is chosen with probability 3/10; 4,000 draws give a standard error of 0.0072.
    np.testing.assert_allclose(frequency, 0.3, atol=5 * math.sqrt(0.3 * 0.7 / 4000))


def test_subsets_are_nested_across_rho_for_one_seed():
    labels = jnp.asarray(np.repeat(np.arange(4), 50))
    key = jax.random.PRNGKey(3)
    small, _ = imbalance.imbalanced_subset(key, labels, 4, 50, profile="step", rho=25.0, mu=0.5)
    large, _ = imbalance.imbalanced_subset(key, labels, 4, 50, profile="step", rho=5.0, mu=0.5)
    assert np.all(np.asarray(large)[np.asarray(small)])


def test_random_minority_choice_is_a_permutation_per_key():
    labels = jnp.asarray(np.repeat(np.arange(6), 40))
    chosen = set()
    for seed in range(8):
        _, counts = imbalance.imbalanced_subset(jax.random.PRNGKey(seed), labels, 6, 40, profile="step",
                                                rho=10.0, mu=0.5, minority="random")
        assert sorted(counts.tolist()) == [4, 4, 4, 40, 40, 40]
        chosen.add(tuple(np.flatnonzero(np.asarray(counts) == 4)))
    assert len(chosen) > 1


def test_default_minority_classes_are_the_last():
    labels = jnp.asarray(np.repeat(np.arange(4), 30))
    _, counts = imbalance.imbalanced_subset(jax.random.PRNGKey(0), labels, 4, 30, profile="step", rho=3.0, mu=0.5)
    assert counts.tolist() == [30, 30, 10, 10]


def test_imbalance_ratio_ignores_empty_classes():
    assert float(imbalance.imbalance_ratio(jnp.array([100, 10, 0]))) == 10.0
    assert float(imbalance.imbalance_ratio(jnp.array([7, 0, 0]))) == 1.0
    labels = jnp.array([0, 0, 0, 1, 2, 2])
    counts = imbalance.masked_class_counts(labels, jnp.array([1, 1, 1, 1, 1, 0], bool), 3)
    assert counts.tolist() == [3, 1, 1]


@pytest.mark.parametrize("kwargs, message", [
    ({"profile": "zipf", "rho": 10}, "unknown imbalance profile 'zipf'"),
    ({"profile": "step", "rho": 0.5}, "rho must be >= 1, got 0.5"),
    ({"profile": "step", "rho": 10, "mu": 1.0}, "mu must lie in the open interval (0, 1), got 1.0"),
    ({"profile": "step", "rho": 10, "mu": 0.0}, "got 0.0"),
])
def test_bad_profile_arguments(kwargs, message):
    with pytest.raises(ValueError) as err:
        imbalance.check_profile(kwargs["profile"], rho=kwargs.get("rho"), mu=kwargs.get("mu"))
    assert message in str(err.value)
    if "zipf" in message:
        assert "step" in str(err.value) and "exp" in str(err.value)
