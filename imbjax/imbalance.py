"""Class-imbalance profiles and imbalanced subsets of a fixed pool.

Imbalance is applied as a boolean *mask* over a fixed training pool, so every run of a sweep
shares the same arrays and shapes; ``rho`` and ``mu`` may be traced arrays (sweep axes).

Profiles (head classes first; which real class takes which position is chosen by ``order``):

* ``"step"`` (Buda et al. 2018): a fraction ``mu`` of the classes are minority classes with
  ``floor(n_max / rho)`` examples each, the others keep ``n_max``.
* ``"linear"`` (Buda et al. 2018): sizes evenly spaced from ``n_max`` (position 0) down to
  ``n_max / rho`` (last position), floored.
* ``"exp"`` (Cao et al. 2019, how CIFAR-10-LT is made): ``n_i = int(n_max * rho**(-i / (C-1)))``.
* ``"natural"``: a data set that is imbalanced already, used at its own imbalance: every example of
  the pool (less a validation part) trains, so ``n_max``, ``rho``, ``mu`` and the minority choice
  do not apply; the sweep records the pool's own ratio as the run's ``rho``.

The imbalance ratio is survey Eq. 1: rho = max_i |C_i| / min_i |C_i|.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: Profiles that set class counts from ``n_max``, ``rho`` (and ``mu``).
PROFILES = ("step", "linear", "exp")
#: The profile that trains on the whole pool, at the data set's own imbalance.
NATURAL = "natural"
MINORITY_CHOICES = ("last", "random")

# Counts are computed in float32; a value within this distance below an integer is taken to be
# that integer, so that e.g. 5000 * 100**-1 gives 50 and not 49.
_FLOOR_TOLERANCE = 1e-3


def check_profile(profile: str, rho=None, mu=None) -> None:
    """Raise a ``ValueError`` for an unknown profile, rho < 1 or mu outside (0, 1).

    Only concrete (non-traced) values are checked; call this before compiling a sweep.
    """
    if profile not in (*PROFILES, NATURAL):
        raise ValueError(f"unknown imbalance profile {profile!r}; choose one of {[*PROFILES, NATURAL]}")
    if rho is not None:
        bad = [float(r) for r in np.atleast_1d(rho) if not r >= 1.0]
        if bad:
            raise ValueError(f"imbalance ratio rho must be >= 1, got {bad[0]!r}")
    if mu is not None:
        bad = [float(m) for m in np.atleast_1d(mu) if not 0.0 < m < 1.0]
        if bad:
            raise ValueError(f"minority fraction mu must lie in the open interval (0, 1), got {bad[0]!r}")


def _floor(values: jax.Array) -> jax.Array:
    return jnp.floor(values + _FLOOR_TOLERANCE).astype(jnp.int32)


def class_counts(num_classes: int, n_max, *, profile: str, rho, mu=0.5) -> jax.Array:
    """Examples per class position, head (largest) first: ``int32[num_classes]``.

    Args:
      num_classes: C, static.
      n_max: examples of the largest class (scalar, may be traced).
      profile: ``"step"``, ``"linear"`` or ``"exp"`` (static; see the module docstring).
      rho: imbalance ratio >= 1 (may be traced).
      mu: fraction of minority classes for ``"step"`` (may be traced); the number of minority
        classes is ``round(mu * C)`` (half to even), at most ``C - 1`` so that one majority
        class remains (``mu * C < 0.5`` gives no minority class at all).

    Example: ``class_counts(10, 5000, profile="exp", rho=100)`` is
    ``[5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]`` (CIFAR-10-LT).
    """
    check_profile(profile)
    if profile == NATURAL:
        raise ValueError("the natural profile keeps every pool example; it has no class counts of its own "
                         "(imbalanced_subset gives its subset)")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes!r}")
    n_max = jnp.asarray(n_max, jnp.float32)
    rho = jnp.asarray(rho, jnp.float32)
    position = jnp.arange(num_classes, dtype=jnp.float32)
    if profile == "step":
        num_minority = jnp.minimum(jnp.round(jnp.asarray(mu, jnp.float32) * num_classes), num_classes - 1)
        is_minority = position >= num_classes - num_minority
        return jnp.where(is_minority, _floor(n_max / rho), _floor(n_max))
    fraction = position / (num_classes - 1)
    if profile == "linear":
        return _floor(n_max - (n_max - n_max / rho) * fraction)
    return _floor(n_max * jnp.exp(-fraction * jnp.log(rho)))


def class_order(key: jax.Array | None, num_classes: int, *, minority: str = "last") -> jax.Array:
    """Which class takes each profile position: ``int32[num_classes]``.

    ``"last"`` keeps class c at position c, so the last classes are the minority classes;
    ``"random"`` draws a permutation from ``key`` (Buda et al.'s MNIST study chose the minority
    classes at random for every run).
    """
    if minority not in MINORITY_CHOICES:
        raise ValueError(f"unknown minority choice {minority!r}; choose one of {list(MINORITY_CHOICES)}")
    if minority == "last":
        return jnp.arange(num_classes, dtype=jnp.int32)
    return jax.random.permutation(key, num_classes).astype(jnp.int32)


def counts_for_classes(position_counts: jax.Array, order: jax.Array) -> jax.Array:
    """Re-index counts given per position to counts per class: ``counts[order[p]] = position_counts[p]``."""
    return jnp.zeros_like(position_counts).at[order].set(position_counts)


def subset_mask(key: jax.Array, labels: jax.Array, counts: jax.Array, *, pool: jax.Array | None = None) -> jax.Array:
    """Choose exactly ``min(counts[c], available_c)`` random examples of each class c.

    Args:
      key: PRNG key.
      labels: ``int[N]`` labels of the pool.
      counts: ``int[C]`` wanted examples per class (may be traced).
      pool: optional ``bool[N]``: only these examples may be chosen (default: all).

    Returns:
      ``bool[N]``, the chosen subset. Fixed shape, jit/vmap-able. Uses a random permutation
      followed by a stable sort by label, so the rank of an example within its class is uniform.
    """
    n = labels.shape[0]
    num_classes = counts.shape[0]
    pool = jnp.ones(n, bool) if pool is None else pool
    # Examples outside the pool get label C, sorting after every real class.
    sort_labels = jnp.where(pool, labels, num_classes)
    shuffled = jax.random.permutation(key, n)
    order = shuffled[jnp.argsort(sort_labels[shuffled], stable=True)]
    available = jnp.bincount(sort_labels, length=num_classes + 1)
    class_start = jnp.cumsum(available) - available
    position = jnp.empty(n, jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))
    rank_in_class = position - class_start[sort_labels]
    wanted = jnp.append(counts, 0)[sort_labels]
    return pool & (rank_in_class < wanted)


def masked_class_counts(labels: jax.Array, mask: jax.Array, num_classes: int) -> jax.Array:
    """Examples per class among ``mask``: ``int32[num_classes]``."""
    return jnp.bincount(labels, weights=mask.astype(jnp.int32), length=num_classes).astype(jnp.int32)


def holdout_counts(class_counts: jax.Array, fraction) -> jax.Array:
    """Examples per class to hold out for validation, ``int32[C]``: ``floor(fraction * n_c)``, at most
    ``n_c - 1`` so every class keeps a training example. ``fraction`` (may be traced) is clipped to
    [0, 1]."""
    counts = jnp.asarray(class_counts, jnp.int32)
    wanted = jnp.floor(jnp.clip(fraction, 0.0, 1.0) * counts + 1e-4)
    return jnp.clip(wanted.astype(jnp.int32), 0, jnp.maximum(counts - 1, 0))


def validation_split(key: jax.Array, labels: jax.Array, num_classes: int, fraction: float
                     ) -> tuple[jax.Array, jax.Array]:
    """Carve a stratified validation part out of the whole pool: ``(pool_mask, validation_mask)``.

    ``floor(fraction * n_c)`` random examples of every pool class c (:func:`holdout_counts`) are
    held out, *before* any imbalanced subset is chosen; the subset is then drawn from ``pool_mask``.
    Every method of one seed therefore trains on the same examples and validates on the same ones
    (methods that tune on validation data and methods that do not stay paired). ``fraction`` is static
    here (it sets which pool the subset is drawn from); 0 holds out nothing and returns the whole pool.
    """
    if not fraction:
        return jnp.ones(labels.shape, bool), jnp.zeros(labels.shape, bool)
    pool_counts = jnp.bincount(labels, length=num_classes)
    validation = subset_mask(key, labels, holdout_counts(pool_counts, fraction))
    return ~validation, validation


def pool_class_counts_after_validation(pool_counts, fraction: float) -> np.ndarray:
    """Examples per class left for training after :func:`validation_split`: ``n_c - floor(fraction * n_c)``."""
    counts = np.asarray(pool_counts, np.int64)
    return counts - np.asarray(holdout_counts(counts, fraction))


def _is_exact(n_max: int, rho: float) -> bool:
    """Whether ``n_max / rho`` is a whole number >= 1 (so the profile's smallest class is exactly
    ``n_max / rho`` and the trained ratio is exactly ``rho``)."""
    smallest = n_max / rho
    return smallest >= 1 - 1e-9 and abs(smallest - round(smallest)) <= 1e-6 * max(smallest, 1.0)


def exact_rhos(n_max: int, rhos) -> list[float]:
    """The ratios among ``rhos`` that ``n_max`` trains exactly (``n_max / rho`` whole, >= 1)."""
    return [float(r) for r in rhos if _is_exact(n_max, float(r))]


def exact_n_max(available: int, rhos, *, requested: int = 0, dataset: str = "the data set") -> int:
    """The largest class size ``n_max <= available`` at which every ratio of ``rhos`` is exact.

    A profile's smallest class has ``floor(n_max / rho)`` examples, so the trained ratio (survey Eq. 1,
    :func:`imbalance_ratio`) is ``rho`` itself only when ``n_max / rho`` is a whole number: digits'
    smallest pool class has 122 examples, and ``rho = 50`` at ``n_max = 122`` trains at 122 : 2 = 61.
    ``requested`` (``config.n_max``; 0 = choose) is checked instead of chosen. Raises one
    ``ValueError`` naming the ratios that cannot be reached and the ones that can.
    """
    rhos = sorted({float(r) for r in rhos})
    if requested:
        if requested > available:
            raise ValueError(f"n_max={requested} exceeds the smallest class of {dataset} ({available} examples "
                             f"available for training); choose n_max <= {available}, or 0 for automatic")
        candidates = [requested]
    else:
        candidates = range(available, 0, -1)
    for n_max in candidates:
        if len(exact_rhos(n_max, rhos)) == len(rhos):
            return n_max
    n_max = candidates[0]
    inexact = [r for r in rhos if r not in exact_rhos(n_max, rhos)]
    if requested:
        raise ValueError(f"n_max={requested} does not train rho {', '.join(f'{r:g}' for r in inexact)} exactly "
                         f"on {dataset} (n_max / rho must be a whole number); with n_max={requested} the "
                         f"reachable ratios are the divisors of {requested}, e.g. "
                         f"{[d for d in range(1, requested + 1) if requested % d == 0][:12]}; or set n_max=0")
    best = max(range(1, available + 1), key=lambda n: (len(exact_rhos(n, rhos)), n))
    raise ValueError(f"no n_max <= {available} (the smallest class of {dataset}) trains every rho of "
                     f"{[f'{r:g}' for r in rhos]} exactly (n_max / rho must be a whole number); n_max={best} "
                     f"reaches {[f'{r:g}' for r in exact_rhos(best, rhos)]}: choose rhos that divide one "
                     f"n_max <= {available}")


def imbalance_ratio(counts: jax.Array) -> jax.Array:
    """Survey Eq. 1, rho = max_i |C_i| / min_i |C_i|, over classes with at least one example.

    ``inf`` is never returned for an empty class: empty classes are ignored (a subset with one
    non-empty class has rho = 1). Use :func:`masked_class_counts` to get counts from labels.
    """
    counts = jnp.asarray(counts, jnp.float32)
    present = counts > 0
    smallest = jnp.min(jnp.where(present, counts, jnp.inf))
    return jnp.max(counts) / smallest


def trained_ratio(counts: jax.Array) -> jax.Array:
    """The imbalance ratio a run trained at: :func:`imbalance_ratio` of its subset's class counts, or ``inf``
    when a class has no example (Eq. 1 with ``min_i |C_i| = 0``: the class is never seen, so no finite ratio
    describes the run; ``train_min_class`` then records the 0)."""
    counts = jnp.asarray(counts, jnp.float32)
    return jnp.where(jnp.min(counts) > 0, imbalance_ratio(counts), jnp.inf)


def imbalanced_subset(key: jax.Array, labels: jax.Array, num_classes: int, n_max, *, profile: str,
                      rho, mu=0.5, minority: str = "last", pool: jax.Array | None = None
                      ) -> tuple[jax.Array, jax.Array]:
    """The training subset of one run: ``(mask bool[N], counts int32[C])``, drawn from ``pool``
    (default: every example; the sweep passes the pool less its validation part).

    ``n_max`` should not exceed the smallest class of the pool, so every class can reach its
    profile count; the sweep chooses it with :func:`exact_n_max`. The ``"natural"`` profile's subset
    is the whole ``pool`` (``key``, ``n_max``, ``rho``, ``mu`` and ``minority`` are not used).
    """
    if profile == NATURAL:
        mask = jnp.ones(labels.shape, bool) if pool is None else pool
        return mask, masked_class_counts(labels, mask, num_classes)
    order_key, mask_key = jax.random.split(key)
    position_counts = class_counts(num_classes, n_max, profile=profile, rho=rho, mu=mu)
    counts = counts_for_classes(position_counts, class_order(order_key, num_classes, minority=minority))
    mask = subset_mask(mask_key, labels, counts, pool=pool)
    return mask, masked_class_counts(labels, mask, num_classes)
