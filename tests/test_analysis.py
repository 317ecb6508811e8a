"""Tests of imbjax.analysis against scipy and the worked examples of Demšar (2006)."""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from imbjax.analysis.aggregate import label_runs
from imbjax.analysis import (
    add_report_arguments, aggregate, block_columns, block_table, classwise_table, critical_difference, friedman_test,
    holm, latex_table, markdown_table, method_labels, nemenyi, nemenyi_q, plot_critical_difference, plot_metric_vs,
    rank_methods, read_runs, report, run_report, smallest_holm_p, split_columns, wilcoxon_signed_rank,
    wilcoxon_vs_baseline,
)

# Demšar (2006), Table 6: AUC of four C4.5 variants on 14 UCI data sets.
DEMSAR_METHODS = ("C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf")
DEMSAR_AUC = np.array([
    [0.763, 0.768, 0.771, 0.798], [0.599, 0.591, 0.590, 0.569], [0.954, 0.971, 0.968, 0.967],
    [0.628, 0.661, 0.654, 0.657], [0.882, 0.888, 0.886, 0.898], [0.936, 0.931, 0.916, 0.931],
    [0.661, 0.668, 0.609, 0.685], [0.583, 0.583, 0.563, 0.625], [0.775, 0.838, 0.866, 0.875],
    [1.000, 1.000, 1.000, 1.000], [0.940, 0.962, 0.965, 0.962], [0.619, 0.666, 0.614, 0.669],
    [0.972, 0.981, 0.975, 0.975], [0.957, 0.978, 0.946, 0.970],
])
VOTING = 12  # Demšar ranks the 0.975 tie on "voting" as 2 (C4.5+cf) and 3 (C4.5+m+cf), not 2.5/2.5.
# Demšar's Table 5(a): Nemenyi q_alpha for k = 2..10.
DEMSAR_Q = {
    0.05: (1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164),
    0.10: (1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920),
}


def demsar_runs(auc: np.ndarray = DEMSAR_AUC) -> pd.DataFrame:
    """Table 6 as a runs table: one run (seed 0) per data set x method."""
    rows = [
        {"run_id": f"{d}-{m}", "dataset": f"uci{d}", "seed": 0, "method": m, "auc": auc[d, j]}
        for d in range(auc.shape[0]) for j, m in enumerate(DEMSAR_METHODS)
    ]
    return pd.DataFrame(rows)


def demsar_as_ranked() -> np.ndarray:
    auc = DEMSAR_AUC.copy()
    auc[VOTING, DEMSAR_METHODS.index("C4.5+cf")] += 1e-4
    return auc


def synthetic_runs(rng: np.random.Generator, *, methods=("ce", "ros", "focal"), rhos=(10.0, 100.0), mus=(0.2, 0.8),
                   seeds=(0, 1, 2), datasets=("mnist",)) -> pd.DataFrame:
    """A runs.csv-shaped table with effects: ros > ce > focal, and accuracy falling with rho."""
    effect = {"ce": 0.0, "ros": 0.05, "focal": -0.03, "rus": 0.01}
    rows = []
    for dataset, rho, mu, method, seed in itertools.product(datasets, rhos, mus, methods, seeds):
        base = 0.9 - 0.05 * np.log10(rho) - 0.1 * mu + effect[method]
        row = {
            "run_id": f"{dataset}-{rho:g}-{mu:g}-{method}-{seed}", "group": "grid", "dataset": dataset,
            "profile": "step", "rho": rho, "mu": mu, "seed": seed, "method": method,
            "hp_learning_rate": 0.01, "hp_gamma": 2.0 if method == "focal" else np.nan,
            "accuracy": base + 0.02 * rng.standard_normal(),
            "balanced_accuracy": base - 0.05 + 0.02 * rng.standard_normal(),
        }
        for c in range(3):
            row[f"recall_per_class_{c}"] = base - 0.1 * c + 0.01 * rng.standard_normal()
        rows.append(row)
    return pd.DataFrame(rows)


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 2000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0  # not a blank canvas


# --- columns and aggregation -----------------------------------------------------------------

def test_split_columns_follows_the_runs_csv_convention():
    df = pd.DataFrame({
        "run_id": ["a"], "group": ["g"], "dataset": ["mnist"], "profile": ["step"], "rho": [10.0], "mu": [0.5],
        "seed": [0], "method": ["ce"], "hp_gamma": [2.0], "hp_optimizer": ["adam"], "note": ["text"],
        "accuracy": [0.9], "recall_per_class_3": [np.nan], "epochs_run": [3], "diverged": [False],
    })
    config, metrics = split_columns(df)
    assert config == [
        "run_id", "group", "dataset", "profile", "rho", "mu", "seed", "method", "hp_gamma", "hp_optimizer",
    ]
    assert metrics == ["accuracy", "recall_per_class_3", "epochs_run"]


def test_aggregate_matches_numpy_and_scipy_t_interval_and_counts_undefined_runs():
    rng = np.random.default_rng(0)
    df = synthetic_runs(rng, rhos=(10.0,), mus=(0.5,), seeds=tuple(range(5)))
    df.loc[(df.method == "ce") & (df.seed < 2), "accuracy"] = np.nan  # two undefined runs
    df.loc[df.method == "focal", "balanced_accuracy"] = np.nan  # all undefined
    df.loc[(df.method == "ros") & (df.seed > 0), "balanced_accuracy"] = np.nan  # a single defined run
    out = aggregate(df, ["accuracy", "balanced_accuracy"], confidence=0.9)
    assert list(out.columns) == [
        "dataset", "profile", "rho", "mu", "method", "hp_learning_rate", "hp_gamma",
        "metric", "mean", "std", "n", "n_undefined", "ci_low", "ci_high",
    ]
    assert len(out) == 6
    for (method, metric), row in out.set_index(["method", "metric"]).iterrows():
        values = df.loc[df.method == method, metric].to_numpy()
        defined = values[~np.isnan(values)]
        assert row["n"] == len(defined) and row["n_undefined"] == len(values) - len(defined)
        if len(defined) >= 2:
            assert row["mean"] == pytest.approx(defined.mean())
            assert row["std"] == pytest.approx(defined.std(ddof=1))
            low, high = stats.t.interval(0.9, len(defined) - 1, loc=defined.mean(), scale=stats.sem(defined))
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
        else:
            assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
    ce = out[(out.method == "ce") & (out.metric == "accuracy")].iloc[0]
    assert (ce["n"], ce["n_undefined"]) == (3, 2)
    focal = out[(out.method == "focal") & (out.metric == "balanced_accuracy")].iloc[0]
    assert (focal["n"], focal["n_undefined"]) == (0, 5) and np.isnan(focal["mean"])


def test_labels_name_only_what_tells_a_methods_settings_apart():
    """A value a method keeps on all of its rows (a default, a model override) is left out of its label; a
    value that differs between its rows is shown; different settings never share a label."""
    df = pd.DataFrame({
        "method": ["ce", "ce", "ldam", "tau_norm", "tau_norm", "la"],
        "hp_tau": [np.nan, np.nan, np.nan, 1.0, 1.5, 1.0],
        "hp_weight_decay": [0.0, 0.1, 0.0, 0.0, 0.0, 0.0],
        "model_spec": ['{"m":1}', '{"m":1}', '{"head":"cos","m":1}', '{"m":1}', '{"m":1}', '{"m":1}'],
    })
    labels = label_runs(df, "method", ["hp_tau", "hp_weight_decay", "model_spec"])
    assert list(labels) == ["ce (weight_decay=0)", "ce (weight_decay=0.1)", "ldam", "tau_norm (tau=1)",
                            "tau_norm (tau=1.5)", "la"]


def test_aggregate_rejects_bad_input():
    df = synthetic_runs(np.random.default_rng(0), seeds=(0, 1))
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        aggregate(df, ["auc"])
    with pytest.raises(ValueError, match="confidence"):
        aggregate(df, confidence=1.5)
    with pytest.raises(ValueError, match="unknown grouping column 'model'"):
        aggregate(df, by=["model"])


def test_method_specific_hyper_parameters_are_not_block_factors():
    df = synthetic_runs(np.random.default_rng(0), seeds=(0,))
    extra = df[df.method == "focal"].assign(hp_gamma=0.5, run_id=lambda d: d.run_id + "-g05")
    df = pd.concat([df, extra], ignore_index=True)
    assert block_columns(df) == ["dataset", "profile", "rho", "mu", "hp_learning_rate"]
    assert sorted(method_labels(df).unique()) == ["ce", "focal (gamma=0.5)", "focal (gamma=2)", "ros"]
    table = block_table(df, "accuracy")
    assert table.shape == (4, 4) and not table.isna().any().any()


def test_classwise_table_is_the_mean_over_seeds_per_class():
    df = synthetic_runs(np.random.default_rng(1), rhos=(10.0,), mus=(0.5,))
    df.loc[0, "recall_per_class_1"] = np.nan
    table = classwise_table(df, "recall", by=["method"])
    assert list(table.columns) == [0, 1, 2] and sorted(table.index) == ["ce", "focal", "ros"]
    for method, c in itertools.product(["ce", "focal", "ros"], range(3)):
        assert table.loc[method, c] == pytest.approx(np.nanmean(df.loc[df.method == method, f"recall_per_class_{c}"]))
    with pytest.raises(ValueError, match=r"kind 'f1'.*\['recall'\]"):
        classwise_table(df, "f1")


# --- ranks, Friedman, Nemenyi ----------------------------------------------------------------

def test_ranks_average_ties():
    df = demsar_runs(DEMSAR_AUC)
    ranks = rank_methods(df, "auc")
    # With the voting tie ranked 2.5/2.5 (scipy.stats.rankdata), C4.5+cf and C4.5+m+cf move by 0.5/14.
    expected = stats.rankdata(-DEMSAR_AUC, axis=1).mean(axis=0)
    assert ranks.loc[list(DEMSAR_METHODS), "mean_rank"].to_numpy() == pytest.approx(expected)
    assert ranks["n_blocks"].eq(14).all()
    assert list(ranks.index) == ["C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"]
    lower = rank_methods(df, "auc", higher_is_better=False)
    assert lower.loc["C4.5", "mean_rank"] == pytest.approx(5 - ranks.loc["C4.5", "mean_rank"])


def test_demsar_worked_example():
    """Demšar 2006, Sec. 3.2.2: ranks 3.143/2.000/2.893/1.964, chi2_F = 9.28, F_F = 3.69, CD = 1.25."""
    df = demsar_runs(demsar_as_ranked())
    ranks = rank_methods(df, "auc")["mean_rank"]
    assert ranks[list(DEMSAR_METHODS)].round(3).tolist() == [3.143, 2.000, 2.893, 1.964]
    friedman = friedman_test(block_table(df, "auc"), tie_correction=False)  # Demšar ignores ties
    assert (friedman.n_blocks, friedman.n_methods) == (14, 4)
    assert round(friedman.statistic, 2) == 9.28 and round(friedman.iman_davenport, 2) == 3.69
    assert friedman.iman_davenport > stats.f.ppf(0.95, 3, 39) == pytest.approx(2.85, abs=0.005)

    at_05 = nemenyi(friedman.mean_ranks, friedman.n_blocks, alpha=0.05)
    assert round(at_05.q_alpha, 3) == 2.569 and round(at_05.cd, 2) == 1.25
    assert at_05.cliques == (("C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"),)  # no significant difference
    assert not at_05.significant.to_numpy().any()

    at_10 = nemenyi(friedman.mean_ranks, friedman.n_blocks, alpha=0.10)
    assert round(at_10.cd, 2) == 1.12
    assert at_10.cliques == (("C4.5+m+cf", "C4.5+m", "C4.5+cf"), ("C4.5+cf", "C4.5"))
    significant = {tuple(sorted(p)) for p in itertools.combinations(DEMSAR_METHODS, 2) if at_10.significant.loc[p]}
    assert significant == {("C4.5", "C4.5+m"), ("C4.5", "C4.5+m+cf")}


def test_friedman_on_demsar_data_equals_scipy_with_tie_correction():
    friedman = friedman_test(block_table(demsar_runs(), "auc"))
    reference = stats.friedmanchisquare(*DEMSAR_AUC.T)
    assert friedman.statistic == pytest.approx(reference.statistic)
    assert friedman.p_value == pytest.approx(reference.pvalue)


@settings(max_examples=40, deadline=None)
@given(
    n_blocks=st.integers(2, 9), n_methods=st.integers(3, 6), seed=st.integers(0, 2**31 - 1),
    higher_is_better=st.booleans(),
)
def test_friedman_equals_scipy(n_blocks, n_methods, seed, higher_is_better):
    scores = np.round(np.random.default_rng(seed).uniform(size=(n_blocks, n_methods)), 1)  # rounding makes ties
    table = pd.DataFrame(scores, columns=[f"m{j}" for j in range(n_methods)])
    result = friedman_test(table, higher_is_better=higher_is_better)
    with np.errstate(divide="ignore", invalid="ignore"):
        reference = stats.friedmanchisquare(*scores.T)
    if np.isfinite(reference.statistic):
        assert result.statistic == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
        assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-12)
    k, n = n_methods, n_blocks
    if result.statistic < n * (k - 1) - 1e-9:
        f_f = (n - 1) * result.statistic / (n * (k - 1) - result.statistic)
        assert result.iman_davenport == pytest.approx(f_f)
        assert result.iman_davenport_p_value == pytest.approx(stats.f.sf(f_f, k - 1, (k - 1) * (n - 1)))


def test_friedman_with_two_methods_is_the_sign_test_statistic():
    a = np.array([0.9, 0.8, 0.7, 0.95, 0.6, 0.5, 0.77])
    b = np.array([0.8, 0.85, 0.6, 0.90, 0.5, 0.4, 0.70])
    result = friedman_test(pd.DataFrame({"a": a, "b": b}))
    wins, losses = np.sum(a > b), np.sum(a < b)
    assert result.statistic == pytest.approx((wins - losses) ** 2 / len(a))  # (W - L)^2 / N without ties


def test_friedman_needs_two_methods_and_two_complete_blocks():
    table = pd.DataFrame({"a": [0.1, 0.2, np.nan], "b": [0.3, np.nan, 0.1]})
    with pytest.raises(ValueError, match="1 complete blocks"):
        friedman_test(table)


@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_nemenyi_q_matches_demsar_table(alpha):
    ours = [nemenyi_q(k, alpha) for k in range(2, 11)]
    # Demšar rounded q/sqrt(2) from 3-decimal studentized-range tables; we agree within 1e-3.
    assert np.max(np.abs(np.array(ours) - DEMSAR_Q[alpha])) < 1e-3
    for k, q in zip(range(2, 11), ours):
        assert critical_difference(k, 14, alpha) == pytest.approx(q * np.sqrt(k * (k + 1) / (6 * 14)))
    with pytest.raises(ValueError, match="alpha"):
        nemenyi_q(3, 1.0)


def test_nemenyi_cliques_on_a_hand_example():
    ranks = pd.Series({"a": 1.0, "b": 1.5, "c": 3.0, "d": 3.2, "e": 4.3})
    result = nemenyi(ranks, n_blocks=50, alpha=0.05)  # CD = 2.728 * sqrt(30 / 300) = 0.863
    assert result.cd == pytest.approx(2.72777 * np.sqrt(0.1), abs=1e-4)
    assert result.cliques == (("a", "b"), ("c", "d"))
    assert not result.significant.loc["a", "b"] and result.significant.loc["b", "c"]


# --- Wilcoxon and Holm -----------------------------------------------------------------------

def test_holm_on_hand_worked_examples():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Demšar 2006 Sec. 3.2.2 (Holm vs C4.5): p = 0.016, 0.019, 0.607 -> first two rejected at 0.05
    adjusted = holm([0.016, 0.019, 0.607])
    assert adjusted == pytest.approx([0.048, 0.048, 0.607])
    assert (adjusted <= 0.05).tolist() == [True, True, False]
    # NaN are left out of m and stay NaN; values are capped at 1
    out = holm([0.2, np.nan, 0.6])
    assert out[0] == pytest.approx(0.4) and np.isnan(out[1]) and out[2] == pytest.approx(0.6)
    assert holm([0.7, 0.9]) == pytest.approx([1.0, 1.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
def test_holm_properties(p_values):
    p = np.array(p_values)
    adjusted = holm(p)
    assert np.all(adjusted >= p - 1e-15) and np.all(adjusted <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert adjusted.min() == pytest.approx(min(1.0, len(p) * p.min()))


@pytest.mark.parametrize("n_pairs", [1, 3, 6, 10, 25])
@pytest.mark.parametrize("n_comparisons", [1, 2, 37])
def test_smallest_holm_p_is_what_one_sided_differences_give(n_pairs, n_comparisons):
    """Every difference of one sign is the Wilcoxon test's most extreme outcome; ``holm`` of
    ``n_comparisons`` such tests gives the floor, and no other outcome goes below it."""
    extreme = stats.wilcoxon(np.arange(1.0, n_pairs + 1.0)).pvalue
    floor = smallest_holm_p(n_pairs, n_comparisons)
    assert floor == pytest.approx(holm([extreme] * n_comparisons).min())
    rng = np.random.default_rng(n_pairs)
    others = [stats.wilcoxon(rng.normal(0.5, 1.0, n_pairs)).pvalue for _ in range(50)]
    assert min(others) * n_comparisons >= floor - 1e-12 or floor == 1.0
    if n_pairs == 10 and n_comparisons == 37:
        assert floor == pytest.approx(37 * 2 / 2**10)  # the grand comparison's floor: 0.072


@settings(max_examples=60, deadline=None)  # scipy's permutation path takes ~0.2 s an example
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=16))
def test_wilcoxon_signed_rank_equals_scipy_with_ties_and_zeros(pairs):
    """Scores in quarter steps: ties and zero differences everywhere, so scipy takes its sign-flip
    permutation path (n <= 13), its exact path or its normal approximation (n > 13)."""
    x, y = (np.array(column, dtype=float) / 4 for column in zip(*pairs))
    assume(np.any(x != y))
    reference = stats.wilcoxon(x, y)
    statistic, p_value = wilcoxon_signed_rank(x, y)
    assert statistic == reference.statistic and p_value == pytest.approx(reference.pvalue, rel=1e-12, abs=1e-15)


def test_smallest_holm_p_rejects_empty_tests():
    with pytest.raises(ValueError, match="n_pairs and n_comparisons must be >= 1, got 0 and 3"):
        smallest_holm_p(0, 3)


def test_wilcoxon_vs_baseline_equals_scipy_over_blocks_and_over_seeds():
    rng = np.random.default_rng(3)
    df = synthetic_runs(rng, rhos=(2.0, 10.0, 50.0), mus=(0.2, 0.5, 0.8), seeds=(0, 1), datasets=("a", "b"))
    out = wilcoxon_vs_baseline(df, "accuracy", "ce").set_index("method")
    block_means = df.groupby(["dataset", "rho", "mu", "method"])["accuracy"].mean().unstack("method")
    assert set(out.index) == {"ros", "focal"} and out["n"].eq(18).all()
    for method in ["ros", "focal"]:
        reference = stats.wilcoxon(block_means[method], block_means["ce"])
        assert out.loc[method, "p_value"] == pytest.approx(reference.pvalue)
        assert out.loc[method, "statistic"] == pytest.approx(reference.statistic)
        assert out.loc[method, "mean_difference"] == pytest.approx((block_means[method] - block_means["ce"]).mean())
    assert out["p_holm"].to_numpy() == pytest.approx(holm(out["p_value"].to_numpy()))
    assert out.loc["ros", "wins"] == 18 and out.loc["focal", "losses"] > out.loc["focal", "wins"]
    assert (out.loc["focal", "wins"] + out.loc["focal", "losses"]) == 18 and out["significant"].all()

    one = synthetic_runs(rng, rhos=(10.0,), mus=(0.5,), seeds=tuple(range(8)))
    by_seed = wilcoxon_vs_baseline(one, "accuracy", "ce", over="seeds").set_index("method")
    runs = one.pivot(index="seed", columns="method", values="accuracy")
    assert by_seed.loc["focal", "p_value"] == pytest.approx(stats.wilcoxon(runs["focal"], runs["ce"]).pvalue)
    with pytest.raises(ValueError, match=r"unknown baseline 'erm'.*'ce'"):
        wilcoxon_vs_baseline(df, "accuracy", "erm")
    with pytest.raises(ValueError, match="unknown over='runs'"):
        wilcoxon_vs_baseline(df, "accuracy", "ce", over="runs")


def test_wilcoxon_over_seeds_tests_each_setting_against_scipy_with_holm_within_the_setting():
    """Fixed data: 2 settings (rho) x 3 methods x 7 seeds; each setting's tests pair its runs by seed."""
    rng = np.random.default_rng(11)
    df = synthetic_runs(rng, rhos=(10.0, 100.0), mus=(0.5,), seeds=tuple(range(7)))
    df.loc[(df.method == "focal") & (df.rho == 100.0), "accuracy"] += 0.04  # focal ~ ce at rho 100
    df.loc[(df.method == "focal") & (df.rho == 100.0) & (df.seed == 3), "accuracy"] = np.nan  # 6 pairs there
    out = wilcoxon_vs_baseline(df, "accuracy", "ce", over="seeds", alpha=0.05)
    assert list(out.columns[:2]) == ["rho", "method"] and len(out) == 4
    for rho, part in df.groupby("rho"):
        runs = part.pivot(index="seed", columns="method", values="accuracy")
        tests = out[out.rho == rho].set_index("method")
        p_values = {}
        for method in ("focal", "ros"):
            pair = runs[[method, "ce"]].dropna()
            reference = stats.wilcoxon(pair[method], pair["ce"])
            p_values[method] = reference.pvalue
            assert tests.loc[method, "statistic"] == pytest.approx(reference.statistic)
            assert tests.loc[method, "p_value"] == pytest.approx(reference.pvalue)
            assert tests.loc[method, "n"] == len(pair)
            assert tests.loc[method, "mean_difference"] == pytest.approx((pair[method] - pair["ce"]).mean())
            assert tests.loc[method, "wins"] == (pair[method] > pair["ce"]).sum()
        low, high = sorted(p_values.values())  # Holm over the 2 methods of this setting only
        expected = {m: min(1.0, 2 * low) if p == low else max(min(1.0, 2 * low), high) for m, p in p_values.items()}
        for method, p_holm in expected.items():
            assert tests.loc[method, "p_holm"] == pytest.approx(p_holm)
            assert tests.loc[method, "significant"] == (p_holm <= 0.05)
    assert out.set_index(["rho", "method"]).loc[(100.0, "focal"), "n"] == 6
    assert out.set_index(["rho", "method"]).loc[(10.0, "ros"), "wins"] == 7

    one = df[df.rho == 10.0]  # a single setting: no setting column, the same tests
    single = wilcoxon_vs_baseline(one, "accuracy", "ce", over="seeds")
    assert single.columns[0] == "method"
    assert single["p_value"].to_numpy() == pytest.approx(out[out.rho == 10.0]["p_value"].to_numpy())


# --- tables and plots ------------------------------------------------------------------------

def test_markdown_and_latex_tables():
    table = pd.DataFrame(
        {"ce": [0.81234, 0.5], "ros_x": [0.9, 0.4], "n": [3, 3]}, index=pd.Index([10.0, 100.0], name="rho")
    )
    md = markdown_table(table)
    assert md.splitlines()[0] == "| rho | ce | ros_x | n |"
    assert "| 10 | 0.8123 | 0.9000 | 3 |" in md
    tex = latex_table(table[["ce", "ros_x"]], bold="max", caption="acc_1")
    assert r"10 & 0.8123 & \textbf{0.9000} \\" in tex and r"100 & \textbf{0.5000} & 0.4000 \\" in tex
    assert r"ros\_x" in tex and r"\caption{acc\_1}" in tex and r"\toprule" in tex
    assert r"10 & \textbf{0.8123} & 0.9000 \\" in latex_table(table[["ce", "ros_x"]], bold="min")
    with pytest.raises(ValueError, match="bold"):
        latex_table(table, bold="best")


def test_plots_write_png(tmp_path):
    df = synthetic_runs(np.random.default_rng(4), rhos=(10.0, 100.0, 1000.0), mus=(0.5,))
    assert_png(plot_metric_vs(df, "rho", "accuracy", path=tmp_path / "rho.png"))
    mus = synthetic_runs(np.random.default_rng(5), rhos=(10.0,), mus=(0.2, 0.5, 0.8))
    assert_png(plot_metric_vs(mus, "mu", "accuracy", path=tmp_path / "sub" / "mu.png", band="ci"))
    focal = [mus[mus.method == "focal"].assign(hp_gamma=g) for g in (0.5, 1.0, 2.0)]
    gammas = pd.concat([mus[mus.method == "ce"], *focal])
    assert_png(plot_metric_vs(gammas[gammas.mu == 0.5], "hp_gamma", "accuracy", path=tmp_path / "gamma.png"))
    ranks = rank_methods(demsar_runs(demsar_as_ranked()), "auc")["mean_rank"]
    assert_png(plot_critical_difference(nemenyi(ranks, 14, alpha=0.10), tmp_path / "cd.png"))
    with pytest.raises(ValueError, match="x column 'method' must be numeric"):
        plot_metric_vs(df, "method", "accuracy", path=tmp_path / "bad.png")
    with pytest.raises(ValueError, match="band"):
        plot_metric_vs(df, "rho", "accuracy", path=tmp_path / "bad.png", band="iqr")


# --- report ------------------------------------------------------------------------------------

def test_report_end_to_end_merges_workdirs(tmp_path):
    rng = np.random.default_rng(6)
    runs = synthetic_runs(rng, rhos=(10.0, 100.0), mus=(0.2, 0.8), seeds=(0, 1, 2))
    runs.loc[(runs.method == "focal") & (runs.seed == 2) & (runs.rho == 10.0), "balanced_accuracy"] = np.nan
    first, second = tmp_path / "wd1", tmp_path / "wd2"
    first.mkdir(), second.mkdir()
    runs[runs.seed < 2].to_csv(first / "runs.csv", index=False)
    duplicate = runs[runs.seed == 1].assign(accuracy=-1.0)  # same run_ids: must be dropped, wd1's kept
    pd.concat([duplicate, runs[runs.seed == 2]]).to_csv(second / "runs.csv", index=False)

    merged = read_runs([first, second])
    assert len(merged) == len(runs) and merged.attrs["n_duplicates_dropped"] == len(duplicate)
    assert (merged["accuracy"] > 0).all()

    out = tmp_path / "out"
    written = report([first, second], out, metrics=["accuracy", "balanced_accuracy"], baseline="ce", latex=True)
    for name in ["summary.csv", "summary.md", "report.md", "friedman.csv", "ranks_accuracy.csv",
                 "wilcoxon_accuracy.csv", "means_accuracy.tex", "classwise_recall.csv"]:
        assert written[name] == out / name and (out / name).stat().st_size > 0
    for name in ["cd_accuracy.png", "accuracy_vs_rho.png", "accuracy_vs_mu.png", "cd_balanced_accuracy.png"]:
        assert_png(written[name])

    summary = pd.read_csv(out / "summary.csv")
    for (rho, mu, method), group in runs.groupby(["rho", "mu", "method"]):
        row = summary[(summary.rho == rho) & (summary.mu == mu) & (summary.method == method)].set_index("metric")
        assert row.loc["accuracy", "mean"] == pytest.approx(group["accuracy"].mean())
        assert row.loc["accuracy", "n"] == 3 and row.loc["accuracy", "n_undefined"] == 0
        n_nan = int(group["balanced_accuracy"].isna().sum())
        assert row.loc["balanced_accuracy", "n_undefined"] == n_nan and row.loc["balanced_accuracy", "n"] == 3 - n_nan
    assert "n_undefined" in (out / "summary.md").read_text()

    block_means = runs.groupby(["rho", "mu", "method"])["accuracy"].mean().unstack("method")
    friedman = pd.read_csv(out / "friedman.csv").set_index("metric")
    reference = stats.friedmanchisquare(*block_means.to_numpy().T)
    assert friedman.loc["accuracy", "statistic"] == pytest.approx(reference.statistic)
    assert friedman.loc["accuracy", "n_blocks"] == 4 and friedman.loc["accuracy", "n_methods"] == 3
    assert friedman.loc["accuracy", "cd"] == pytest.approx(critical_difference(3, 4, 0.05))
    ranks = pd.read_csv(out / "ranks_accuracy.csv", index_col="method")
    assert ranks["mean_rank"].to_dict() == pytest.approx({"ros": 1.0, "ce": 2.0, "focal": 3.0})
    wilcoxon = pd.read_csv(out / "wilcoxon_accuracy.csv").set_index("method")
    assert wilcoxon.loc["ros", "p_value"] == pytest.approx(stats.wilcoxon(block_means["ros"], block_means["ce"]).pvalue)
    tex = (out / "means_accuracy.tex").read_text()
    assert tex.count(r"\textbf") == 4  # ros is best in each of the 4 blocks
    text = (out / "report.md").read_text()
    assert f"{len(runs)} runs from 2 workdir(s)" in text and f"({len(duplicate)} duplicate run_id rows dropped)" in text
    assert "![critical difference diagram](cd_accuracy.png)" in text and "Class-wise recall" in text
    assert "with 4 pairs the smallest two-sided Wilcoxon p is 0.125" in text  # 4 blocks, Holm over 2: 0.25


def test_report_cli_on_a_single_setting_tests_over_seeds_and_explains_skips(tmp_path, capsys):
    runs = synthetic_runs(np.random.default_rng(7), methods=("ce", "ros"), rhos=(10.0,), mus=(0.5,), seeds=range(6))
    workdir = tmp_path / "wd"
    workdir.mkdir()
    runs.to_csv(workdir / "runs.csv", index=False)
    parser = add_report_arguments(argparse.ArgumentParser(prog="imbjax report"))
    args = parser.parse_args([str(workdir), "--metric", "accuracy", "--baseline", "ce", "--latex", "--blocks", "settings"])
    assert run_report(args) == 0
    out = workdir / "report"
    assert str(out / "report.md") in capsys.readouterr().out
    text = (out / "report.md").read_text()
    assert "found 2 method(s) and 1 complete block(s)" in text and "over seeds" in text
    assert not list(out.glob("*.png")) and (out / "means_accuracy.tex").is_file()
    by_seed = runs.pivot(index="seed", columns="method", values="accuracy")
    wilcoxon = pd.read_csv(out / "wilcoxon_accuracy.csv")
    assert wilcoxon["p_value"].item() == pytest.approx(stats.wilcoxon(by_seed["ros"], by_seed["ce"]).pvalue)
    assert "No test here can be significant" not in text  # 6 pairs, 1 test: p can reach 2 / 2**6 < 0.05

    single = tmp_path / "single"
    single.mkdir()
    runs[runs.method == "ce"].to_csv(single / "runs.csv", index=False)
    written = report([single], tmp_path / "single_out", metrics=["accuracy"], baseline="ce")
    assert "Wilcoxon vs `ce` skipped: only one method." in written["report.md"].read_text()

    missing = tmp_path / "empty"
    missing.mkdir()
    with pytest.raises(FileNotFoundError, match=str(missing / "runs.csv")):
        run_report(parser.parse_args([str(workdir), str(missing)]))
    with pytest.raises(ValueError, match=r"unknown baseline 'erm'; choose from \['ce', 'ros'\]"):
        report([workdir], tmp_path / "out", baseline="erm")
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        report([workdir], tmp_path / "out", metrics=["auc"])


def test_report_with_seed_blocks_tests_per_setting_over_seeds(tmp_path):
    runs = synthetic_runs(np.random.default_rng(12), rhos=(10.0, 100.0), mus=(0.5,), seeds=range(6))
    workdir = tmp_path / "wd"
    workdir.mkdir()
    runs.to_csv(workdir / "runs.csv", index=False)
    parser = add_report_arguments(argparse.ArgumentParser(prog="imbjax report"))
    args = parser.parse_args([str(workdir), "--metric", "accuracy", "--baseline", "ce", "--latex", "--blocks", "seeds"])
    assert run_report(args) == 0
    out = workdir / "report"

    by_block = runs.pivot(index=["rho", "seed"], columns="method", values="accuracy")
    friedman = pd.read_csv(out / "friedman.csv").set_index("metric").loc["accuracy"]
    assert friedman["n_blocks"] == 12
    assert friedman["statistic"] == pytest.approx(stats.friedmanchisquare(*by_block.to_numpy().T).statistic)
    ranks = pd.read_csv(out / "ranks_accuracy.csv", index_col="method")
    assert ranks["n_blocks"].eq(12).all()

    wilcoxon = pd.read_csv(out / "wilcoxon_accuracy.csv")
    assert list(wilcoxon.columns[:2]) == ["rho", "method"] and len(wilcoxon) == 4
    for (rho, method), row in wilcoxon.set_index(["rho", "method"]).iterrows():
        seeds = by_block.loc[rho]
        assert row["p_value"] == pytest.approx(stats.wilcoxon(seeds[method], seeds["ce"]).pvalue)
    assert (out / "wilcoxon_accuracy.md").read_text().splitlines()[0].startswith("| rho | method | baseline |")
    assert r"\caption{accuracy: Wilcoxon" in (out / "wilcoxon_accuracy.tex").read_text()
    text = (out / "report.md").read_text()
    assert "N = 12 (setting, seed) blocks" in text and "in each of 2 setting(s) over its seeds" in text
    assert "| method | settings | better | worse | not_significant |" in text
    significant = wilcoxon[wilcoxon.significant]
    ros_better = int((significant.method == "ros").sum())
    assert f"| ros | 2 | {ros_better} | 0 | {2 - ros_better} |" in text
    # 6 seeds: the smallest Wilcoxon p is 2 / 2**6 = 0.03125, Holm over 2 methods doubles it
    assert ("**No test here can be significant:** with 6 pairs the smallest two-sided Wilcoxon p is 0.0312, "
            "and Holm over 2 comparison(s) makes the smallest attainable p_holm 0.0625 > alpha = 0.05") in text
    assert wilcoxon["p_holm"].min() >= 0.0625

    with pytest.raises(ValueError, match=r"unknown blocks='runs'; choose one of \['auto', 'settings', 'seeds'\]"):
        report([workdir], tmp_path / "bad", blocks="runs")


# --- what a summary pools: settings, diverged runs, trained ratios ---------------------------

def learning_rate_runs(seeds: int = 10) -> pd.DataFrame:
    """Baseline at rho 1 under two learning rates whose seed-means are 0.968 and 0.593: pooled as if
    they were 20 seeds they read 0.780 ± 0.19 (what ``imbjax run`` printed before)."""
    rng = np.random.default_rng(8)
    rows = []
    for lr, mean in ((0.01, 0.968), (0.0001, 0.593)):
        noise = rng.standard_normal(seeds)
        values = mean + 0.01 * (noise - noise.mean()) / noise.std(ddof=1)  # seed-mean exactly `mean`
        rows += [{"run_id": f"{lr}-{s}", "group": "g", "dataset": "digits", "profile": "step", "rho": 1.0, "mu": 0.5,
                  "seed": s, "method": "baseline", "model": "mlp", "hp_learning_rate": lr, "balanced_accuracy": v,
                  "train_rho": 1.0, "diverged": 0.0} for s, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_summary_keeps_learning_rates_apart_and_states_n(capsys, monkeypatch):
    from imbjax.sweep.progress import print_summary, summary_cells

    runs = learning_rate_runs()
    pooled = runs["balanced_accuracy"]
    assert f"{pooled.mean():.3f} ± {pooled.std():.3f}" == "0.780 ± 0.193"  # the pooled number it must not show
    cells = summary_cells(runs, "balanced_accuracy").set_index("row")
    assert sorted(cells.index) == ["baseline (learning_rate=0.0001)", "baseline (learning_rate=0.01)"]
    for lr, mean in ((0.01, 0.968), (0.0001, 0.593)):
        cell = cells.loc[f"baseline (learning_rate={lr:g})"]
        values = runs.loc[runs.hp_learning_rate == lr, "balanced_accuracy"]
        assert cell["mean"] == pytest.approx(mean) and cell["std"] == pytest.approx(values.std(ddof=1))
        assert cell["n"] == 10 and cell["cell"] == f"{mean:.3f} ± {values.std(ddof=1):.3f} (n=10)"
    monkeypatch.setenv("COLUMNS", "200")
    print_summary(runs, ["balanced_accuracy"])
    out = capsys.readouterr().out
    assert "0.968 ± 0.010 (n=10)" in out and "0.593 ± 0.010 (n=10)" in out and "0.780" not in out
    assert "rho=1 " in out and "*" not in out  # trained at the nominal ratio: nothing flagged


def test_summary_splits_a_method_hyper_parameter_grid_and_every_varying_config_column():
    from imbjax.sweep.progress import panel_columns, summary_cells

    runs = synthetic_runs(np.random.default_rng(9), methods=("ce", "focal"), rhos=(10.0,), mus=(0.5,), seeds=range(4))
    focal = runs[runs.method == "focal"]
    runs = pd.concat([runs[runs.method == "ce"], focal, focal.assign(hp_gamma=0.5, accuracy=focal.accuracy - 0.2)])
    runs = pd.concat([runs.assign(validation_fraction=0.0), runs.assign(validation_fraction=0.2, accuracy=runs.accuracy + 1)])
    assert panel_columns(runs) == ["dataset", "profile", "validation_fraction"]
    cells = summary_cells(runs, "accuracy")
    assert len(cells) == 2 * 3 and cells["n"].eq(4).all()
    for (fraction, row), cell in cells.set_index(["validation_fraction", "row"]).iterrows():
        method, gamma = {"ce": ("ce", None), "focal (gamma=2)": ("focal", 2.0), "focal (gamma=0.5)": ("focal", 0.5)}[row]
        part = runs[(runs.method == method) & (runs.validation_fraction == fraction)]
        part = part if gamma is None else part[part.hp_gamma == gamma]
        assert cell["mean"] == pytest.approx(part["accuracy"].mean())


def test_summary_counts_diverged_runs_and_flags_a_trained_ratio_off_the_nominal_one(capsys, monkeypatch):
    from imbjax.sweep.progress import print_summary, summary_cells

    runs = learning_rate_runs()
    runs = pd.concat([runs, runs.assign(rho=20.0, train_rho=19.5, run_id=runs.run_id + "-20")], ignore_index=True)
    diverged = (runs.hp_learning_rate == 0.01) & (runs.seed < 2)
    runs.loc[diverged, "diverged"] = 1.0
    runs.loc[diverged & (runs.rho == 1.0), "balanced_accuracy"] = 0.1  # chance level: must not be averaged in
    runs.loc[diverged & (runs.rho == 20.0), ["balanced_accuracy", "train_rho"]] = np.nan
    cells = summary_cells(runs, "balanced_accuracy").set_index(["row", "rho"])
    cell = cells.loc[("baseline (learning_rate=0.01)", 1.0)]
    kept = runs.loc[(runs.hp_learning_rate == 0.01) & (runs.rho == 1.0) & ~diverged, "balanced_accuracy"]
    assert (cell["n"], cell["n_diverged"], cell["n_undefined"]) == (8, 2, 0)
    assert cell["mean"] == pytest.approx(kept.mean()) and cell["cell"].endswith("(n=8, 2 diverged)")
    assert cells.loc[("baseline (learning_rate=0.01)", 20.0), "train_rho"] == 19.5  # taken from its setting's runs
    monkeypatch.setenv("COLUMNS", "250")
    print_summary(runs, ["balanced_accuracy"])
    out = capsys.readouterr().out
    assert "rho=19.5 (nominal 20) *" in out and "baseline (learning_rate=0.01) *" in out
    assert "* the trained ratio (train_rho) is not the nominal rho" in out
    assert out.count("(n=8, 2 diverged)") == 2


def test_figure_draws_one_line_per_setting_and_states_its_band_and_n(tmp_path):
    from imbjax.analysis.plots import describe_band, metric_lines

    runs = learning_rate_runs()
    runs = pd.concat([runs, runs.assign(rho=10.0, balanced_accuracy=runs.balanced_accuracy - 0.1)], ignore_index=True)
    runs.loc[0, "diverged"] = 1.0
    lines = metric_lines(runs, "rho", "balanced_accuracy", band="ci")
    assert sorted(lines["line"].unique()) == ["baseline (learning_rate=0.0001)", "baseline (learning_rate=0.01)"]
    for (line, rho), point in lines.set_index(["line", "rho"]).iterrows():
        lr = 0.01 if line.endswith("0.01)") else 0.0001
        values = runs.loc[(runs.hp_learning_rate == lr) & (runs.rho == rho) & (runs.diverged == 0), "balanced_accuracy"]
        low, _ = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert point["mean"] == pytest.approx(values.mean()) and point["band_low"] == pytest.approx(low)
    assert describe_band(lines, "ci") == "mean and 95% Student-t CI over seeds, n = 9-10 per point, 1 diverged run(s) left out"
    std_lines = metric_lines(runs[runs.diverged == 0], "rho", "balanced_accuracy")
    assert describe_band(std_lines, "std") == "mean ± 1 std over seeds, n = 9-10 per point"
    assert_png(plot_metric_vs(runs, "rho", "balanced_accuracy", path=tmp_path / "lr.png"))


# --- blocking and model selection --------------------------------------------------------------

@pytest.mark.parametrize("seeds, blocks, expected, reason", [
    (6, "auto", "seeds", "`--blocks auto`: every setting has 6 or more seeds (>= 5)"),
    (3, "auto", "settings", "`--blocks auto`: some setting has only 3 seed(s) (< 5)"),
    (6, "settings", "settings", "chosen with `--blocks settings`"),
])
def test_report_says_at_its_top_which_blocks_it_used_and_why(tmp_path, seeds, blocks, expected, reason):
    runs = synthetic_runs(np.random.default_rng(13), rhos=(10.0, 100.0), mus=(0.5,), seeds=range(seeds))
    (tmp_path / "wd").mkdir()
    runs.to_csv(tmp_path / "wd" / "runs.csv", index=False)
    written = report([tmp_path / "wd"], tmp_path / "out", metrics=["accuracy"], baseline="ce", blocks=blocks)
    top = written["report.md"].read_text().splitlines()[2]
    heading = "**Blocks: (setting, seed).**" if expected == "seeds" else "**Blocks: settings.** "
    assert top.startswith(heading) and reason in top
    friedman = pd.read_csv(tmp_path / "out" / "friedman.csv").set_index("metric").loc["accuracy"]
    assert friedman["n_blocks"] == (2 * seeds if expected == "seeds" else 2)


def validation_runs() -> pd.DataFrame:
    """Two learning rates x focal's two gammas x 6 seeds where validation and test disagree: on
    validation the small learning rate (and gamma 2) wins, on test the large one; seed 5 prefers
    the large rate on validation too."""
    rng = np.random.default_rng(14)
    rows = []
    for method, gammas in (("ce", (np.nan,)), ("focal", (0.5, 2.0))):
        for lr, gamma, seed in itertools.product((0.1, 0.001), gammas, range(6)):
            small = lr == 0.001
            val = 0.8 + 0.1 * small + 0.05 * (gamma == 2.0) - 0.2 * (small and seed == 5)
            rows.append({"run_id": f"{method}-{lr}-{gamma}-{seed}", "dataset": "digits", "profile": "step",
                         "rho": 10.0, "mu": 0.5, "seed": seed, "method": method, "validation_fraction": 0.2,
                         "hp_learning_rate": lr, "hp_gamma": gamma, "val_balanced_accuracy": val,
                         "balanced_accuracy": 0.9 - 0.3 * small + 0.01 * rng.standard_normal(), "diverged": 0.0})
    return pd.DataFrame(rows)


def test_select_by_validation_chooses_on_validation_never_on_test():
    from imbjax.analysis import select_by_validation

    runs = validation_runs()
    runs.loc[(runs.method == "focal") & (runs.seed == 0) & (runs.hp_learning_rate == 0.001), "diverged"] = 1.0
    selection = select_by_validation(runs, "val_balanced_accuracy")
    assert selection.over == {"hp_learning_rate": (0.001, 0.1), "hp_gamma": (0.5, 2.0)} and len(selection.runs) == 12
    assert not any(c.startswith("hp_") for c in selection.runs.columns)
    choices = selection.choices.set_index(["method", "seed"])
    for (method, seed), choice in choices.iterrows():
        candidates = runs[(runs.method == method) & (runs.seed == seed) & (runs.diverged == 0)]
        best = candidates.loc[candidates["val_balanced_accuracy"].idxmax()]  # first maximum, in table order
        assert (choice["hp_learning_rate"], choice["candidates"]) == (best["hp_learning_rate"], 2 if method == "ce" else 4)
        assert choice["val_balanced_accuracy"] == best["val_balanced_accuracy"]
        selected = selection.runs.set_index(["method", "seed"]).loc[(method, seed)]
        assert selected["balanced_accuracy"] == best["balanced_accuracy"]  # the test score of the validation choice
    assert choices.loc[("focal", 0), "hp_learning_rate"] == 0.1  # its small-rate runs diverged
    assert choices.loc[("ce", 5), "hp_learning_rate"] == 0.1 and choices.loc[("ce", 1), "hp_learning_rate"] == 0.001
    assert selection.runs.set_index(["method", "seed"]).loc[("focal", 1), "selected"] == "learning_rate=0.001, gamma=2"
    assert "for each of 12 (method, setting, seed) triples, the best of 2-4 candidate run(s) over " \
           "learning_rate in {0.001, 0.1}; gamma in {0.5, 2}" in selection.describe()
    with pytest.raises(ValueError, match=r"unknown validation metric 'balanced_accuracy'; choose one of "
                                         r"\['val_balanced_accuracy'\]"):
        select_by_validation(runs, "balanced_accuracy")


def test_report_select_by_reports_the_validation_choice(tmp_path, capsys):
    runs = validation_runs()
    (tmp_path / "wd").mkdir()
    runs.to_csv(tmp_path / "wd" / "runs.csv", index=False)
    parser = add_report_arguments(argparse.ArgumentParser(prog="imbjax report"))
    args = parser.parse_args([str(tmp_path / "wd"), "--select-by", "val_balanced_accuracy", "--baseline", "ce"])
    assert run_report(args) == 0
    assert "Blocks: (setting, seed). `--blocks auto`: every setting has 6 or more seeds" in capsys.readouterr().out
    out = tmp_path / "wd" / "report"
    text = (out / "report.md").read_text()
    assert "Model selection on `val_balanced_accuracy` (validation part, never the test set)" in text
    assert "`selected_by_val_balanced_accuracy.csv`" in text and (out / "selected_by_val_balanced_accuracy.csv").is_file()
    summary = pd.read_csv(out / "summary.csv").set_index(["method", "metric"])
    assert "val_balanced_accuracy" not in summary.index.get_level_values("metric")  # the criterion is not a result
    expected = {}
    for method, part in runs.groupby("method"):
        best = part.sort_values("val_balanced_accuracy", ascending=False, kind="stable").groupby("seed").head(1)
        expected[method] = best["balanced_accuracy"].mean()
    assert summary.loc[("ce", "balanced_accuracy"), "mean"] == pytest.approx(expected["ce"])
    assert summary.loc[("focal", "balanced_accuracy"), "mean"] == pytest.approx(expected["focal"])
    assert summary.loc[("ce", "balanced_accuracy"), "n"] == 6
    with pytest.raises(ValueError, match="unknown validation metric 'val_auc'"):
        report([tmp_path / "wd"], tmp_path / "bad", select_by="val_auc")


def test_data_seeds_are_repeats_that_pair_runs_not_settings():
    """With ``data_seed`` as an axis of its own, (seed, data_seed) is one pair: summaries average over
    both, the seed-blocked tests and the model selection go per pair."""
    from imbjax.analysis import select_by_validation
    from imbjax.analysis.report import seeds_per_setting

    runs = validation_runs()
    runs = pd.concat([runs.assign(data_seed=d, run_id=runs.run_id + f"-d{d}",
                                  balanced_accuracy=runs.balanced_accuracy + 0.01 * d) for d in (0, 1)])
    assert split_columns(runs)[1] == ["val_balanced_accuracy", "balanced_accuracy"]
    summary = aggregate(runs, "balanced_accuracy").set_index(["method", "hp_learning_rate", "hp_gamma"])
    assert summary["n"].eq(12).all()  # 6 seeds x 2 data seeds
    assert seeds_per_setting(runs) == 12
    assert len(select_by_validation(runs, "val_balanced_accuracy").runs) == 2 * 12
    tests = wilcoxon_vs_baseline(runs, "balanced_accuracy", "ce", over="seeds")
    assert tests["n"].max() == 12


def test_a_methods_model_override_is_paired_with_the_other_methods_not_a_setting_of_its_own():
    """LDAM's cosine classifier changes ``model_spec`` for its runs only: the runs stay in the same
    blocks as the other methods (paired by seed), and the architecture's label stays a block factor."""
    from imbjax.analysis.aggregate import block_columns, method_specific_columns

    rows = [{"dataset": "d", "rho": rho, "seed": seed, "method": method, "model": "cnn",
             "model_spec": '{"head":"cosine","model":"cnn"}' if method == "ldam_drw" else '{"model":"cnn"}',
             "hp_learning_rate": 0.01, "accuracy": 0.5}
            for rho in (10.0, 100.0) for seed in range(3) for method in ("baseline", "ldam_drw")]
    runs = pd.DataFrame(rows)
    assert method_specific_columns(runs) == ["model_spec"]
    assert "model_spec" not in block_columns(runs) and "model" in block_columns(runs) and "rho" in block_columns(runs)


def test_panels_of_one_metric_share_a_y_range(tmp_path):
    from matplotlib.figure import Figure

    from imbjax.analysis.plots import share_y_by_metric

    axes = Figure().subplots(1, 3).ravel()
    for ax, top in zip(axes, (0.5, 0.9, 3.0)):
        ax.plot([0, 1], [0.1, top])
    share_y_by_metric(axes, ["accuracy", "accuracy", "loss"])
    assert axes[0].get_ylim() == axes[1].get_ylim() and axes[1].get_ylim()[1] >= 0.9
    assert axes[2].get_ylim()[1] >= 3.0 and axes[2].get_ylim() != axes[0].get_ylim()


# --- several workdirs, descriptors, data seeds, degenerate statistics ----------------------------

def sweep_config(**changes) -> dict:
    """A work directory's ``config.json`` (the keys of ``base_config`` that matter here), with ``changes``."""
    config = {"name": "sweep", "datasets": ["digits"], "profiles": ["step"], "rhos": [10.0, 100.0], "mus": [0.5],
              "seeds": 2, "data_seeds": None, "methods": ["ce", "ros"], "hparams": {}, "model": "mlp",
              "model_kwargs": {"hidden": [128, 128]}, "optimizer": "adam", "learning_rates": [0.01],
              "weight_decays": [0.0], "batch_size": 64, "num_steps": 300, "augment": "none", "augment_kwargs": {},
              "validation_fraction": 0.0, "checkpoint_every": 0, "max_parallel": 0, "figure_metrics": ["accuracy"]}
    return {**config, **changes}


def write_workdir(path: Path, runs: pd.DataFrame, config: dict | None) -> Path:
    import json

    path.mkdir(parents=True)
    runs.to_csv(path / "runs.csv", index=False)
    if config is not None:
        (path / "config.json").write_text(json.dumps(config))
    return path


def augment_workdirs(tmp_path: Path, *, seeds=range(2), third: dict | None = None) -> list[Path]:
    """Two sweeps identical in every runs.csv column but run_id, one without augmentation and one with
    (whose ros gains 0.1); their configs also differ in execution keys and in their seeds."""
    runs = synthetic_runs(np.random.default_rng(21), methods=("ce", "ros"), rhos=(10.0, 100.0), mus=(0.5,),
                          seeds=tuple(seeds))
    augmented = runs.assign(run_id=runs.run_id + "-aug",
                            accuracy=runs.accuracy + np.where(runs.method == "ros", 0.1, -0.1))
    workdirs = [write_workdir(tmp_path / "plain", runs, sweep_config()),
                write_workdir(tmp_path / "augmented", augmented,
                              sweep_config(augment="shift_noise", name="other", max_parallel=4, seeds=5))]
    if third is not None:
        workdirs.append(write_workdir(tmp_path / "third", runs.assign(run_id=runs.run_id + "-3"), third))
    return workdirs


def test_report_of_workdirs_of_different_configs_keeps_their_runs_apart(tmp_path):
    """Runs of sweeps that differ only in a key runs.csv does not record (augment) are two settings,
    never one setting of twice the seeds; the keys that agree are named as fixed."""
    workdirs = augment_workdirs(tmp_path)
    runs = read_runs(workdirs)
    assert [c for c in runs.columns if c.startswith("cfg_")] == ["cfg_augment"]  # not name, max_parallel, seeds
    assert sorted(runs["cfg_augment"].unique()) == ["none", "shift_noise"]
    assert "cfg_augment" in block_columns(runs) and "cfg_augment" not in split_columns(runs)[1]
    assert read_runs(workdirs[:1]).columns.tolist() == pd.read_csv(workdirs[0] / "runs.csv").columns.tolist()

    out = tmp_path / "out"
    report(workdirs, out, metrics=["accuracy"], baseline="ce", blocks="settings")
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 2 * 2 and summary["n"].eq(2).all()  # rho x method x augment, 2 seeds each
    for (augment, method), part in summary.groupby(["cfg_augment", "method"]):
        source = runs[(runs.cfg_augment == augment) & (runs.method == method)]
        assert part.set_index("rho")["mean"].to_dict() == pytest.approx(
            source.groupby("rho")["accuracy"].mean().to_dict())
    friedman = pd.read_csv(out / "friedman.csv").set_index("metric").loc["accuracy"]
    assert friedman["n_blocks"] == 4  # 2 rho x 2 augment settings, not 2
    text = (out / "report.md").read_text()
    assert "differ in keys runs.csv does not record" in text and "`cfg_augment` (none / shift_noise)" in text
    fixed = next(line for line in text.splitlines() if line.startswith("Methods:"))
    agreed = dict(part.split(" = ") for part in fixed.removesuffix(".").split("every workdir: ")[1].split(", "))
    # Neither the execution keys (name, max_parallel, ...) nor the keys a column records (seeds, rhos, ...);
    # model, validation_fraction, ... are named because these runs.csv lack their columns.
    assert agreed == {"augment_kwargs": "{}", "batch_size": "64", "data_seeds": "null", "model": "mlp",
                      "model_kwargs": '{"hidden":[128,128]}', "num_steps": "300", "optimizer": "adam",
                      "validation_fraction": "0.0", "weight_decays": "[0.0]"}
    assert "cfg_augment" in (out / "summary.md").read_text().splitlines()[6]  # the header of the first table

    five = augment_workdirs(tmp_path / "five", seeds=range(5))
    report(five, tmp_path / "seeds_out", metrics=["accuracy"], baseline="ce", blocks="seeds")
    tests = pd.read_csv(tmp_path / "seeds_out" / "wilcoxon_accuracy.csv")
    assert len(tests) == 4 and tests["n"].eq(5).all() and "cfg_augment" in tests.columns
    by_seed = read_runs(five).pivot(index=["cfg_augment", "rho", "seed"], columns="method", values="accuracy")
    for (augment, rho), row in tests.set_index(["cfg_augment", "rho"]).iterrows():  # ros and ce of one config
        pairs = by_seed.loc[(augment, rho)]
        assert row["mean_difference"] == pytest.approx((pairs["ros"] - pairs["ce"]).mean())
        assert row["p_value"] == pytest.approx(stats.wilcoxon(pairs["ros"], pairs["ce"]).pvalue)


def test_report_names_a_workdir_whose_config_cannot_be_compared(tmp_path):
    workdirs = augment_workdirs(tmp_path)
    no_config = write_workdir(tmp_path / "unknown", pd.read_csv(workdirs[0] / "runs.csv").assign(
        run_id=lambda d: d.run_id + "-u"), None)
    runs = read_runs([*workdirs, no_config])
    assert sorted(runs["cfg_augment"].unique()) == ["(no config.json)", "none", "shift_noise"]
    written = report([*workdirs, no_config], tmp_path / "out", metrics=["accuracy"])
    text = written["report.md"].read_text()
    assert f"**Config not compared:** {no_config} has no config.json" in text and "`(no config.json)`" in text
    # A config.json written before a key existed holds that key's default (base_config): its runs pool with
    # a newer sweep's at the default; a key base_config does not know reads "(absent)".
    older = {k: v for k, v in sweep_config().items() if k not in ("augment", "augment_kwargs", "batch_sampling")}
    absent = augment_workdirs(tmp_path / "absent", third={**older, "future_key": 1})
    runs = read_runs(absent)
    assert runs.loc[runs.run_id.str.endswith("-3"), "cfg_augment"].unique().tolist() == ["none"]
    assert "cfg_augment_kwargs" not in runs and "cfg_batch_sampling" not in runs
    assert sorted(runs["cfg_future_key"].unique()) == ["(absent)", "1"]


def descriptor_runs() -> pd.DataFrame:
    runs = synthetic_runs(np.random.default_rng(22), rhos=(10.0, 100.0), mus=(0.5,), seeds=range(3))
    return runs.assign(train_rho=runs.rho * 0.98, train_examples=1000.0 / np.log10(runs.rho),
                       train_min_class=5.0, train_loss=np.where(runs.method == "focal", 0.1, 0.5), diverged=0.0)


def test_report_ranks_results_not_descriptors_of_the_training_run(tmp_path):
    from imbjax.analysis.report import default_metrics

    runs = descriptor_runs()
    assert default_metrics(runs) == ["accuracy", "balanced_accuracy"]
    write_workdir(tmp_path / "wd", runs, None)
    written = report([tmp_path / "wd"], tmp_path / "out", baseline="ce")
    text = written["report.md"].read_text()
    for descriptor in ("train_rho", "train_examples", "train_min_class", "train_loss"):
        assert f"## {descriptor}" not in text and f"ranks_{descriptor}.csv" not in written
        assert f"cd_{descriptor}.png" not in written and f"wilcoxon_{descriptor}.csv" not in written
    assert "## accuracy (higher is better)" in text and "## balanced_accuracy (higher is better)" in text
    assert list(pd.read_csv(tmp_path / "out" / "friedman.csv")["metric"]) == ["accuracy", "balanced_accuracy"]
    assert "train_rho, train_examples, train_min_class, train_loss: what the runs trained on" in text
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert {"train_rho", "train_loss"} <= set(summary["metric"])  # described, not ranked

    asked = report([tmp_path / "wd"], tmp_path / "asked", metrics=["train_loss"], baseline="ce")
    assert "## train_loss (lower is better)" in asked["report.md"].read_text() and "ranks_train_loss.csv" in asked


def data_seed_runs() -> pd.DataFrame:
    runs = synthetic_runs(np.random.default_rng(23), methods=("ce", "ros"), rhos=(10.0,), mus=(0.5,), seeds=range(2))
    return pd.concat([runs.assign(data_seed=d, run_id=runs.run_id + f"-d{d}", diverged=0.0, model="mlp",
                                  train_rho=10.0) for d in (0, 1)], ignore_index=True)


def test_counts_say_what_they_pool_where_data_seeds_are_an_axis(tmp_path, capsys, monkeypatch):
    from imbjax.sweep.progress import print_summary

    runs = data_seed_runs()
    monkeypatch.setenv("COLUMNS", "250")
    print_summary(runs, ["accuracy"])
    out = " ".join(capsys.readouterr().out.split())  # the title wraps to the table's width
    assert "mean ± std over 2 seeds x 2 data seeds" in out and "(n=4)" in out

    write_workdir(tmp_path / "wd", runs, None)
    written = report([tmp_path / "wd"], tmp_path / "out", metrics=["accuracy"], baseline="ce")
    text = written["report.md"].read_text()
    assert ("some setting has only 4 (seed, data seed) pair(s) (2 seeds x 2 data seeds) (< 5)" in text
            and "only 4 seed(s)" not in text)
    assert "Mean over 2 seeds x 2 data seeds (rows" in text and "over its (seed, data seed) pairs" not in text
    assert "Wilcoxon signed-rank vs `ce` over (seed, data seed) pairs" in text
    assert written["summary.md"].read_text().startswith("# Summary (mean over 2 seeds x 2 data seeds, 95%")
    seeds = report([tmp_path / "wd"], tmp_path / "seeds", metrics=["accuracy"], baseline="ce", blocks="seeds")
    top = seeds["report.md"].read_text().splitlines()[2]
    assert top.startswith("**Blocks: (setting, seed, data seed).**") and "over its (seed, data seed) pairs" in top

    from imbjax.analysis.aggregate import pooled_replicates

    assert pooled_replicates(runs) == "2 seeds x 2 data seeds"
    assert pooled_replicates(runs[(runs.seed == 0) | (runs.method == "ce")]) == "1-2 seeds x 2 data seeds"
    assert pooled_replicates(runs.drop(columns="data_seed")) == "seeds"

    from imbjax.analysis import select_by_validation

    validation = validation_runs()
    validation = pd.concat([validation.assign(data_seed=d, run_id=validation.run_id + f"-d{d}") for d in (0, 1)])
    assert "for each of 24 (method, setting, seed, data seed) quadruples" in select_by_validation(
        validation, "val_balanced_accuracy").describe()


def test_select_by_leaves_a_wide_table_unfragmented(tmp_path):
    """A runs.csv as wide as a real one (hp_* columns among ~150 metrics): selecting must not warn."""
    import warnings

    from imbjax.analysis import select_by_validation

    runs = validation_runs()
    wide = pd.concat([runs, pd.DataFrame({f"recall_per_class_{c}": runs.balanced_accuracy + c for c in range(150)})],
                     axis=1)
    write_workdir(tmp_path / "wd", wide, None)
    table = read_runs([tmp_path / "wd"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        selection = select_by_validation(table, "val_balanced_accuracy")
        report([tmp_path / "wd"], tmp_path / "out", metrics=["balanced_accuracy"], select_by="val_balanced_accuracy")
    assert len(selection.runs) == 12 and selection.runs.columns[-1] == "selected"
    assert list(selection.choices.columns[-2:]) == ["val_balanced_accuracy", "candidates"]


def test_report_says_what_an_infinite_iman_davenport_f_means(tmp_path):
    rows = [{"run_id": f"{rho}-{m}", "dataset": "d", "rho": rho, "seed": 0, "method": m, "accuracy": score + rho / 1e3}
            for rho in (10.0, 20.0, 50.0, 100.0) for m, score in (("ce", 0.5), ("ros", 0.6), ("focal", 0.4))]
    write_workdir(tmp_path / "wd", pd.DataFrame(rows), None)
    written = report([tmp_path / "wd"], tmp_path / "out", metrics=["accuracy"])
    friedman = pd.read_csv(tmp_path / "out" / "friedman.csv").iloc[0]
    assert np.isinf(friedman["iman_davenport"]) and friedman["statistic"] == pytest.approx(8.0)
    text = written["report.md"].read_text()
    assert "F = inf" not in text and ", p = 0 " not in text
    assert ("Iman-Davenport F undefined: the methods rank identically in every block (chi2 at its maximum "
            "N (k - 1) = 8, F's denominator 0) (k = 3 methods, N = 4 blocks)") in text
