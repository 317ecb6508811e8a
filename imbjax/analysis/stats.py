"""Comparing methods over blocks: average ranks, Friedman, Nemenyi, Wilcoxon-Holm.

Follows Demšar, "Statistical comparisons of classifiers over multiple data sets", JMLR 7 (2006):
a *block* (Demšar's data set) is one dataset x imbalance setting (every setting column except the
method and its own hyper-parameters); each method's score in a block is its metric averaged over
seeds. Only complete blocks (every method scored) enter the tests.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from imbjax.analysis.aggregate import (
    block_columns, check_columns, check_metrics, method_labels, pairing_columns, varying_columns, without_redundant,
)

OVER_CHOICES = ("blocks", "seeds")
WILCOXON_COLUMNS = (
    "method", "baseline", "n", "mean_difference", "wins", "losses", "statistic", "p_value", "p_holm", "significant",
)


def block_table(
    df: pd.DataFrame, metric: str, *, blocks: Sequence[str] | None = None, method: str = "method"
) -> pd.DataFrame:
    """Mean of ``metric`` over seeds: one row per block, one column per method label.

    Blocks default to ``block_columns(df)``. Undefined (NaN) runs are skipped in the mean; a cell
    is NaN when a method has no defined run in that block. Methods whose method-specific ``hp_*``
    values vary get one column per value (see ``method_labels``).
    """
    check_metrics(df, [metric])
    blocks = block_columns(df, method) if blocks is None else check_columns(df, blocks, "block")
    keyed = df[[*blocks, metric]].assign(_method=method_labels(df, method, exclude=blocks), _block="all")
    keys = blocks or ["_block"]
    table = keyed.groupby([*keys, "_method"], dropna=False, sort=True)[metric].mean().unstack("_method")
    table.columns.name = method
    return table


def rank_table(table: pd.DataFrame, *, higher_is_better: bool = True) -> pd.DataFrame:
    """Rank of each method within each complete block (1 = best), ties get the average rank."""
    complete = table.dropna()
    scores = complete.to_numpy(dtype=float)
    ranks = stats.rankdata(-scores if higher_is_better else scores, axis=1)
    return pd.DataFrame(ranks, index=complete.index, columns=complete.columns)


def rank_methods(
    df: pd.DataFrame,
    metric: str,
    *,
    higher_is_better: bool = True,
    blocks: Sequence[str] | None = None,
    method: str = "method",
) -> pd.DataFrame:
    """Average rank of each method over the complete blocks (Demšar 2006, Sec. 3.2.2).

    Returns a frame indexed by method label, sorted best first, with columns ``mean_rank``,
    ``mean_score`` (the metric averaged over the same blocks) and ``n_blocks``.
    """
    table = block_table(df, metric, blocks=blocks, method=method).dropna()
    ranks = rank_table(table, higher_is_better=higher_is_better)
    out = pd.DataFrame({"mean_rank": ranks.mean(), "mean_score": table.mean(), "n_blocks": len(table)})
    out.index.name = method
    return out.sort_values("mean_rank", kind="stable")


@dataclasses.dataclass(frozen=True)
class FriedmanResult:
    """Friedman's chi-square and the Iman-Davenport F over ``n_blocks`` blocks, ``n_methods`` methods."""

    statistic: float
    p_value: float
    iman_davenport: float
    iman_davenport_p_value: float
    n_blocks: int
    n_methods: int
    mean_ranks: pd.Series


def friedman_test(table: pd.DataFrame, *, higher_is_better: bool = True, tie_correction: bool = True) -> FriedmanResult:
    """Friedman test on a blocks x methods table (rows with NaN are dropped).

    chi2_F = 12 N / (k (k+1)) [sum_j R_j^2 - k (k+1)^2 / 4]   (Demšar 2006, Sec. 3.2.2)
    with R_j the average rank of method j over N blocks; with ``tie_correction`` it is divided by
    C = 1 - sum(t^3 - t) / (N k (k^2 - 1)) over tie groups of size t, which is what
    ``scipy.stats.friedmanchisquare`` computes (Demšar's worked example uses no correction).
    Iman & Davenport's F_F = (N-1) chi2_F / (N (k-1) - chi2_F) ~ F(k-1, (k-1)(N-1)).
    Unlike scipy this also accepts k = 2 methods.
    """
    ranks = rank_table(table, higher_is_better=higher_is_better)
    n_blocks, n_methods = ranks.shape
    if n_blocks < 2 or n_methods < 2:
        raise ValueError(
            f"the Friedman test needs >= 2 methods and >= 2 complete blocks, got {n_methods} methods "
            f"and {n_blocks} complete blocks"
        )
    mean_ranks = ranks.mean()
    k, n = n_methods, n_blocks
    statistic = 12.0 * n / (k * (k + 1)) * (np.sum(mean_ranks.to_numpy() ** 2) - k * (k + 1) ** 2 / 4.0)
    if tie_correction:
        tie_sizes = [np.unique(row, return_counts=True)[1] for row in ranks.to_numpy()]
        tie_sum = sum(float(np.sum(t**3 - t)) for t in tie_sizes)
        correction = 1.0 - tie_sum / (n * k * (k * k - 1))
        statistic = statistic / correction if correction > 0 else 0.0  # all blocks fully tied
    denominator = n * (k - 1) - statistic
    iman_davenport = (n - 1) * statistic / denominator if denominator > 1e-12 else np.inf
    return FriedmanResult(
        statistic=float(statistic),
        p_value=float(stats.chi2.sf(statistic, k - 1)),
        iman_davenport=float(iman_davenport),
        iman_davenport_p_value=float(stats.f.sf(iman_davenport, k - 1, (k - 1) * (n - 1))),
        n_blocks=n,
        n_methods=k,
        mean_ranks=mean_ranks.sort_values(kind="stable"),
    )


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"significance level alpha must lie in the open interval (0, 1), got {alpha!r}")


def nemenyi_q(n_methods: int, alpha: float = 0.05) -> float:
    """Nemenyi critical value q_alpha = studentized range quantile(1 - alpha; k, inf) / sqrt(2).

    Demšar 2006, Table 5(a): 1.960, 2.343, 2.569, ... for k = 2, 3, 4, ... at alpha = 0.05.
    """
    _check_alpha(alpha)
    if n_methods < 2:
        raise ValueError(f"the Nemenyi test needs >= 2 methods, got {n_methods}")
    return float(stats.studentized_range.ppf(1.0 - alpha, n_methods, np.inf) / np.sqrt(2.0))


def critical_difference(n_methods: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference CD = q_alpha sqrt(k (k+1) / (6 N))   (Demšar 2006, Sec. 3.2.2)."""
    if n_blocks < 1:
        raise ValueError(f"the critical difference needs >= 1 block, got {n_blocks}")
    return nemenyi_q(n_methods, alpha) * float(np.sqrt(n_methods * (n_methods + 1) / (6.0 * n_blocks)))


@dataclasses.dataclass(frozen=True)
class NemenyiResult:
    """Nemenyi post-hoc test: methods whose average ranks differ by >= ``cd`` differ significantly.

    ``cliques`` are the maximal runs of rank-adjacent methods (best first) spanning less than
    ``cd``: the bars of a critical-difference diagram. ``significant`` is a symmetric boolean
    methods x methods frame.
    """

    mean_ranks: pd.Series
    n_blocks: int
    alpha: float
    q_alpha: float
    cd: float
    cliques: tuple[tuple[str, ...], ...]
    significant: pd.DataFrame


def nemenyi(mean_ranks: pd.Series, n_blocks: int, alpha: float = 0.05) -> NemenyiResult:
    """Nemenyi test from average ranks over ``n_blocks`` blocks (Demšar 2006, Sec. 3.2.2)."""
    ranks = mean_ranks.sort_values(kind="stable")
    k = len(ranks)
    q_alpha = nemenyi_q(k, alpha)
    cd = critical_difference(k, n_blocks, alpha)
    values = ranks.to_numpy(dtype=float)
    significant = pd.DataFrame(np.abs(values[:, None] - values[None, :]) >= cd, index=ranks.index, columns=ranks.index)
    cliques, reach = [], -1
    for start in range(k):
        end = int(np.searchsorted(values, values[start] + cd, side="left")) - 1
        if end > start and end > reach:
            cliques.append(tuple(str(m) for m in ranks.index[start : end + 1]))
            reach = end
    return NemenyiResult(ranks, n_blocks, alpha, q_alpha, cd, tuple(cliques), significant)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979); NaN entries are ignored and stay NaN.

    With the m defined p-values sorted p_(1) <= ... <= p_(m):
    p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)); hypothesis i is rejected at level alpha
    iff p~_i <= alpha. Same values as statsmodels' ``multipletests(method="holm")``.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    defined = np.flatnonzero(~np.isnan(p))
    order = defined[np.argsort(p[defined], kind="stable")]
    m = len(order)
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


#: Largest number of pairs for which ``scipy.stats.wilcoxon`` enumerates every sign flip when
#: differences tie or are zero (above it, it uses the normal approximation).
SIGN_FLIP_ENUMERATION_MAX = 13


def wilcoxon_signed_rank(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(statistic, p_value)`` of ``scipy.stats.wilcoxon(x, y)`` with its defaults (two-sided, zeros
    dropped, ``method="auto"``), the same numbers, faster where scipy is slow.

    With ties or zero differences among at most 13 pairs, scipy's ``"auto"`` runs an exact
    permutation test that ranks every one of the ``2**n`` sign flips in a Python loop.
    Here that case enumerates the flips at once: with ``r`` the average ranks of the non-zero
    ``|d|``, every flip's statistic is ``R+ = signs @ r`` over all ``signs`` in ``{0, 1}^m``, and
    ``p = min(1, 2 min(P(R+ <= t), P(R+ >= t)))`` at the observed ``t``, with scipy's relative
    tolerance ``100 eps``. Every other case is scipy's own call.
    """
    difference = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    nonzero = difference[difference != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    ties_or_zeros = len(nonzero) < len(difference) or len(np.unique(ranks)) < len(ranks)
    if not (ties_or_zeros and 0 < len(difference) <= SIGN_FLIP_ENUMERATION_MAX and len(nonzero)):
        result = stats.wilcoxon(x, y)
        return float(result.statistic), float(result.pvalue)
    r_plus = float(ranks[nonzero > 0].sum())
    signs = (np.arange(2 ** len(ranks))[:, None] >> np.arange(len(ranks))) & 1
    null = signs @ ranks
    tolerance = abs(100 * np.finfo(float).eps * r_plus)
    p_less, p_greater = np.mean(null <= r_plus + tolerance), np.mean(null >= r_plus - tolerance)
    return min(r_plus, float(ranks.sum()) - r_plus), float(min(1.0, 2 * min(p_less, p_greater)))


def smallest_holm_p(n_pairs: int, n_comparisons: int) -> float:
    """The smallest Holm-adjusted p-value any of ``n_comparisons`` Wilcoxon signed-rank tests over
    ``n_pairs`` pairs can reach.

    The two-sided p-value of ``scipy.stats.wilcoxon`` is smallest when every difference has one sign
    (``2 / 2**n`` exactly for small ``n``); Holm multiplies the smallest p by the number of tests.
    When this exceeds alpha, no test can be significant however large the effects: more seeds
    (pairs) or fewer comparisons are needed.
    """
    if n_pairs < 1 or n_comparisons < 1:
        raise ValueError(f"n_pairs and n_comparisons must be >= 1, got {n_pairs} and {n_comparisons}")
    one_sided_everywhere = stats.wilcoxon(np.arange(1.0, n_pairs + 1.0)).pvalue
    return float(min(1.0, n_comparisons * one_sided_everywhere))


def _wilcoxon_holm(table: pd.DataFrame, baseline: str, *, higher_is_better: bool, alpha: float) -> pd.DataFrame:
    """Wilcoxon-Holm of every column of ``table`` (pairs x methods) against ``baseline``'s column."""
    rows = []
    for name in (c for c in table.columns if c != baseline):
        pair = table[[name, baseline]].dropna()
        difference = (pair[name] - pair[baseline]).to_numpy()
        sign = 1.0 if higher_is_better else -1.0
        if len(difference) == 0:
            statistic, p_value = np.nan, np.nan
        elif np.all(difference == 0):
            statistic, p_value = 0.0, 1.0
        else:
            statistic, p_value = wilcoxon_signed_rank(pair[name].to_numpy(), pair[baseline].to_numpy())
        rows.append({
            "method": name, "baseline": baseline, "n": len(difference),
            "mean_difference": float(np.mean(difference)) if len(difference) else np.nan,
            "wins": int(np.sum(sign * difference > 0)), "losses": int(np.sum(sign * difference < 0)),
            "statistic": statistic, "p_value": p_value,
        })
    out = pd.DataFrame(rows, columns=list(WILCOXON_COLUMNS[:-2]))
    out["p_holm"] = holm(out["p_value"].to_numpy(dtype=float))
    out["significant"] = out["p_holm"] <= alpha
    return out


def wilcoxon_vs_baseline(
    df: pd.DataFrame,
    metric: str,
    baseline: str,
    *,
    over: str = "blocks",
    higher_is_better: bool = True,
    alpha: float = 0.05,
    method: str = "method",
    blocks: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Wilcoxon signed-rank test of every method against ``baseline``, Holm-corrected.

    ``over="blocks"`` pairs the seed-means of each block (Demšar 2006, Sec. 3.1.3): one test per
    method, Holm over the methods. ``over="seeds"`` tests each setting (block) on its own, pairing
    its runs by seed (and ``data_seed`` where present; runs of one seed share subset and initialisation), Holm over the methods
    within each setting. Each pair uses the blocks (or seeds) where both are defined;
    ``scipy.stats.wilcoxon`` with its defaults gives the statistic and two-sided p-value, and a
    method identical to the baseline everywhere gets p = 1. Returns one row per method (per
    setting with ``over="seeds"``, led by the block columns that vary in ``df``: none for a single
    setting): ``method, baseline, n, mean_difference`` (method - baseline), ``wins, losses`` (by
    ``higher_is_better``), ``statistic, p_value, p_holm, significant`` (p_holm <= alpha).
    """
    _check_alpha(alpha)
    if over not in OVER_CHOICES:
        raise ValueError(f"unknown over={over!r}; choose one of {list(OVER_CHOICES)}")
    blocks = block_columns(df, method) if blocks is None else check_columns(df, blocks, "block")
    if over == "blocks":
        table = block_table(df, metric, blocks=blocks, method=method)
    else:
        check_columns(df, ["seed"], "seed")
        table = block_table(df, metric, blocks=[*blocks, *pairing_columns(df)], method=method)
    if baseline not in table.columns:
        raise ValueError(f"unknown baseline {baseline!r}; choose from {list(table.columns)}")
    test = functools.partial(_wilcoxon_holm, baseline=baseline, higher_is_better=higher_is_better, alpha=alpha)
    if over == "blocks":
        return test(table)
    setting = without_redundant(df, varying_columns(df, blocks))
    if not setting:
        return test(table)
    parts = [
        test(part).assign(**dict(zip(setting, key if isinstance(key, tuple) else (key,))))
        for key, part in table.groupby(level=setting, dropna=False, sort=True)
    ]
    out = pd.concat(parts, ignore_index=True)
    return out[[*setting, *(c for c in out.columns if c not in setting)]]
