"""imbalanced-learn's ``sampling_strategy`` as target per-class counts, and explicit ROS/RUS index sets.

``target_counts(counts, strategy, kind=...)`` follows ``imblearn.utils.check_sampling_strategy``
(imbalanced-learn 0.14) with one difference in what is returned: imblearn's over-samplers get
the number of samples to *add* per targeted class, here every function returns the **final**
number of examples of every class (``int32[C]``; classes that are not targeted keep their count).

Classes with a zero count are absent (as if they were not in imblearn's ``y``): they are never
the minority or majority class, never targeted, and their target stays 0. Ties between equally
large classes go to the lowest label (imblearn uses ``np.unique`` order, the same thing).

Static and traced inputs: the *form* of ``strategy`` (string, float, dict, array) is parsed in
Python. ``counts`` may be a traced array for every form. With concrete ``counts`` the counts are
computed in NumPy float64 exactly as imblearn does and every imblearn error is raised; with traced
counts the same formulas run in JAX (float32 for the float form, which can differ by one from
imblearn when ``ratio * n`` lies within float32 rounding of an integer) and value-dependent
checks cannot run (check with concrete counts before compiling a sweep).

Index sets (``ros_indices``, ``rus_indices``) are fixed-size ``int32[max_size]`` pool indices with
a valid count; the entries from position ``valid_count`` on are padding (index 0).
"""
from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import jax
import jax.numpy as jnp
import numpy as np

from imbjax.imbalance import masked_class_counts, subset_mask

KINDS = ("over", "under", "clean")
STRATEGY_NAMES = {
    "over": ("auto", "minority", "not minority", "not majority", "all"),
    "under": ("auto", "majority", "not minority", "not majority", "all"),
    "clean": ("auto", "majority", "not minority", "not majority", "all"),
}


def concrete_or_none(x):
    """``np.asarray(x)`` when ``x`` is a concrete value, ``None`` when it is traced under jit/vmap."""
    return None if isinstance(x, jax.core.Tracer) else np.asarray(x)


def _check_kind(kind: str, allowed=KINDS) -> None:
    if kind not in allowed:
        raise ValueError(f"unknown sampling kind {kind!r}; choose one of {list(allowed)}")


def _extreme_classes(xp, counts):
    """``(present bool[C], minority int, majority int)``: smallest / largest present class, lowest label on ties."""
    present = counts > 0
    big = np.iinfo(np.int32).max
    minority = xp.argmin(xp.where(present, counts, big))
    majority = xp.argmax(xp.where(present, counts, -1))
    return present, minority, majority


def _check_counts(counts_np) -> None:
    if counts_np.ndim != 1 or np.any(counts_np < 0):
        raise ValueError(f"class counts must be a 1-D array of non-negative integers, got {counts_np!r}")
    if np.count_nonzero(counts_np) < 2:
        raise ValueError(f"sampling needs more than 1 class with examples; class counts are {counts_np.tolist()}")


def targeted_classes(counts: jax.Array, strategy="auto", *, kind: str) -> jax.Array:
    """Which classes a string or list ``sampling_strategy`` resamples: ``bool[C]``.

    Args:
      counts: ``int[C]`` examples per class (may be traced).
      strategy: ``"auto"`` (``"not majority"`` for ``kind="over"``, ``"not minority"`` otherwise),
        ``"minority"`` (over only), ``"majority"`` (under/clean only), ``"not minority"``,
        ``"not majority"``, ``"all"``; or, for ``kind="clean"`` only, a list of class labels.
      kind: ``"over"``, ``"under"`` or ``"clean"`` (imblearn's over-, under- and clean-sampling).
    """
    _check_kind(kind)
    counts_np = concrete_or_none(counts)
    if counts_np is not None:
        _check_counts(counts_np)
    xp = jnp if counts_np is None else np
    counts = xp.asarray(counts if counts_np is None else counts_np)
    num_classes = counts.shape[0]
    present, minority, majority = _extreme_classes(xp, counts)
    if isinstance(strategy, (list, tuple)):
        if kind != "clean":
            raise ValueError(f"sampling_strategy as a list {strategy!r} is only valid for cleaning methods "
                             "(kind='clean'); use a dict or per-class array of counts")
        bad = [c for c in strategy if not (0 <= int(c) < num_classes) or (counts_np is not None and counts_np[c] == 0)]
        if bad:
            choices = np.flatnonzero(counts_np).tolist() if counts_np is not None else list(range(num_classes))
            raise ValueError(f"sampling_strategy lists {bad}, which are not classes with examples; "
                             f"choose among {choices}")
        return jnp.asarray(np.isin(np.arange(num_classes), np.asarray(strategy, int)))
    if not isinstance(strategy, str) or strategy not in STRATEGY_NAMES[kind]:
        raise ValueError(f"unknown sampling_strategy {strategy!r} for kind={kind!r}; choose one of "
                         f"{list(STRATEGY_NAMES[kind])}" + (", a list of classes" if kind == "clean" else ""))
    if strategy == "auto":
        strategy = "not majority" if kind == "over" else "not minority"
    label = xp.arange(num_classes)
    selection = {
        "all": present,
        "minority": label == minority,
        "majority": label == majority,
        "not minority": present & (label != minority),
        "not majority": present & (label != majority),
    }[strategy]
    return jnp.asarray(selection)


def target_counts(counts: jax.Array, strategy="auto", *, kind: str) -> jax.Array:
    """Final examples per class after imblearn-style resampling: ``int32[C]``.

    Args:
      counts: ``int[C]`` examples per class in the training subset (may be traced).
      strategy: as imblearn's ``sampling_strategy``:
        * a string (see :func:`targeted_classes`): targeted classes go to the majority count
          (``kind="over"``) or to the minority count (``kind="under"``);
        * a float ratio in (0, 1], binary data only (``C == 2``): over-sampling gives the minority
          class ``floor(ratio * n_majority)``; under-sampling gives the majority class
          ``floor(n_minority / ratio)``;
        * a dict ``{class: count}`` or a per-class array ``int[C]`` of final counts (over-sampling
          may only add, under-sampling may only remove).
      kind: ``"over"`` or ``"under"``.

    Raises ``ValueError`` (with concrete counts) where imblearn raises: a ratio that would remove
    minority examples while over-sampling or add majority examples while under-sampling, a float
    with other than 2 classes, an under-sampling target above a class's count, an over-sampling
    target below it, a target for an absent class, fewer than 2 classes with examples. A Python
    list is imblearn's list of classes for cleaning methods and is refused here (pass per-class
    counts as ``np.array`` / ``jnp.array``).
    """
    _check_kind(kind, ("over", "under"))
    counts_np = concrete_or_none(counts)
    if counts_np is not None:
        _check_counts(counts_np)
    if isinstance(strategy, (str, list, tuple)):
        targeted = targeted_classes(counts, strategy, kind=kind)
        counts = jnp.asarray(counts, jnp.int32)
        present = counts > 0
        level = jnp.max(counts) if kind == "over" else jnp.min(jnp.where(present, counts, jnp.iinfo(jnp.int32).max))
        return jnp.where(targeted, level, counts)
    if isinstance(strategy, Real) and not isinstance(strategy, bool):
        return _ratio_target_counts(counts, counts_np, float(strategy), kind)
    if isinstance(strategy, Mapping):
        wanted = _dict_to_array(strategy, counts_np, counts)
    else:
        wanted = strategy
    return _array_target_counts(counts, counts_np, wanted, kind)


def _ratio_target_counts(counts, counts_np, ratio: float, kind: str) -> jax.Array:
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"a float sampling_strategy must lie in (0, 1], got {ratio!r}")
    if np.shape(counts) != (2,):
        raise ValueError(f"a float sampling_strategy ({ratio!r}) needs binary data (2 classes), got class "
                         f"counts of shape {np.shape(counts)}; use a dict or per-class array for multi-class data")
    xp, counts = (jnp, jnp.asarray(counts)) if counts_np is None else (np, counts_np.astype(np.int64))
    _, minority, majority = _extreme_classes(xp, counts)
    label = xp.arange(2)
    if kind == "over":
        level = xp.floor(counts[majority] * ratio).astype(counts.dtype)
        targeted = label != majority
    else:
        level = xp.floor(counts[minority] / ratio).astype(counts.dtype)
        targeted = label != minority
    result = xp.where(targeted, level, counts)
    if counts_np is not None:
        other = counts_np[int(np.flatnonzero(targeted)[0])]
        if kind == "over" and level <= other:
            raise ValueError(f"sampling_strategy={ratio!r} would remove minority examples while over-sampling "
                             f"(class counts {counts_np.tolist()}, minority target {int(level)}); increase the ratio")
        if kind == "under" and level > other:
            raise ValueError(f"sampling_strategy={ratio!r} would add majority examples while under-sampling "
                             f"(class counts {counts_np.tolist()}, majority target {int(level)}); increase the ratio")
    return jnp.asarray(result, jnp.int32)


def _dict_to_array(strategy: Mapping, counts_np, counts) -> np.ndarray | jax.Array:
    num_classes = np.shape(counts)[0]
    bad = [c for c in strategy if not (isinstance(c, (int, np.integer)) and 0 <= c < num_classes)]
    if bad:
        raise ValueError(f"sampling_strategy has keys {bad} that are not class labels in [0, {num_classes})")
    if counts_np is not None and any(counts_np[c] == 0 for c in strategy):
        raise ValueError(f"sampling_strategy {dict(strategy)!r} names classes with no examples "
                         f"(class counts {counts_np.tolist()})")
    classes = np.array(list(strategy), dtype=int)
    values = jnp.asarray([strategy[c] for c in strategy], jnp.int32)
    return jnp.asarray(counts, jnp.int32).at[classes].set(values)


def _array_target_counts(counts, counts_np, wanted, kind: str) -> jax.Array:
    if np.shape(wanted) != np.shape(counts):
        raise ValueError(f"per-class sampling_strategy must have shape {np.shape(counts)} like the class counts, "
                         f"got shape {np.shape(wanted)}")
    wanted_np = concrete_or_none(wanted)
    if counts_np is not None and wanted_np is not None:
        absent = (counts_np == 0) & (wanted_np != 0)
        too_few = wanted_np < counts_np if kind == "over" else wanted_np < 0
        too_many = wanted_np > counts_np if kind == "under" else np.zeros_like(absent)
        if np.any(absent):
            raise ValueError(f"sampling_strategy {wanted_np.tolist()} asks for examples of classes "
                             f"{np.flatnonzero(absent).tolist()} that have none (class counts {counts_np.tolist()})")
        if np.any(too_few | too_many):
            rule = "at least" if kind == "over" else "between 0 and"
            raise ValueError(f"sampling_strategy {wanted_np.tolist()} is invalid for {kind}-sampling: each class "
                             f"needs {rule} its current count {counts_np.tolist()}")
    return jnp.asarray(wanted, jnp.int32)


def threshold_n_counts(counts: jax.Array, n) -> jax.Array:
    """Lee et al. (2016) thresholding: every class above ``n`` examples is under-sampled to ``n``.

    ``counts: int[C]``, ``n`` scalar (may be traced, must be >= 1) -> ``int32[C] = min(counts, n)``.
    """
    n_np = concrete_or_none(n)
    if n_np is not None and not n_np >= 1:
        raise ValueError(f"threshold N must be >= 1, got {n!r}")
    return jnp.minimum(jnp.asarray(counts, jnp.int32), jnp.asarray(n, jnp.int32))


def slot_groups(group_counts: jax.Array, slots: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Lay out ``group_counts[g]`` consecutive slots per group; the group of each slot position.

    ``group_counts: int[G]``, ``slots: int[S]`` positions -> ``(group int32[S], valid bool[S])``;
    slots at or beyond ``sum(group_counts)`` (or negative) are invalid and get group 0.
    """
    ends = jnp.cumsum(group_counts)
    valid = (slots >= 0) & (slots < ends[-1])
    group = jnp.searchsorted(ends, slots, side="right", method="compare_all")
    return jnp.where(valid, group, 0).astype(jnp.int32), valid


def draw_group_members(key: jax.Array, pool_groups: jax.Array, eligible: jax.Array, groups: jax.Array,
                       num_groups: int) -> tuple[jax.Array, jax.Array]:
    """One uniform random eligible pool member of each requested group (with replacement).

    Args:
      key: PRNG key.
      pool_groups: ``int[N]`` group of every pool example (e.g. its label).
      eligible: ``bool[N]`` examples that may be drawn.
      groups: ``int[S]`` group wanted by each draw.
      num_groups: G, static.

    Returns:
      ``(index int32[S], found bool[S])``; ``found`` is false where the group has no eligible member
      (the index is then meaningless). O(N log N + S): one sort of the pool, no [S, N] arrays.
    """
    sort_key = jnp.where(eligible, pool_groups, num_groups)
    order = jnp.argsort(sort_key, stable=True).astype(jnp.int32)
    sizes = jnp.bincount(sort_key, length=num_groups + 1)[:num_groups]
    starts = jnp.cumsum(sizes) - sizes
    size = sizes[groups]
    return order[starts[groups] + uniform_below(key, size)], size > 0


def uniform_below(key: jax.Array, bounds: jax.Array) -> jax.Array:
    """One uniform integer in ``[0, bounds[s])`` per entry (0 where ``bounds[s] <= 0``): ``int32[S]``.

    32 random bits modulo the bound (relative bias at most ``bound / 2^32``); it compiles far faster
    than ``jax.random.randint`` with array bounds.
    """
    bounds = jnp.maximum(bounds, 1).astype(jnp.uint32)
    return (jax.random.bits(key, bounds.shape, jnp.uint32) % bounds).astype(jnp.int32)


def first_true(flags: jax.Array, size: int) -> jax.Array:
    """Indices of the first ``size`` true entries of ``flags: bool[N]`` in order, padded with 0: ``int32[size]``."""
    order = jnp.argsort(~flags, stable=True).astype(jnp.int32)
    order = jnp.pad(order, (0, max(size - order.shape[0], 0)))[:size]
    return jnp.where(jnp.arange(size) < jnp.sum(flags), order, 0)


def check_buffer_size(total, max_size: int, what: str) -> None:
    """Raise a ``ValueError`` when a concrete ``total`` exceeds the static buffer size ``max_size``."""
    total_np = concrete_or_none(total)
    if total_np is not None and total_np > max_size:
        raise ValueError(f"{what} has {int(total_np)} entries but max_size is {max_size}; raise max_size")


def check_under_targets(counts: jax.Array, target_counts: jax.Array) -> None:
    """Raise a ``ValueError`` when concrete under-sampling targets exceed the class counts or are negative."""
    counts_np, target_np = concrete_or_none(counts), concrete_or_none(target_counts)
    if counts_np is not None and target_np is not None and np.any((target_np > counts_np) | (target_np < 0)):
        raise ValueError(f"under-sampling targets {target_np.tolist()} must lie between 0 and the class counts "
                         f"{counts_np.tolist()}; under-sampling can only keep up to each class's count")


def ros_indices(key: jax.Array, labels: jax.Array, mask: jax.Array, target_counts: jax.Array,
                max_size: int) -> tuple[jax.Array, jax.Array]:
    """Random over-sampling as imblearn's ``RandomOverSampler``: ``(indices int32[max_size], valid_count)``.

    The subset's examples (``mask``, in pool order) followed by ``target_counts[c] - n_c`` random
    duplicates of class c drawn uniformly with replacement, classes in label order (imblearn's
    ``sample_indices_`` layout). ``target_counts: int[C]`` final counts (see :func:`target_counts`,
    ``kind="over"``). With concrete inputs, a total above ``max_size`` raises; traced, the set is
    cut at ``max_size`` (duplicates of the last classes go first).
    """
    num_classes = target_counts.shape[0]
    counts = masked_class_counts(labels, mask, num_classes)
    extra = jnp.maximum(target_counts - counts, 0)
    num_kept = jnp.sum(counts)
    total = num_kept + jnp.sum(extra)
    check_buffer_size(total, max_size, "the over-sampled set")
    position = jnp.arange(max_size)
    kept = first_true(mask, max_size)
    extra_class, is_extra = slot_groups(extra, position - num_kept)
    duplicates, _ = draw_group_members(key, labels, mask, extra_class, num_classes)
    indices = jnp.where(position < num_kept, kept, jnp.where(is_extra, duplicates, 0))
    return indices, jnp.minimum(total, max_size).astype(jnp.int32)


def rus_indices(key: jax.Array, labels: jax.Array, mask: jax.Array, target_counts: jax.Array,
                max_size: int) -> tuple[jax.Array, jax.Array]:
    """Random under-sampling as imblearn's ``RandomUnderSampler``: ``(indices int32[max_size], valid_count)``.

    ``target_counts[c]`` examples of class c chosen uniformly without replacement from the subset
    (see :func:`target_counts`, ``kind="under"``), returned in pool order. With concrete inputs a
    target above a class's count, or a total above ``max_size``, raises.
    """
    num_classes = target_counts.shape[0]
    counts = masked_class_counts(labels, mask, num_classes)
    check_under_targets(counts, target_counts)
    keep = subset_mask(key, labels, jnp.asarray(target_counts, jnp.int32), pool=mask)
    total = jnp.sum(keep)
    check_buffer_size(total, max_size, "the under-sampled set")
    indices = first_true(keep, max_size)
    return indices, jnp.minimum(total, max_size).astype(jnp.int32)
