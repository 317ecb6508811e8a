"""The published MNIST-1D table against imbjax's reproduction: ``table.md`` and ``figure.png``.

    python results/mnist1d_benchmark/analyse.py
    python scripts/make_figures.py --study mnist1d_benchmark    # the same, with the figure's plotted data

Reads ``run/runs.csv`` (``imbjax run experiments/mnist1d_benchmark.py --workdir
results/mnist1d_benchmark/run``): test accuracy per model, mean and sample standard deviation over
the seeds, beside the README table of greydanus/mnist1d (MNIST-1D row).
"""
import contextlib
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from imbjax.analysis.plots import FigureOutput, save_figure

STUDY = Path("results/mnist1d_benchmark")
ROOT = Path(__file__).resolve().parents[2]
#: Test accuracy (%) in the README table of greydanus/mnist1d, MNIST-1D row, by model label.
PUBLISHED = {"logistic": 32.0, "mlp": 68.0, "cnn": 94.0}


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model (in the published table's order): published accuracy and imbjax's over seeds, in %."""
    accuracy = runs.groupby("model")["accuracy"]
    table = pd.DataFrame({"published": pd.Series(PUBLISHED), "mean": 100 * accuracy.mean(),
                          "std": 100 * accuracy.std(), "min": 100 * accuracy.min(), "max": 100 * accuracy.max(),
                          "n": accuracy.count()}).loc[list(PUBLISHED)]
    table["difference"] = table["mean"] - table["published"]
    return table


def markdown(table: pd.DataFrame) -> str:
    lines = ["| model | published | imbjax, mean ± std | n | min - max | imbjax - published |",
             "|---|---|---|---|---|---|"]
    for model, row in table.iterrows():
        lines.append(f"| {model} | {row['published']:.0f}% | {row['mean']:.1f} ± {row['std']:.1f}% | {row['n']:.0f} "
                     f"| {row['min']:.1f} - {row['max']:.1f}% | {row['difference']:+.1f} |")
    return "\n".join(lines) + "\n"


def figure(runs: pd.DataFrame, table: pd.DataFrame, path: Path, figure_output: FigureOutput) -> None:
    """Every seed's accuracy, the mean ± std and the published value, per model."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    positions = range(len(table))
    for position, model in zip(positions, table.index):
        seeds = 100 * runs.loc[runs["model"] == model, "accuracy"].to_numpy()
        ax.plot([position - 0.15] * len(seeds), seeds, "o", color="0.6", markersize=3,
                label="imbjax, one seed" if position == 0 else None)
    ax.errorbar(positions, table["mean"], yerr=table["std"], fmt="s", color="C0", capsize=4,
                label="imbjax, mean ± std")
    ax.plot([p + 0.15 for p in positions], table["published"], "x", color="C3", markersize=9, mew=2,
            label="published (README)")
    ax.set_xticks(list(positions), list(table.index))
    ax.set_xlim(-0.5, len(table) - 0.5)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"MNIST-1D, {int(table['n'].min())} seeds per model", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, figure_output, tight=False)
    plt.close(fig)


def main(figure_output: FigureOutput = FigureOutput()) -> None:
    """Write ``table.md`` and ``figure.png`` (saved with ``figure_output``)."""
    with contextlib.chdir(ROOT):
        runs = pd.read_csv(STUDY / "run" / "runs.csv")
        table = summary(runs)
        (STUDY / "table.md").write_text(markdown(table))
        figure(runs, table, STUDY / "figure.png", figure_output)


if __name__ == "__main__":
    main()
