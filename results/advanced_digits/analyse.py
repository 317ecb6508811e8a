"""Seed-level statistics for results/advanced_digits, beside ``imbjax report``'s rho-level ones.

    python results/advanced_digits/analyse.py

The experiment's ``imbjax report`` (its ``REPORTS``) ranks the methods over the three rho settings (3
blocks: its Wilcoxon tests cannot reach p < 0.25). This script writes the tests over seeds that
FINDINGS.md quotes:

* ``report/seeds/``: the same report with ``--blocks seeds``, i.e.
  ``imbjax report results/advanced_digits/run --out results/advanced_digits/report/seeds
  --baseline baseline --blocks seeds --latex`` and the five metrics: Friedman and Nemenyi over the
  30 (rho, seed) blocks, Wilcoxon-Holm against the baseline at each rho over the 10 seeds
  (``wilcoxon_<metric>.csv``);
* ``report/seeds/wilcoxon_vs_ros.csv``: Wilcoxon-Holm of the advanced methods against ROS at each
  rho over seeds (Holm over the 7 advanced methods, so not a report option).
"""
import contextlib
from pathlib import Path

import pandas as pd

from imbjax.analysis.plots import FigureOutput
from imbjax.analysis.report import report
from imbjax.analysis.stats import wilcoxon_vs_baseline

STUDY = Path("results/advanced_digits")
ROOT = Path(__file__).resolve().parents[2]  # paths in report.md are written relative to it
METRICS = ("balanced_accuracy", "macro_f1", "g_mean", "min_class_recall", "ovr_roc_auc")
ADVANCED = ("cosen", "cosen_hinge", "de_costs", "dos", "lmle", "crl", "crl_instance")


def advanced_vs_ros(runs: pd.DataFrame) -> pd.DataFrame:
    """Every advanced method against ROS, per rho over seeds, one row per (metric, rho, method)."""
    subset = runs[runs["method"].isin(ADVANCED + ("ros",))]
    tests = [wilcoxon_vs_baseline(subset, metric, "ros", over="seeds") for metric in METRICS]
    return pd.concat(tests, keys=METRICS, names=["metric", None]).reset_index(level="metric")


def main(figure_output: FigureOutput = FigureOutput()) -> None:
    """Write ``report/seeds/`` (its figures saved with ``figure_output``)."""
    with contextlib.chdir(ROOT):
        out = STUDY / "report" / "seeds"
        report([STUDY / "run"], out, metrics=METRICS, baseline="baseline", latex=True, blocks="seeds",
               figure_output=figure_output)
        advanced_vs_ros(pd.read_csv(STUDY / "run" / "runs.csv")).to_csv(out / "wilcoxon_vs_ros.csv", index=False)


if __name__ == "__main__":
    main()
