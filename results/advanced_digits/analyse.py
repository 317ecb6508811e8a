"""Seed-level statistics for results/advanced_digits, beside ``imbjax report``'s rho-level ones.

    python results/advanced_digits/analyse.py

``imbjax report results/advanced_digits/run`` ranks the methods over the three rho settings
(3 blocks: its Wilcoxon tests cannot reach p < 0.25). This script writes, with the same
library functions, the tests over seeds that FINDINGS.md quotes:

* ``report/rho_<rho>/``: ``imbjax report`` of each rho alone, whose Wilcoxon-Holm tests against
  the baseline pair the 10 seeds (its ``report.md`` names the rho's runs
  ``advanced_digits_rho_<rho>``, a temporary copy);
* ``report/seed_blocks/``: Friedman and Nemenyi over the 30 (rho, seed) blocks
  (``friedman.csv``, ``ranks_<metric>.csv``, ``cd_<metric>.png``) and Wilcoxon-Holm tests of the
  advanced methods against ROS at each rho over seeds (``wilcoxon_vs_ros.csv``).
"""
import contextlib
import tempfile
from pathlib import Path

import pandas as pd

from imbjax.analysis import stats
from imbjax.analysis.plots import plot_critical_difference
from imbjax.analysis.report import report

HERE = Path(__file__).resolve().parent
METRICS = ("balanced_accuracy", "macro_f1", "g_mean", "min_class_recall", "ovr_roc_auc")
ADVANCED = ("cosen", "cosen_hinge", "de_costs", "dos", "lmle", "crl", "crl_instance")


def per_rho_reports(runs: pd.DataFrame) -> None:
    """One report per rho; the subset's workdir is named by a relative path so report.md is reproducible."""
    for rho, subset in runs.groupby("rho"):
        workdir = f"advanced_digits_rho_{rho:g}"
        with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
            Path(workdir).mkdir()
            subset.to_csv(Path(workdir) / "runs.csv", index=False)
            report([workdir], HERE / "report" / f"rho_{rho:g}", metrics=METRICS, baseline="baseline")


def seed_block_statistics(runs: pd.DataFrame) -> None:
    out = HERE / "report" / "seed_blocks"
    out.mkdir(parents=True, exist_ok=True)
    friedman_rows, wilcoxon_rows = [], []
    for metric in METRICS:
        table = stats.block_table(runs, metric, blocks=["rho", "seed"]).dropna()
        friedman = stats.friedman_test(table)
        ranks = stats.rank_methods(runs, metric, blocks=["rho", "seed"])
        ranks.to_csv(out / f"ranks_{metric}.csv")
        post_hoc = stats.nemenyi(ranks["mean_rank"], friedman.n_blocks)
        plot_critical_difference(post_hoc, out / f"cd_{metric}.png", title=f"{metric}, 30 (rho, seed) blocks")
        friedman_rows.append({"metric": metric, "n_blocks": friedman.n_blocks, "statistic": friedman.statistic,
                              "p_value": friedman.p_value, "cd": post_hoc.cd})
        for rho, subset in runs[runs["method"].isin(ADVANCED + ("ros",))].groupby("rho"):
            tests = stats.wilcoxon_vs_baseline(subset, metric, "ros", over="seeds")
            wilcoxon_rows.append(tests.assign(metric=metric, rho=rho))
    pd.DataFrame(friedman_rows).to_csv(out / "friedman.csv", index=False)
    pd.concat(wilcoxon_rows).to_csv(out / "wilcoxon_vs_ros.csv", index=False)


if __name__ == "__main__":
    all_runs = pd.read_csv(HERE / "run" / "runs.csv")
    per_rho_reports(all_runs)
    seed_block_statistics(all_runs)
