"""What a sweep shows while and after it runs: a live display, the plan, a summary, a figure."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from imbjax.analysis.plots import plot_metric_vs
from imbjax.sweep.grid import Group


class SweepProgress:
    """A live display of groups, runs done of the sweep's total (advancing after every part of a
    group), runs/s and ETA; plain log lines per group when not on a terminal."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=self.console, disable=not self.live)
        self.task = None
        self.runs_done = 0
        self.started = time.perf_counter()

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def report(self, event: str, info: dict) -> None:
        if self.task is None:
            self.task = self.progress.add_task("runs", total=info.get("total_runs"), rate="")
        label = f"[{info['index'] + 1}/{info['groups']}] {info['group']}"
        if event == "group_start":
            self.progress.update(self.task, description=f"{label}: compiling + training {info['runs']} runs")
            self._log(f"{label}: {info['runs']} runs ...")
        elif event == "part_done" and info["parts"] > 1:
            self.progress.update(self.task, completed=self.runs_done + info["runs_done"],
                                 description=f"{label}: {info['runs_done']}/{info['runs']} runs trained")
        elif event in ("group_done", "group_skipped"):
            self.runs_done += info["runs"]
            rate = self.runs_done / max(time.perf_counter() - self.started, 1e-9)
            self.progress.update(self.task, completed=self.runs_done, rate=f"{rate:.1f} runs/s")
            if event == "group_done":
                self._log(f"{label}: done, compile {info['compile_seconds']:.1f} s, "
                          f"train {info['run_seconds']:.1f} s ({info['runs'] / max(info['run_seconds'], 1e-9):.1f} runs/s)")
            else:
                self._log(f"{label}: already finished, skipped")

    def _log(self, text: str) -> None:
        if not self.live:
            print(text, file=sys.stderr, flush=True)


def print_plan(config, groups: list[Group], plan: dict) -> None:
    """The dry run: the expanded grid, its groups, the number of compiles, each group's layout, runs
    trained at once and memory estimate (``plan[group_id]``: a :class:`imbjax.sweep.runner.GroupPlan`)."""
    console = Console()
    table = Table(title=f"{config.name}: {sum(len(g.runs) for g in groups)} runs in {len(groups)} groups "
                        f"({len(groups)} compiles)")
    for column in ("group", "dataset", "profile", "model", "methods", "runs", "layout", "at once", "memory estimate"):
        table.add_column(column)
    for group in groups:
        group_plan = plan[group.group_id]
        table.add_row(group.group_id, group.dataset, group.profile, group.model.label, ", ".join(group.methods),
                      str(len(group.runs)), group_plan.layout, str(group_plan.width),
                      f"{group_plan.memory_estimate_bytes / 2**20:,.0f} MiB")
    console.print(table)
    console.print(f"steps per run {config.num_steps}, batch {config.batch_size}, "
                  f"rho {tuple(config.rhos)}, mu {tuple(config.mus)}, seeds {config.seeds}")


def _mean_std(values: pd.Series) -> str:
    defined = values.dropna()
    if defined.empty:
        return "undefined"
    text = f"{defined.mean():.3f} ± {defined.std(ddof=1) if len(defined) > 1 else 0.0:.3f}"
    missing = len(values) - len(defined)
    return text + (f" ({missing} undefined)" if missing else "")


def print_summary(table: pd.DataFrame, metrics) -> None:
    """Mean ± std over seeds of each metric, methods as rows and rho as columns; a table per
    dataset, profile and model (architecture)."""
    console = Console()
    settings = [c for c in ("dataset", "profile", "model") if c in table]
    for metric in metrics:
        if metric not in table:
            continue
        for values, part in table.groupby(settings, sort=False):
            setting = dict(zip(settings, values))
            rhos = sorted(part["rho"].unique())
            model = f", {setting['model']}" if "model" in setting else ""
            summary = Table(title=f"{metric} on {setting['dataset']} ({setting['profile']} imbalance{model}), "
                                  f"mean ± std over seeds")
            summary.add_column("method")
            for rho in rhos:
                summary.add_column(f"rho={rho:g}", justify="right")
            for method, rows in part.groupby("method", sort=False):
                summary.add_row(method, *[_mean_std(rows.loc[rows["rho"] == rho, metric]) for rho in rhos])
            console.print(summary)


def write_figure(table: pd.DataFrame, workdir: Path, metrics) -> Path | None:
    """``figure.png``: each metric against rho, a line per method, mean and ±1 std over seeds."""
    metrics = [m for m in metrics if m in table]
    if not metrics or table.empty or table["rho"].nunique() < 2:
        return None
    return plot_metric_vs(table, "rho", metrics, path=Path(workdir) / "figure.png", band="std")
