"""Architectures as the treatments, for results/ding2015_depth, beside ``imbjax report``'s method tests.

    python results/ding2015_depth/analyse.py

``imbjax report`` compares the methods (baseline, ROS) within each architecture x rho setting, and
with 3 seeds no per-setting test can reach p < 0.25. Ding et al.'s question is about the
architectures, so this script compares them, with the same statistics code, in blocks of
(rho, method, seed) (runs of a block share the imbalanced subset; rho = 1 is left out, as it has no
minority class): ``report/depth/``

* ``ranks_<metric>.csv``: the average rank of each architecture, Friedman's test and the Nemenyi
  critical difference, over the 12 blocks of rho 10 and 50, and over each rho's 6;
* ``pairs.csv``: paired Wilcoxon signed-rank tests over the 12 blocks, Holm over the 6 questions
  of the study (residual vs plain at each depth, depth 20 vs 8 with and without shortcuts, All-CNN
  vs ResNet-20) within each metric;
* ``depth.md``: both as Markdown tables (FINDINGS.md quotes them).
"""
import contextlib
from pathlib import Path

import numpy as np
import pandas as pd

from imbjax.analysis import (
    block_table, friedman_test, higher_is_better, holm, markdown_table, nemenyi, wilcoxon_signed_rank,
)
from imbjax.analysis.plots import FigureOutput

STUDY = Path("results/ding2015_depth")
ROOT = Path(__file__).resolve().parents[2]
METRICS = ("macro_f1", "min_class_recall", "balanced_accuracy", "train_loss")
BLOCKS = ["rho", "method", "seed"]
ARCHITECTURES = ("plain8", "res8", "plain14", "res14", "plain20", "res20", "all_cnn")
#: (architecture, compared with): the study's questions.
PAIRS = (("res8", "plain8"), ("res14", "plain14"), ("res20", "plain20"),
         ("res20", "res8"), ("plain20", "plain8"), ("all_cnn", "res20"))


def architecture_ranks(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean rank (1 = best) and score of every architecture, with Friedman and Nemenyi, for the
    imbalanced settings together (``rho = "10+50"``) and for each rho."""
    best_high = higher_is_better(metric)
    parts = [("10+50", runs), *((f"{rho:g}", part) for rho, part in runs.groupby("rho"))]
    rows = []
    for label, part in parts:
        table = block_table(part, metric, blocks=BLOCKS, method="model")[list(ARCHITECTURES)]
        friedman = friedman_test(table, higher_is_better=best_high)
        cd = nemenyi(friedman.mean_ranks, friedman.n_blocks).cd
        for architecture in ARCHITECTURES:
            rows.append({"rho": label, "model": architecture, "mean_rank": friedman.mean_ranks[architecture],
                         "mean_score": table[architecture].mean(), "n_blocks": friedman.n_blocks,
                         "friedman_chi2": friedman.statistic, "friedman_p": friedman.p_value, "nemenyi_cd": cd})
    return pd.DataFrame(rows)


def architecture_pairs(runs: pd.DataFrame) -> pd.DataFrame:
    """Wilcoxon signed-rank of each pair in :data:`PAIRS` over the blocks, Holm within each metric."""
    rows = []
    for metric in METRICS:
        table = block_table(runs, metric, blocks=BLOCKS, method="model")
        sign = 1.0 if higher_is_better(metric) else -1.0
        tests = []
        for first, second in PAIRS:
            difference = (table[first] - table[second]).to_numpy()
            tests.append({"metric": metric, "model": first, "versus": second, "n": len(difference),
                          "mean_difference": float(np.mean(difference)),
                          "better": int(np.sum(sign * difference > 0)), "worse": int(np.sum(sign * difference < 0)),
                          "p_value": wilcoxon_signed_rank(table[first], table[second])[1]})
        adjusted = holm([t["p_value"] for t in tests])
        rows += [{**t, "p_holm": p, "significant": p <= 0.05} for t, p in zip(tests, adjusted)]
    return pd.DataFrame(rows)


def write(out: Path, runs: pd.DataFrame) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Architectures compared (results/ding2015_depth/analyse.py)", "",
             f"Blocks: (rho, method, seed), rho 10 and 50 ({len(runs)} runs). Ranks: 1 = best.", ""]
    for metric in METRICS:
        ranks = architecture_ranks(runs, metric)
        ranks.to_csv(out / f"ranks_{metric}.csv", index=False)
        wide = ranks.pivot(index="model", columns="rho", values="mean_rank").loc[list(ARCHITECTURES)]
        scores = ranks[ranks.rho == "10+50"].set_index("model")["mean_score"]
        summary = ranks.drop_duplicates("rho").set_index("rho")
        lines += [f"## {metric} ({'higher' if higher_is_better(metric) else 'lower'} is better)", "",
                  markdown_table(wide.rename(columns=lambda rho: f"mean rank, rho {rho}")
                                 .assign(**{"mean score, rho 10+50": scores})), ""]
        lines += [f"Friedman over {int(row.n_blocks)} blocks at rho {rho}: chi2 = {row.friedman_chi2:.2f}, "
                  f"p = {row.friedman_p:.3g}; Nemenyi CD = {row.nemenyi_cd:.2f}." for rho, row in summary.iterrows()]
        lines.append("")
    pairs = architecture_pairs(runs)
    pairs.to_csv(out / "pairs.csv", index=False)
    lines += ["## Paired tests over the 12 blocks (Wilcoxon signed-rank, Holm over the 6 pairs of a metric)", "",
              markdown_table(pairs.set_index(["metric", "model", "versus"])), ""]
    (out / "depth.md").write_text("\n".join(lines))


def main(figure_output: FigureOutput = FigureOutput()) -> None:
    """Write ``report/depth/`` (tables only: ``figure_output``, the analysis scripts' common argument, is unused)."""
    del figure_output
    with contextlib.chdir(ROOT):
        all_runs = pd.read_csv(STUDY / "run" / "runs.csv")
        write(STUDY / "report" / "depth", all_runs[all_runs["rho"] > 1])


if __name__ == "__main__":
    main()
