"""What a sweep shows while and after it runs: a live display, the plan, a summary, a figure."""
from __future__ import annotations

import functools
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from imbjax.analysis.aggregate import (
    DIVERGED,
    HP_PREFIX,
    TRAINED_RATIO,
    aggregate,
    format_value,
    label_runs,
    pooled_replicates,
    setting_columns,
    swept_hyper_parameters,
    varying_columns,
    without_redundant,
)
from imbjax.analysis.plots import FigureOutput, plot_metric_vs
from imbjax.sweep.grid import Group


class SweepProgress:
    """A live display of groups, runs stored of the sweep's total (advancing after every part of a
    group), runs/s and ETA; plain log lines per group when not on a terminal. ``stored`` and ``total``
    count the sweep's runs stored so far (earlier ones included) and all of its runs."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=self.console, disable=not self.live)
        self.task = None
        self.stored = 0
        self.total = None
        self.trained = 0
        self.started = time.perf_counter()

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def report(self, event: str, info: dict) -> None:
        if self.task is None:
            self.total = info.get("total_runs")
            self.task = self.progress.add_task("runs", total=self.total, rate="")
        if event == "sweep_start":
            self.stored = info["finished_runs"]
            self.progress.update(self.task, completed=self.stored)
            if self.stored:
                self._log(f"{self.stored} of {self.total} runs already stored; training the other "
                          f"{self.total - self.stored}")
            return
        label = f"[{info['index'] + 1}/{info['groups']}] {info['group']}"
        if event == "group_start":
            self.progress.update(self.task, description=f"{label}: compiling + training {info['runs']} runs")
            self._log(f"{label}: {info['runs']} runs ...")
        elif event == "part_done" and info["parts"] > 1:
            self.progress.update(self.task, completed=self.stored + info["runs_done"],
                                 description=f"{label}: {info['runs_done']}/{info['runs']} runs trained")
        elif event == "group_done":
            self.stored += info["runs"]
            self.trained += info["runs"]
            rate = self.trained / max(time.perf_counter() - self.started, 1e-9)
            self.progress.update(self.task, completed=self.stored, rate=f"{rate:.1f} runs/s")
            self._log(f"{label}: done, compile {info['compile_seconds']:.1f} s, "
                      f"train {info['run_seconds']:.1f} s ({info['runs'] / max(info['run_seconds'], 1e-9):.1f} runs/s)")
        elif event == "group_skipped":
            self._log(f"{label}: already finished, skipped")

    def _log(self, text: str) -> None:
        if not self.live:
            print(text, file=sys.stderr, flush=True)


#: Width of the dry run's plan.
PLAN_WIDTH = 80


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def plan_lines(config, groups: list[Group], plan: dict, to_train: dict[str, int] | None = None) -> list[str]:
    """The dry run as lines of at most :data:`PLAN_WIDTH` characters: the grid, then per group its data
    set, profile, model, methods, runs (stored and to train), layout, runs at once, memory estimate
    and runtime estimate (``plan[group_id]``: a :class:`imbjax.sweep.runner.GroupPlan`; ``to_train``:
    runs not stored yet per group, default all), and the sweep's runtime estimate from the compile and
    step times cached on this machine."""
    to_train = to_train if to_train is not None else {group.group_id: len(group.runs) for group in groups}
    total, missing = sum(len(g.runs) for g in groups), sum(to_train.values())
    plural = "" if len(groups) == 1 else "s"
    header = [(f"{config.name}: {total} runs in {len(groups)} group{plural} ({len(groups)} compile{plural}); "
               f"{total - missing} stored, {missing} to train"),
              (f"steps per run {config.num_steps}, batch {config.batch_size}, rho {tuple(config.rhos)}, "
               f"mu {tuple(config.mus)}, seeds {config.seeds}"
               + (f", data seeds {config.data_seeds}" if config.data_seeds is not None else ""))]
    lines, estimates = [], []
    for number, group in enumerate(groups, start=1):
        group_plan, runs = plan[group.group_id], to_train[group.group_id]
        estimate = group_plan.seconds_estimate(runs, config.num_steps)
        estimates.append(estimate)
        lines += [f"{number}. {group.group_id}",
                  f"   {group.dataset}, {group.profile}, {group.model.label}: {', '.join(group.methods)}",
                  f"   {len(group.runs)} runs ({runs} to train), {group_plan.width} at once ({group_plan.layout}), "
                  f"memory ~{group_plan.memory_estimate_bytes / 2**20:,.0f} MiB, "
                  + ("time: nothing to train" if not runs else "time: not measured here yet" if estimate is None
                     else f"time ~{_seconds(estimate)}")]
    pending = [estimate for estimate, group in zip(estimates, groups, strict=True) if to_train[group.group_id]]
    known = [e for e in pending if e is not None]
    unknown = len(pending) - len(known)
    if not pending:
        footer = "estimated runtime: nothing to train"
    elif not known:
        footer = f"estimated runtime: unknown (none of the {unknown} group(s) to train has run here)"
    else:
        footer = (f"estimated runtime ~{_seconds(sum(known))} (compile and step times cached on this machine)"
                  + (f", plus {unknown} group(s) never run here" if unknown else ""))
    wrap = functools.partial(textwrap.wrap, width=PLAN_WIDTH, subsequent_indent="   ", break_on_hyphens=False)
    return [part for line in (*header, *lines, footer) for part in (wrap(line) or [""])]


def print_plan(config, groups: list[Group], plan: dict, to_train: dict[str, int] | None = None) -> None:
    """Print :func:`plan_lines`."""
    print("\n".join(plan_lines(config, groups, plan, to_train)))


#: Setting columns every summary table is titled by, varying or not.
TITLE_COLUMNS = ("dataset", "profile", "model")
#: Relative difference from which a trained ratio counts as not the nominal rho.
RATIO_TOLERANCE = 1e-3


def trained_ratio(table: pd.DataFrame) -> pd.Series:
    """Per run, the imbalance ratio of the subset it trained on (``train_rho``, rounded to 3 decimals).

    A run without one (NaN) takes that of the other runs of its setting, and the nominal ``rho`` where
    no run of the setting has one or the table has no ``train_rho``.
    """
    if TRAINED_RATIO not in table.columns:
        return table["rho"].astype(float)
    settings = [table[c] for c in setting_columns(table)]
    known = table[TRAINED_RATIO].groupby(settings, dropna=False, sort=False).transform("first")
    return known.fillna(table["rho"]).round(3)


def _cell_text(row: pd.Series) -> str:
    """``mean ± std (n=10)``; diverged and otherwise undefined runs are counted, never averaged."""
    value = "–" if row["n"] == 0 else f"{row['mean']:.3f}" if row["n"] == 1 else f"{row['mean']:.3f} ± {row['std']:.3f}"
    counts = [f"n={row['n']}"]
    counts += [f"{row['n_diverged']} diverged"] if row.get("n_diverged", 0) else []
    counts += [f"{row['n_undefined']} undefined"] if row["n_undefined"] else []
    return f"{value} ({', '.join(counts)})"


def summary_cells(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The cells of :func:`print_summary` for ``metric``: one row per setting, over its seeds.

    A setting is every config column that varies (dataset, profile, model, ``model_spec`` where one
    label names two models, mu, ``validation_fraction``, the learning rate, each method
    hyper-parameter, ...) and the trained ratio ``train_rho``. Columns: the table's title columns
    (:func:`panel_columns`), ``row`` (the method, qualified by the hyper-parameters swept within a
    method: ``baseline (learning_rate=0.01)``), ``rho``, ``train_rho``, the ``aggregate`` columns
    (mean, std, n, n_undefined, n_diverged) and ``cell``, the text shown.
    """
    panels = panel_columns(table)
    rows = label_runs(table, "method", swept_hyper_parameters(table))
    status = [DIVERGED] if DIVERGED in table.columns else []
    keyed = table[[*panels, "rho", metric, *status]].assign(row=rows, **{TRAINED_RATIO: trained_ratio(table)})
    cells = aggregate(keyed, metric, by=[*panels, "row", "rho", TRAINED_RATIO])
    order = {label: index for index, label in enumerate(dict.fromkeys(rows))}  # the config's order
    cells = cells.sort_values("row", key=lambda labels: labels.map(order), kind="stable", ignore_index=True)
    return cells.assign(cell=cells.apply(_cell_text, axis=1))


def panel_columns(table: pd.DataFrame) -> list[str]:
    """The columns a summary table is titled by: dataset, profile and model, and every other
    setting column that varies, except the method, its hyper-parameters and rho (``model_spec``
    only where a label names two models)."""
    varying = varying_columns(table, setting_columns(table))
    others = [c for c in varying if c not in (*TITLE_COLUMNS, "method", "rho") and not c.startswith(HP_PREFIX)]
    return without_redundant(table, [c for c in (*TITLE_COLUMNS, *others) if c in table.columns])


def _ratio_header(rho: float, trained: float) -> tuple[str, bool]:
    """A column's header, the trained ratio, and whether it differs from the nominal ``rho``."""
    if abs(trained - rho) <= RATIO_TOLERANCE * rho:
        return f"rho={trained:g}", False
    return f"rho={trained:.4g} (nominal {rho:g}) *", True


def _title(metric: str, setting: dict, over: str = "seeds") -> str:
    inside = [f"{setting['profile']} imbalance"] if "profile" in setting else []
    inside += [format_value(setting["model"])] if "model" in setting else []
    inside += [f"{c}={format_value(v)}" for c, v in setting.items() if c not in TITLE_COLUMNS and not pd.isna(v)]
    where = f" on {setting['dataset']}" if "dataset" in setting else ""
    return f"{metric}{where} ({', '.join(inside)}), mean ± std over {over}"


def print_summary(table: pd.DataFrame, metrics) -> None:
    """Mean ± std over seeds of each metric per setting, with its n; never pools settings.

    A table per metric and combination of :func:`panel_columns`; rows are methods qualified by
    their swept hyper-parameters, columns the trained ratios ``train_rho`` (a column whose ratio
    is not the nominal rho, and its rows, are flagged ``*``). Diverged runs are counted per cell and
    left out of the mean. Where data seeds are an axis of their own the title says what n pools,
    ``mean ± std over 2 seeds x 2 data seeds`` (:func:`~imbjax.analysis.aggregate.pooled_replicates`).
    """
    console = Console()
    over = pooled_replicates(table)
    for metric in metrics:
        if metric not in table:
            continue
        cells = summary_cells(table, metric)
        panels = panel_columns(table)
        for values, part in cells.groupby(panels, dropna=False, sort=False) if panels else [((), cells)]:
            ratios = part[["rho", TRAINED_RATIO]].drop_duplicates().sort_values(["rho", TRAINED_RATIO])
            headers = [_ratio_header(rho, trained) for rho, trained in ratios.itertuples(index=False)]
            summary = Table(title=_title(metric, dict(zip(panels, values)), over),
                            caption="* the trained ratio (train_rho) is not the nominal rho" if any(
                                flag for _, flag in headers) else None)
            summary.add_column("method")
            for header, _ in headers:
                summary.add_column(header, justify="right")
            for row, rows in part.groupby("row", sort=False):
                by_ratio = rows.set_index(["rho", TRAINED_RATIO])["cell"]
                texts = [by_ratio.get(tuple(key), "") for key in ratios.itertuples(index=False)]
                flagged = any(flag and text for (_, flag), text in zip(headers, texts))
                summary.add_row(f"{row} *" if flagged else row, *texts)
            console.print(summary)


def figure_title(table: pd.DataFrame) -> str:
    """What a figure of ``table`` shows: its data sets, mu (or the profile where mu does not apply) and
    the number of seeds (and data seeds), e.g. ``digits, mu 0.5, 10 seeds``."""
    parts = [", ".join(str(name) for name in dict.fromkeys(table["dataset"]))] if "dataset" in table else []
    mus = sorted(table["mu"].dropna().unique()) if "mu" in table else []
    if mus:
        parts.append("mu " + "/".join(format_value(float(mu)) for mu in mus))
    if "profile" in table and (not mus or table["mu"].isna().any()):
        parts += [f"{profile} profile" for profile in dict.fromkeys(table["profile"]) if profile != "step"]
    parts.append(f"{table['seed'].nunique()} seeds")
    if "data_seed" in table:
        parts.append(f"{table['data_seed'].nunique()} data seeds")
    return ", ".join(parts)


def write_figure(table: pd.DataFrame, workdir: Path, metrics,
                 figure_output: FigureOutput = FigureOutput()) -> Path | None:
    """``figure.png``: each metric against rho, a line per setting (method and every other varying
    config column), mean and ±1 std over seeds; the title names the data sets, mu and the number of
    seeds (:func:`figure_title`), then the band and n. Saved with ``figure_output``
    (:func:`imbjax.analysis.plots.save_figure`)."""
    metrics = [m for m in metrics if m in table]
    if not metrics or table.empty or table["rho"].nunique() < 2:
        return None
    return plot_metric_vs(table, "rho", metrics, path=Path(workdir) / "figure.png", band="std",
                          title=figure_title(table), figure_output=figure_output)
