"""``imbjax report``: tables, statistics and figures from one or more sweep workdirs.

``report()`` reads every workdir's ``runs.csv`` (duplicate ``run_id`` rows dropped) and writes
into ``out_dir``:

* ``summary.csv`` / ``summary.md``: mean, std, Student-t CI, n and n_undefined per setting and metric
  (by default also for the ``train_*`` descriptors of what the runs trained on, which get no section);
* ``means_<metric>.md`` (and ``.tex`` with ``latex=True``, best per row in bold): seed-means,
  blocks x methods;
* ``ranks_<metric>.csv``: average ranks over complete blocks;
* ``friedman.csv`` and ``cd_<metric>.png``: Friedman test, Nemenyi CD and CD diagram, when there
  are >= 2 methods and >= 2 complete blocks (``report.md`` says why otherwise);
* ``wilcoxon_<metric>.csv``: Wilcoxon signed-rank vs ``baseline`` with Holm's correction, over
  blocks (over seeds when there is a single setting);
* ``classwise_<kind>.csv`` / ``.md``: per-class recall/F1/... means, when such columns exist;
* ``<metric>_vs_rho.png``, ``<metric>_vs_mu.png`` when rho / mu vary, and
  ``<metric>_vs_model.png`` (the metric per architecture, a line per method) when the model does;
* ``report.md``: everything above in one page.

* ``selected_by_<metric>.csv`` with ``select_by``: the hyper-parameters chosen on validation.

What a block is, ``blocks`` (``report.md`` says at its top which blocking it used and why):

* ``"auto"`` (default): ``"seeds"`` when every setting has at least :data:`MIN_SEED_BLOCKS` seeds,
  else ``"settings"``.
* ``"settings"``: one block per setting less the method (dataset x profile x rho x mu x
  model ...), scored by its seed-mean. With few settings the tests have little power: 3 blocks
  cannot give a Wilcoxon p below 0.25.
* ``"seeds"``: Friedman, Nemenyi and the ranks use one block per (setting, seed), since the runs
  of one seed share subset and initialisation; the Wilcoxon-Holm tests against ``baseline`` are
  done per setting over its seeds, Holm over the methods within each setting, and written as one
  table with the setting's varying columns first: ``wilcoxon_<metric>.csv`` / ``.md`` (and
  ``.tex`` with ``latex=True``); ``report.md`` counts per method the settings where it is
  significantly better, worse, or not different.

Model selection, ``select_by`` (a ``val_*`` metric): the report is of the runs chosen by
:func:`imbjax.analysis.selection.select_by_validation`, for every method, setting and seed the
hyper-parameters (learning rate and the method's own) best on the validation part; ``report.md``
states what was selected over and n.

Diverged runs (``diverged`` == 1) are counted per metric and never enter a mean, rank or test.

Metrics: by default every test metric (and the ``val_*`` ones, unless they are the selection criterion)
gets a section; the per-class ones get class-wise tables; ``train_rho``, ``train_examples``,
``train_min_class`` and ``train_loss`` describe what a run trained on (methods differ in their loss by
design) and are only summarised, unless named with ``metrics``.

Several workdirs: their runs are told apart by every key of their ``config.json`` that differs and that
no ``runs.csv`` column records (``augment``, ``num_steps``, ...): it becomes a setting column ``cfg_<key>``
(:func:`imbjax.analysis.aggregate.read_runs`), so runs of different configs are never pooled or
paired; ``report.md`` names those keys, and the keys that agree under "Fixed".

Where data seeds are an axis of their own, every "mean over" and every count of seeds says what it pools
(``2 seeds x 2 data seeds``, ``(seed, data seed) pairs``).
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from imbjax.analysis.aggregate import (
    VALIDATION_PREFIX, aggregate, block_columns, check_metrics, classwise_table, descriptor_columns, diverged_runs,
    format_value, has_data_seeds, higher_is_better, mask_diverged, method_labels, pairing_columns, per_class_kinds,
    pooled_replicates, read_runs, setting_columns, split_columns, varying_columns, without_redundant,
)
from imbjax.analysis.selection import select_by_validation
from imbjax.analysis.plots import FigureOutput, plot_critical_difference, plot_metric_vs
from imbjax.analysis.stats import (
    WILCOXON_COLUMNS, block_table, friedman_test, nemenyi, rank_methods, smallest_holm_p, wilcoxon_vs_baseline,
)
from imbjax.analysis.tables import latex_table, markdown_table, write_text

DEFAULT_REPORT_DIR = "report"
BLOCKS_CHOICES = ("auto", "settings", "seeds")
#: Seeds per setting from which ``blocks="auto"`` tests over seeds.
MIN_SEED_BLOCKS = 5
PLOT_AXES = ("rho", "mu", "model")


def default_metrics(runs: pd.DataFrame, *, validation: bool = True) -> list[str]:
    """All metric columns except the ``*_per_class_<c>`` ones (those get class-wise tables), the
    descriptors of what a run trained on (``train_rho``, ``train_examples``, ``train_min_class``,
    ``train_loss``: :func:`~imbjax.analysis.aggregate.descriptor_columns`; facts about the runs, not
    results to rank), and the ``val_*`` ones unless ``validation``."""
    per_class = {c for c in runs.columns if "_per_class_" in str(c)}
    descriptors = set(descriptor_columns(runs))
    return [m for m in split_columns(runs)[1]
            if m not in per_class and m not in descriptors
            and (validation or not str(m).startswith(VALIDATION_PREFIX))]


def _blocks_name(runs: pd.DataFrame) -> str:
    """``(setting, seed)``, or ``(setting, seed, data seed)`` where data seeds are an axis."""
    return "(setting, seed, data seed)" if has_data_seeds(runs) else "(setting, seed)"


def _seed_count(runs: pd.DataFrame, pairs: int) -> str:
    """``pairs`` seeds in words: ``6 seeds``, or ``4 (seed, data seed) pairs (2 seeds x 2 data seeds)``."""
    if not has_data_seeds(runs):
        return f"{pairs} seed(s)"
    return f"{pairs} (seed, data seed) pair(s) ({pooled_replicates(runs)})"


def seeds_per_setting(runs: pd.DataFrame) -> int:
    """The fewest seeds (pairs: ``seed`` and ``data_seed`` values) any (setting, method) of ``runs`` has
    (0 without a ``seed`` column)."""
    if "seed" not in runs.columns or runs.empty:
        return 0
    keys = [*block_columns(runs), "_method"]
    pairs = runs[[*block_columns(runs), *pairing_columns(runs)]].assign(_method=method_labels(runs)).drop_duplicates()
    return int(pairs.groupby(keys, dropna=False).size().min())


def choose_blocks(runs: pd.DataFrame, blocks: str) -> tuple[str, str]:
    """``(blocks, why)``: ``blocks`` with ``"auto"`` resolved (module docstring), and a sentence saying
    which blocking the tests use and why."""
    if blocks not in BLOCKS_CHOICES:
        raise ValueError(f"unknown blocks={blocks!r}; choose one of {list(BLOCKS_CHOICES)}")
    seeds = seeds_per_setting(runs)
    n_settings = len(runs[block_columns(runs)].drop_duplicates()) if block_columns(runs) else 1
    if blocks == "auto":
        blocks = "seeds" if seeds >= MIN_SEED_BLOCKS else "settings"
        if not has_data_seeds(runs):
            reason = (f"`--blocks auto`: every setting has {seeds} or more seeds (>= {MIN_SEED_BLOCKS})"
                      if blocks == "seeds" else f"`--blocks auto`: some setting has only {seeds} seed(s) "
                                                f"(< {MIN_SEED_BLOCKS}), too few to test over seeds")
        else:
            reason = (f"`--blocks auto`: every setting has {seeds} or more (seed, data seed) pairs "
                      f"({pooled_replicates(runs)}; >= {MIN_SEED_BLOCKS})" if blocks == "seeds"
                      else f"`--blocks auto`: some setting has only {_seed_count(runs, seeds)} "
                           f"(< {MIN_SEED_BLOCKS}), too few to test over seeds")
    else:
        reason = f"chosen with `--blocks {blocks}`"
    if blocks == "seeds":
        name = _blocks_name(runs)
        unit = "(seed, data seed) pair" if has_data_seeds(runs) else "seed"
        return blocks, (f"**Blocks: {name}.** {reason}; the runs of one {unit} share subset and "
                        f"initialisation, so each {unit} pairs the methods: Friedman/Nemenyi over {name} "
                        f"blocks, Wilcoxon-Holm per setting over its {unit}s.")
    return blocks, (f"**Blocks: settings.** {reason}; each of the {n_settings} setting(s) is one block, "
                    f"scored by its mean over {pooled_replicates(runs)}, so the tests have {n_settings} pair(s) "
                    f"at most.")


class _Writer:
    """Writes files into one folder and remembers them by file name; figures are saved with ``figure_output``."""

    def __init__(self, out_dir: Path, figure_output: FigureOutput):
        self.out_dir = out_dir
        self.figure_output = figure_output
        self.written: dict[str, Path] = {}

    def text(self, name: str, text: str) -> str:
        self.written[name] = write_text(text, self.out_dir / name)
        return name

    def csv(self, name: str, table: pd.DataFrame, index: bool = False) -> str:
        path = self.out_dir / name
        table.to_csv(path, index=index)
        self.written[name] = path
        return name

    def figure(self, name: str, path: Path) -> str:
        self.written[name] = path
        return name


def _display_table(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Seed-means, rows = the block columns that vary, columns = methods."""
    blocks = without_redundant(runs, varying_columns(runs, block_columns(runs)))
    table = block_table(runs, metric, blocks=blocks)
    return table if blocks else table.reset_index(drop=True)


def _wilcoxon_counts(tests: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Per method: settings tested, and those where it is significantly better / worse than the
    baseline (direction from the sign of the mean difference) or not significantly different."""
    tested = tests[tests["p_value"].notna()]
    better = tested["mean_difference"] * (1.0 if higher_is_better else -1.0) > 0
    counts = pd.DataFrame({
        "settings": tested.groupby("method", sort=False).size(),
        "better": (tested["significant"] & better).groupby(tested["method"], sort=False).sum(),
        "worse": (tested["significant"] & ~better).groupby(tested["method"], sort=False).sum(),
        "not_significant": (~tested["significant"]).groupby(tested["method"], sort=False).sum(),
    })
    return counts.reindex(tests["method"].unique(), fill_value=0).rename_axis("method")


def _power_note(tests: pd.DataFrame, setting: Sequence[str], alpha: float) -> list[str]:
    """A warning line when no test in ``tests`` can reach ``alpha``: with the most pairs any test has and
    the most methods Holm corrects over together, the smallest attainable ``p_holm`` exceeds ``alpha``."""
    if tests.empty or tests["n"].max() < 1:
        return []
    n_pairs = int(tests["n"].max())
    n_comparisons = int(tests.groupby(list(setting)).size().max()) if setting else len(tests)
    floor = smallest_holm_p(n_pairs, n_comparisons)
    if floor <= alpha:
        return []
    return [f"**No test here can be significant:** with {n_pairs} pairs the smallest two-sided Wilcoxon p is "
            f"{floor / n_comparisons:.3g}, and Holm over {n_comparisons} comparison(s) makes the smallest attainable "
            f"p_holm {floor:.3g} > alpha = {alpha:g}. More seeds (pairs) or fewer methods are needed; "
            f"the wins / losses columns still show the direction.", ""]


def _wilcoxon_lines(runs: pd.DataFrame, metric: str, writer: _Writer, *, baseline: str, alpha: float,
                    blocks: str, latex: bool) -> list[str]:
    """Markdown lines of the Wilcoxon-Holm tests against ``baseline`` (writing their files)."""
    best_high = higher_is_better(metric)
    seeds = "(seed, data seed) pairs" if has_data_seeds(runs) else "seeds"
    if blocks == "settings":
        over = "blocks" if len(block_table(runs, metric)) >= 2 else "seeds"
        tests = wilcoxon_vs_baseline(runs, metric, baseline, over=over, higher_is_better=best_high, alpha=alpha)
        return [f"Wilcoxon signed-rank vs `{baseline}` over {seeds if over == 'seeds' else over}, Holm-corrected at "
                f"alpha = {alpha:g}:", "",
                markdown_table(tests), f"(`{writer.csv(f'wilcoxon_{metric}.csv', tests)}`)", "",
                *_power_note(tests, [], alpha)]
    tests = wilcoxon_vs_baseline(runs, metric, baseline, over="seeds", higher_is_better=best_high, alpha=alpha)
    setting = [c for c in tests.columns if c not in WILCOXON_COLUMNS]
    shown = tests.set_index([*setting, "method"])
    files = [writer.csv(f"wilcoxon_{metric}.csv", tests), writer.text(f"wilcoxon_{metric}.md", markdown_table(shown))]
    if latex:
        caption = f"{metric}: Wilcoxon signed-rank vs {baseline} per setting over seeds, Holm at alpha = {alpha:g}"
        files.append(writer.text(f"wilcoxon_{metric}.tex", latex_table(shown, bold=None, caption=caption)))
    n_settings = len(tests[setting].drop_duplicates()) if setting else 1
    return [
        f"Wilcoxon signed-rank vs `{baseline}` in each of {n_settings} setting(s) over its {seeds}, Holm-corrected "
        f"over the methods of the setting at alpha = {alpha:g}; settings where each method is significantly better, "
        f"worse, or not significantly different:", "",
        markdown_table(_wilcoxon_counts(tests, best_high)),
        f"Per setting: {' / '.join(f'`{name}`' for name in files)}.", "",
        *_power_note(tests, setting, alpha),
    ]


def _iman_davenport_text(friedman) -> str:
    """``Iman-Davenport F = 3.6900, p = 0.02``; where F is infinite, what that means instead of ``F = inf, p = 0``:
    the methods' ranks are the same in every block (chi2 at its maximum N (k - 1), F's denominator 0)."""
    if np.isfinite(friedman.iman_davenport):
        return f"Iman-Davenport F = {friedman.iman_davenport:.4f}, p = {friedman.iman_davenport_p_value:.4g}"
    return (f"Iman-Davenport F undefined: the methods rank identically in every block (chi2 at its maximum "
            f"N (k - 1) = {friedman.n_blocks * (friedman.n_methods - 1)}, F's denominator 0)")


def _metric_section(runs: pd.DataFrame, metric: str, writer: _Writer, *, alpha: float,
                    baseline: str | None, latex: bool, blocks: str) -> tuple[list[str], dict | None]:
    """Markdown lines for one metric (writing its files) and its Friedman row, if tested."""
    best_high = higher_is_better(metric)
    lines = [f"## {metric} ({'higher' if best_high else 'lower'} is better)", ""]
    means = _display_table(runs, metric)
    over = pooled_replicates(runs)
    lines += [f"Mean over {over} (rows: blocks, columns: methods):", "", markdown_table(means)]
    writer.text(f"means_{metric}.md", markdown_table(means))
    if latex:
        tex = latex_table(means, bold="max" if best_high else "min", caption=f"{metric}, mean over {over}")
        lines.append(f"LaTeX table: `{writer.text(f'means_{metric}.tex', tex)}`\n")

    test_blocks = block_columns(runs) + (pairing_columns(runs) if blocks == "seeds" else [])
    kind = f"{_blocks_name(runs)} blocks" if blocks == "seeds" else "blocks"
    table = block_table(runs, metric, blocks=test_blocks)
    n_methods, n_complete = table.shape[1], len(table.dropna())
    ranks = rank_methods(runs, metric, higher_is_better=best_high, blocks=test_blocks)
    lines += [f"Average ranks over {n_complete} complete {kind} ({len(table) - n_complete} incomplete dropped):", ""]
    lines += [markdown_table(ranks), f"(`{writer.csv(f'ranks_{metric}.csv', ranks, index=True)}`)", ""]

    friedman_row = None
    if n_methods >= 2 and n_complete >= 2:
        friedman = friedman_test(table, higher_is_better=best_high)
        post_hoc = nemenyi(friedman.mean_ranks, friedman.n_blocks, alpha)
        figure = plot_critical_difference(post_hoc, writer.out_dir / f"cd_{metric}.png",
                                          title=f"{metric}: Nemenyi, alpha = {alpha:g}",
                                          figure_output=writer.figure_output)
        groups = "; ".join("{" + ", ".join(c) + "}" for c in post_hoc.cliques) or "none (all pairs differ)"
        lines += [
            f"Friedman chi2 = {friedman.statistic:.4f}, p = {friedman.p_value:.4g}; {_iman_davenport_text(friedman)} "
            f"(k = {friedman.n_methods} methods, N = {friedman.n_blocks} {kind}).",
            f"Nemenyi at alpha = {alpha:g}: q = {post_hoc.q_alpha:.3f}, CD = {post_hoc.cd:.4f}; "
            f"groups not significantly different: {groups}.", "",
            f"![critical difference diagram]({writer.figure(figure.name, figure)})", "",
        ]
        friedman_row = {
            "metric": metric, "n_methods": friedman.n_methods, "n_blocks": friedman.n_blocks,
            "statistic": friedman.statistic, "p_value": friedman.p_value,
            "iman_davenport": friedman.iman_davenport, "iman_davenport_p_value": friedman.iman_davenport_p_value,
            "alpha": alpha, "q_alpha": post_hoc.q_alpha, "cd": post_hoc.cd,
        }
    else:
        lines += [
            f"Friedman/Nemenyi skipped: they need >= 2 methods and >= 2 complete blocks, found {n_methods} "
            f"method(s) and {n_complete} complete {kind[:-1]}(s).", "",
        ]

    if baseline is not None and n_methods >= 2:
        lines += _wilcoxon_lines(runs, metric, writer, baseline=baseline, alpha=alpha, blocks=blocks, latex=latex)
    elif baseline is not None:
        lines += [f"Wilcoxon vs `{baseline}` skipped: only one method.", ""]

    for x in (axis for axis in PLOT_AXES if axis in runs.columns):
        defined = runs[runs[x].notna()]
        if defined[x].nunique() < 2 or defined[metric].isna().all():
            continue
        path = plot_metric_vs(defined, x, metric, path=writer.out_dir / f"{metric}_vs_{x}.png", title=metric,
                              figure_output=writer.figure_output)
        lines += [f"![{metric} vs {x}]({writer.figure(path.name, path)})", ""]
    return lines, friedman_row


def report(
    workdirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    metrics: Sequence[str] | None = None,
    baseline: str | None = None,
    latex: bool = False,
    alpha: float = 0.05,
    confidence: float = 0.95,
    blocks: str = "auto",
    select_by: str | None = None,
    figure_output: FigureOutput = FigureOutput(),
) -> dict[str, Path]:
    """Write the analysis of the runs of ``workdirs`` into ``out_dir``; returns ``{file name: path}``.

    Args:
      workdirs: sweep folders, each holding a ``runs.csv`` (FileNotFoundError otherwise).
      out_dir: output folder (created).
      metrics: metric columns to analyse; default all but the per-class ones and the ``train_*``
        descriptors (which the summary still shows).
      baseline: method label to test every other method against (Wilcoxon-Holm); None skips it.
      latex: also write ``means_<metric>.tex`` tables with the best value per row in bold.
      alpha: significance level of Nemenyi and Holm; confidence: CI coverage of ``summary``.
      blocks: ``"auto"``, ``"settings"`` or ``"seeds"``, the blocks of the tests (module docstring).
      select_by: a ``val_*`` metric: report, for every method, setting and seed, the run whose
        hyper-parameters were best on it (module docstring); None reports every run.
      figure_output: what the figures write (:class:`imbjax.analysis.plots.FigureOutput`): by
        default a metadata-free PNG each.
    """
    if blocks not in BLOCKS_CHOICES:
        raise ValueError(f"unknown blocks={blocks!r}; choose one of {list(BLOCKS_CHOICES)}")
    runs = read_runs(workdirs)
    comparison = runs.attrs.get("config_comparison")
    n_read, n_dropped, n_diverged = len(runs), runs.attrs["n_duplicates_dropped"], int(diverged_runs(runs).sum())
    selection = None if select_by is None else select_by_validation(runs, select_by)
    runs = mask_diverged(runs if selection is None else selection.runs)
    descriptors = descriptor_columns(runs) if metrics is None else []
    metrics = (default_metrics(runs, validation=selection is None) if metrics is None
               else check_metrics(runs, metrics))
    if not metrics:
        raise ValueError(f"no metric columns to analyse; columns are {list(runs.columns)}"
                         + (f" ({', '.join(descriptors)} describe what the runs trained on; name one with "
                            f"--metric to analyse it)" if descriptors else ""))
    labels = sorted(method_labels(runs).unique())
    if baseline is not None and baseline not in labels:
        raise ValueError(f"unknown baseline {baseline!r}; choose from {labels}")
    writer = _Writer(Path(out_dir), figure_output)
    writer.out_dir.mkdir(parents=True, exist_ok=True)
    blocks, blocking = choose_blocks(runs, blocks)

    settings = setting_columns(runs)
    varying = varying_columns(runs, settings)
    shown = list(dict.fromkeys(["method", *without_redundant(runs, varying)]))
    fixed = {c: runs[c].iloc[0] for c in settings if c not in varying and c != "method"}
    fixed_line = ", ".join(f"{c} = {format_value(v)}" for c, v in fixed.items()) or "none"
    if comparison is not None and comparison.agreeing:
        fixed_line += f"; in the config.json of every workdir: {comparison.fixed_text()}"
    summarised = [*metrics, *descriptors]
    summary = aggregate(runs, summarised, confidence=confidence)
    writer.csv("summary.csv", summary)
    shown_summary = aggregate(runs, summarised, by=shown, confidence=confidence)
    summary_md = [f"# Summary (mean over {pooled_replicates(runs)}, {confidence:.0%} Student-t CI)", "",
                  f"Fixed: {fixed_line}.", ""]
    for metric, part in shown_summary.groupby("metric", sort=False):
        summary_md += [f"## {metric}", "", markdown_table(part.drop(columns="metric")), ""]
    writer.text("summary.md", "\n".join(summary_md))

    undefined = ", ".join(f"{m}: {int(runs[m].isna().sum())}" for m in metrics)
    lines = ["# imbjax report", "", blocking, ""]
    if selection is not None:
        lines += [selection.describe() + f" Choices: `{writer.csv(f'selected_by_{select_by}.csv', selection.choices)}`.",
                  ""]
    lines += [
        f"{n_read} runs from {len(workdirs)} workdir(s): {', '.join(str(w) for w in workdirs)} "
        f"({n_dropped} duplicate run_id rows dropped"
        + (f"; {n_diverged} diverged, their metrics left out" if n_diverged else "") + ").",
        *(comparison.describe(len(workdirs)) if comparison is not None else []),
        f"Methods: {', '.join(labels)}. Fixed: {fixed_line}.",
        f"Undefined (NaN) runs per metric: {undefined}.",
        "Summary table: `summary.md` / `summary.csv`"
        + (f" (with {', '.join(descriptors)}: what the runs trained on, described there, not ranked or tested; "
           f"name one with `--metric` to test it)" if descriptors else "") + ".", "",
    ]
    friedman_rows = []
    for metric in metrics:
        section, friedman_row = _metric_section(runs, metric, writer, alpha=alpha, baseline=baseline, latex=latex,
                                                blocks=blocks)
        lines += section
        friedman_rows += [friedman_row] if friedman_row else []
    if friedman_rows:
        writer.csv("friedman.csv", pd.DataFrame(friedman_rows))
    for kind in per_class_kinds(runs):
        table = classwise_table(runs, kind, by=shown)
        writer.csv(f"classwise_{kind}.csv", table, index=True)
        lines += [f"## Class-wise {kind} (mean over {pooled_replicates(runs)}; columns are classes)", "",
                  markdown_table(table)]
        writer.text(f"classwise_{kind}.md", markdown_table(table))
    writer.text("report.md", "\n".join(lines))
    return writer.written


def add_report_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``imbjax report`` arguments to ``parser`` (returned for chaining)."""
    parser.add_argument("workdirs", nargs="+", type=Path, metavar="WORKDIR", help="sweep folder(s) holding runs.csv")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help=f"output folder (default: FIRST_WORKDIR/{DEFAULT_REPORT_DIR})")
    parser.add_argument("--metric", dest="metrics", action="append", default=None, metavar="NAME",
                        help="metric column to analyse; repeat for several (default: all but per-class and the train_* "
                             "descriptors of what the runs trained on)")
    parser.add_argument("--baseline", default=None, metavar="METHOD",
                        help="method to test every other method against (Wilcoxon signed-rank, Holm)")
    parser.add_argument("--latex", action="store_true", help="also write LaTeX tables (best per row in bold)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--blocks", choices=BLOCKS_CHOICES, default="auto",
                        help="blocks of the tests: 'settings' (seed-means per setting), 'seeds' "
                             "(Friedman/Nemenyi over (setting, seed) blocks, Wilcoxon-Holm per setting over seeds) "
                             f"or 'auto' (the default: seeds where every setting has >= {MIN_SEED_BLOCKS} seeds)")
    parser.add_argument("--select-by", default=None, metavar="VAL_METRIC",
                        help="model selection: for every method, setting and seed, report the test metrics of the "
                             "hyper-parameters (learning rate, the method's own) best on this validation metric, "
                             "e.g. val_balanced_accuracy (needs runs with validation_fraction > 0)")
    return parser


class _RaisingParser(argparse.ArgumentParser):
    """A parser whose errors raise ValueError instead of printing usage and exiting."""

    def error(self, message: str):
        raise ValueError(message)


def parse_report_arguments(arguments: Sequence[str]) -> argparse.Namespace:
    """Parse the words after ``imbjax report`` (e.g. an experiment's ``REPORTS`` entry) as the command line
    does; a ValueError names the list and what is wrong with it."""
    if not isinstance(arguments, (list, tuple)) or not all(isinstance(word, str) for word in arguments):
        raise ValueError(f"imbjax report arguments must be a list of strings, got {arguments!r}")
    parser = add_report_arguments(_RaisingParser(prog="imbjax report"))
    try:
        return parser.parse_args(list(arguments))
    except ValueError as error:
        raise ValueError(f"invalid imbjax report arguments {list(arguments)}: {error}") from None


def report_dir(args: argparse.Namespace) -> Path:
    """The folder parsed ``imbjax report`` arguments write to: ``--out``, else FIRST_WORKDIR/report."""
    return args.out if args.out is not None else args.workdirs[0] / DEFAULT_REPORT_DIR


def report_from_arguments(args: argparse.Namespace, figure_output: FigureOutput = FigureOutput()) -> dict[str, Path]:
    """:func:`report` with parsed ``add_report_arguments`` arguments; returns ``{file name: path}``."""
    return report(args.workdirs, report_dir(args), metrics=args.metrics, baseline=args.baseline, latex=args.latex,
                  alpha=args.alpha, blocks=args.blocks, select_by=args.select_by, figure_output=figure_output)


def run_report(args: argparse.Namespace) -> int:
    """Run ``report`` from parsed ``add_report_arguments`` arguments; prints the written paths."""
    written = report_from_arguments(args)
    blocking = written["report.md"].read_text().splitlines()[2].replace("**", "")
    print(f"wrote {len(written)} files to {report_dir(args)}. {blocking}")
    for path in written.values():
        print(f"  {path}")
    return 0
