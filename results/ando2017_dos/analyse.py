"""Factor effects of the DOS ablation in results/ando2017_dos, beside ``imbjax report``'s tests.

    python results/ando2017_dos/analyse.py

The experiment (``experiments/ando2017_dos.py``) trains DOS in a full factorial of its four parts
(r-fold overloading, micro-cluster loss, the neighbours' CE, normalised features: 16 settings) at
each rho over 10 seeds. The docstring's third ``imbjax report`` tests every setting against DOS
with the defaults (one part changed at a time, among others). This script writes the effect of
each part averaged over the settings of the other three, per rho and seed, and the effect of the
micro-cluster loss with raw and with normalised features separately:

* ``report/ablation/factor_effects.csv`` (and ``.md``): for every (metric, rho, contrast) the mean
  over seeds of (mean over the other parts' settings with the part on) - (... with it off), the
  seeds where it is higher / lower, and the Wilcoxon signed-rank test over the 10 seeds with Holm's
  correction over the contrasts of one (metric, rho);
* ``report/ablation/wilcoxon_vs_ros.csv``: every method and DOS setting against ROS, per rho over
  the 10 seeds (Wilcoxon signed-rank, Holm over the 18 others; the tests ``imbjax report
  --baseline ros --blocks seeds`` would make);
* ``report/ablation/dos_ablation.png``: balanced accuracy of the baseline, ROS, SMOTE and four DOS
  settings against rho (mean +- 1 std over seeds), and the factor effects on it (the report's own
  figures label all 19 competitors with every hyper-parameter and are hard to read).
"""
import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from imbjax.analysis.plots import FigureOutput, save_figure  # noqa: E402
from imbjax.analysis.stats import holm, wilcoxon_signed_rank, wilcoxon_vs_baseline  # noqa: E402

STUDY = Path("results/ando2017_dos")
ROOT = Path(__file__).resolve().parents[2]
METRICS = ("balanced_accuracy", "macro_f1", "min_class_recall")
ALPHA = 0.05
#: A contrast: its name, the hyper-parameter switched, its values (on, off) and the runs it is taken over.
CONTRASTS = (
    ("r-fold overloading (rate n_max / n_c vs 1)", "hp_oversampling_rate", (0.0, 1.0), None),
    ("micro-cluster loss (weight 1 vs 0)", "hp_micro_cluster_weight", (1.0, 0.0), None),
    ("  with raw features", "hp_micro_cluster_weight", (1.0, 0.0), ("hp_normalise", 0.0)),
    ("  with normalised features", "hp_micro_cluster_weight", (1.0, 0.0), ("hp_normalise", 1.0)),
    ("neighbours' CE (weight 1 vs 0)", "hp_target_weight", (1.0, 0.0), None),
    ("normalised features (1 vs 0)", "hp_normalise", (1.0, 0.0), None),
)


def seed_means(runs: pd.DataFrame, metric: str, column: str, value: float, within) -> pd.Series:
    """Per (rho, seed): the mean of ``metric`` over the DOS runs with ``column == value`` (and ``within``)."""
    chosen = runs[runs[column] == value]
    if within is not None:
        chosen = chosen[chosen[within[0]] == within[1]]
    return chosen.groupby(["rho", "seed"])[metric].mean()


def factor_effects(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (metric, rho, contrast): mean difference over seeds, seeds up / down, Wilcoxon-Holm."""
    dos = runs[runs["method"] == "dos"]
    rows = []
    for metric in METRICS:
        for rho, per_rho in dos.groupby("rho"):
            block = []
            for name, column, (on, off), within in CONTRASTS:
                high = seed_means(per_rho, metric, column, on, within)
                low = seed_means(per_rho, metric, column, off, within).loc[high.index]
                difference = (high - low).to_numpy()
                statistic, p_value = wilcoxon_signed_rank(high.to_numpy(), low.to_numpy())
                block.append({"metric": metric, "rho": rho, "contrast": name, "n": len(difference),
                              "mean_on": high.mean(), "mean_off": low.mean(),
                              "mean_difference": difference.mean(), "higher": int(np.sum(difference > 0)),
                              "lower": int(np.sum(difference < 0)), "statistic": statistic, "p_value": p_value})
            adjusted = holm([row["p_value"] for row in block])
            for row, p_holm in zip(block, adjusted):
                rows.append({**row, "p_holm": p_holm, "significant": bool(p_holm <= ALPHA)})
    return pd.DataFrame(rows)


def versus_ros(runs: pd.DataFrame) -> pd.DataFrame:
    """Every method and DOS setting against ROS, per rho over seeds, one row per (metric, rho, method)."""
    tests = [wilcoxon_vs_baseline(runs, metric, "ros", over="seeds") for metric in METRICS]
    return pd.concat(tests, keys=METRICS, names=["metric", None]).reset_index(level="metric")


#: The curves of the figure: label -> (method, DOS's (micro_cluster_weight, normalise, oversampling_rate,
#: target_weight) or None).
CURVES = {
    "baseline": ("baseline", None), "ROS": ("ros", None), "SMOTE": ("smote", None),
    "DOS (defaults)": ("dos", (1.0, 0.0, 0.0, 1.0)), "DOS, normalised features": ("dos", (1.0, 1.0, 0.0, 1.0)),
    "DOS without r-fold overloading": ("dos", (1.0, 0.0, 1.0, 1.0)),
    "DOS, micro-cluster loss only": ("dos", (1.0, 0.0, 1.0, 0.0)),
}
DOS_PARTS = ["hp_micro_cluster_weight", "hp_normalise", "hp_oversampling_rate", "hp_target_weight"]


def plot(runs: pd.DataFrame, effects: pd.DataFrame, path: Path, figure_output: FigureOutput,
         metric: str = "balanced_accuracy") -> None:
    """Left: ``metric`` against rho for :data:`CURVES`; right: the factor effects on it per rho."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    for label, (method, parts) in CURVES.items():
        chosen = runs[runs["method"] == method]
        if parts is not None:
            chosen = chosen[(chosen[DOS_PARTS].to_numpy() == np.asarray(parts)).all(axis=1)]
        stats = chosen.groupby("rho")[metric].agg(["mean", "std"])
        left.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=label)
    left.set(xlabel="rho", ylabel=metric, title=f"{metric}: mean +- 1 std over 10 seeds")
    left.set_xticks(sorted(runs["rho"].unique()), [f"{r:g}" for r in sorted(runs["rho"].unique())])
    left.legend(fontsize=8)
    part = effects[effects["metric"] == metric]
    names = list(dict.fromkeys(part["contrast"]))
    rows = np.arange(len(names))
    for offset, (rho, by_rho) in zip((-0.2, 0.2), part.groupby("rho")):
        values = by_rho.set_index("contrast").loc[names, "mean_difference"]
        right.barh(rows + offset, values, height=0.4, label=f"rho {rho:g}")
    right.set_yticks(rows, [name.strip() for name in names])
    right.invert_yaxis()
    right.axvline(0.0, color="black", linewidth=0.8)
    right.set(xlabel=f"{metric}: part on - off (mean over seeds)", title="DOS ablation: factor effects")
    right.legend(fontsize=8)
    save_figure(figure, path, figure_output, tight=False)
    plt.close(figure)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| metric | rho | contrast | n | on | off | difference | higher / lower | p_holm |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        star = "*" if row.significant else ""
        lines.append(f"| {row.metric} | {row.rho:g} | {row.contrast.strip()} | {row.n} | {row.mean_on:.3f} | "
                     f"{row.mean_off:.3f} | {row.mean_difference:+.3f}{star} | {row.higher} / {row.lower} | "
                     f"{row.p_holm:.4f} |")
    return "\n".join(lines) + "\n"


def main(figure_output: FigureOutput = FigureOutput()) -> None:
    """Write ``report/ablation/``'s factor effects, tests against ROS and figure (saved with ``figure_output``)."""
    with contextlib.chdir(ROOT):
        out = STUDY / "report" / "ablation"
        out.mkdir(parents=True, exist_ok=True)
        runs = pd.read_csv(STUDY / "run" / "runs.csv")
        effects = factor_effects(runs)
        effects.to_csv(out / "factor_effects.csv", index=False)
        (out / "factor_effects.md").write_text(markdown(effects))
        versus_ros(runs).to_csv(out / "wilcoxon_vs_ros.csv", index=False)
        plot(runs, effects, out / "dos_ablation.png", figure_output)


if __name__ == "__main__":
    main()
