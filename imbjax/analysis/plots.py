"""Figures: a metric against rho / mu / a hyper-parameter / the model, and critical-difference diagrams.

Figures are drawn on the Agg canvas through ``matplotlib.figure.Figure`` (pyplot's global state
and interactive backends are never touched) and saved to PNG.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from imbjax.analysis.aggregate import (
    aggregate, check_columns, check_metrics, format_value, label_runs, setting_columns, varying_columns,
    without_redundant,
)
from imbjax.analysis.stats import NemenyiResult

BAND_CHOICES = ("std", "ci")
FACET_CANDIDATES = ("dataset", "profile", "model", "mu", "rho")
_MAX_COLUMNS = 3
_DPI = 120
_MARKERS = ("o", "s", "^", "D", "v")
_LEGEND_ROWS = 40
_LEGEND_ROW_INCHES = 0.19
_LEGEND_CHAR_INCHES = 0.065


def _new_figure(width: float, height: float, layout: str | None = None) -> Figure:
    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI, bbox_inches="tight")
    return path


def _use_log_x(x: str, values: np.ndarray) -> bool:
    """Log x for rho, and for any positive axis spanning at least a factor 10 (learning rates)."""
    finite = values[np.isfinite(values)]
    return x == "rho" or (finite.size > 1 and finite.min() > 0 and finite.max() / finite.min() >= 10)


def line_style(index: int) -> tuple[str, str]:
    """The colour and marker of the ``index``-th line: 10 colours, then the next marker, so that up to 50
    lines of one figure look different."""
    return f"C{index % 10}", _MARKERS[(index // 10) % len(_MARKERS)]


def _draw_line(ax, line: pd.DataFrame, x: str, label: str, style: tuple[str, str]) -> None:
    """Mean with its band; a dashed horizontal reference when the line has no ``x`` value."""
    color, marker = style
    placed = line[line[x].notna()]
    if placed.empty:
        reference = line.iloc[0]
        ax.axhline(reference["mean"], color=color, linestyle="--", label=label)
        if np.isfinite(reference["band_low"]) and np.isfinite(reference["band_high"]):
            ax.axhspan(reference["band_low"], reference["band_high"], color=color, alpha=0.12)
        return
    ax.plot(placed[x], placed["mean"], marker=marker, color=color, label=label)
    ax.fill_between(placed[x], placed["band_low"], placed["band_high"], color=color, alpha=0.12, linewidth=0)


def _check_band(band: str) -> None:
    if band not in BAND_CHOICES:
        raise ValueError(f"unknown band={band!r}; choose one of {list(BAND_CHOICES)}")


def default_facets(df: pd.DataFrame, x: str, hue: str = "method") -> list[str]:
    """The columns of dataset / profile / model / mu / rho other than ``x`` and ``hue`` that vary in ``df``."""
    return varying_columns(df, [c for c in FACET_CANDIDATES if c in df.columns and c not in (x, hue)])


def metric_lines(
    df: pd.DataFrame,
    x: str,
    metric: str | list[str],
    *,
    hue: str = "method",
    band: str = "std",
    confidence: float = 0.95,
    facets: list[str] | None = None,
) -> pd.DataFrame:
    """What :func:`plot_metric_vs` draws: one row per (facets, line, ``x``, metric) with the
    :func:`~imbjax.analysis.aggregate.aggregate` columns (mean, std, n, ...) and ``band_low`` /
    ``band_high`` (mean -/+ std, or the Student-t interval).

    A line (column ``line``) is one setting: the ``hue`` value qualified by every other setting
    column that varies in ``df`` and is neither ``x`` nor a facet (``baseline (learning_rate=0.01)``),
    so runs of different settings are never pooled. A text ``x`` is mapped to its categories'
    positions 0, 1, ... in order of first appearance.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    check_columns(df, [x, hue], "plot")
    check_metrics(df, metrics)
    _check_band(band)
    facets = default_facets(df, x, hue) if facets is None else check_columns(df, facets, "facet")
    splitting = without_redundant(df, varying_columns(df, setting_columns(df)))
    lines = label_runs(df, hue, [c for c in splitting if c not in (x, hue, *facets)])
    if not pd.api.types.is_numeric_dtype(df[x]):
        categories = list(dict.fromkeys(df[x].dropna()))
        df = df.assign(**{x: df[x].map({c: float(i) for i, c in enumerate(categories)})})
    summary = aggregate(df.assign(line=lines), metrics, by=[*facets, "line", x], confidence=confidence)
    half_width = summary["std"] if band == "std" else summary["mean"] - summary["ci_low"]
    summary["band_low"], summary["band_high"] = summary["mean"] - half_width, summary["mean"] + half_width
    return summary


def describe_band(summary: pd.DataFrame, band: str, confidence: float = 0.95) -> str:
    """The caption of a :func:`metric_lines` figure: what the band is, the runs per point, and the
    diverged runs left out, e.g. ``mean ± 1 std over seeds, n = 10 per point``."""
    _check_band(band)
    shown = "mean ± 1 std" if band == "std" else f"mean and {confidence:.0%} Student-t CI"
    low, high = int(summary["n"].min()), int(summary["n"].max())
    text = f"{shown} over seeds, n = {low if low == high else f'{low}-{high}'} per point"
    one_metric = summary[summary["metric"] == summary["metric"].iloc[0]]  # every metric counts the same runs
    diverged = int(one_metric["n_diverged"].sum()) if "n_diverged" in summary else 0
    return text + (f", {diverged} diverged run(s) left out" if diverged else "")


def plot_metric_vs(
    df: pd.DataFrame,
    x: str,
    metric: str | list[str],
    *,
    hue: str = "method",
    path: str | Path,
    band: str = "std",
    confidence: float = 0.95,
    facets: list[str] | None = None,
    logx: bool | None = None,
    title: str | None = None,
) -> Path:
    """Plot ``metric`` against config column ``x``: one line per setting (:func:`metric_lines`), mean over seeds.

    A numeric ``x`` is an axis of values; a text ``x`` other than ``hue`` (``model``:
    architecture labels) is an axis of categories in the order they first appear in ``df`` (for
    ``runs.csv``, the config's order), e.g. a metric against plain / residual networks of growing
    depth.

    The shaded band is mean -/+ std (``band="std"``) or the Student-t interval
    (``band="ci"``) across seeds — the style of Buda et al. 2018, Fig. 3 (AUC vs rho) and
    Nemoto et al.'s focal-loss gamma sweep; the figure's title says which, and how many runs each
    point averages (:func:`describe_band`). Panels: one per combination of the ``facets``
    columns (default: those of dataset/profile/model/mu/rho other than ``x`` that vary). Other
    varying setting columns split lines further (``focal (gamma=2)``). A line with no ``x`` value (e.g.
    cross-entropy on a ``hp_gamma`` axis) is drawn as a dashed horizontal reference. ``logx``
    defaults to True for rho and for positive axes spanning a factor >= 10. Several metrics give
    one column of panels each. Returns ``path``.
    """
    check_columns(df, [x, hue], "plot")
    categories = None if pd.api.types.is_numeric_dtype(df[x]) else list(dict.fromkeys(df[x].dropna()))
    if categories is not None and x == hue:
        raise ValueError(f"x column {x!r} must be numeric, or text other than the hue column {hue!r} "
                         f"(e.g. x='model'); got dtype {df[x].dtype}")
    facets = default_facets(df, x, hue) if facets is None else facets
    summary = metric_lines(df, x, metric, hue=hue, band=band, confidence=confidence, facets=facets)
    metrics = list(summary["metric"].unique())
    log_x = categories is None and (_use_log_x(x, df[x].to_numpy(dtype=float)) if logx is None else logx)
    panel_columns = [*facets, "metric"]
    panels = list(summary.groupby(panel_columns, dropna=False, sort=False))
    n_columns = len(metrics) if len(metrics) > 1 else min(len(panels), _MAX_COLUMNS)
    n_rows = math.ceil(len(panels) / n_columns)
    labels = sorted(summary["line"].unique())
    legend_columns = math.ceil(len(labels) / _LEGEND_ROWS)
    legend_height = _LEGEND_ROW_INCHES * math.ceil(len(labels) / legend_columns) + 1.0
    legend_width = legend_columns * (_LEGEND_CHAR_INCHES * max(map(len, labels)) + 0.6)
    figure = _new_figure(4.8 * n_columns + legend_width, max(3.6 * n_rows + 0.3, legend_height),
                         layout="constrained")
    axes = figure.subplots(n_rows, n_columns, squeeze=False).ravel()
    styles = {label: line_style(i) for i, label in enumerate(labels)}
    for ax, (key, panel) in zip(axes, panels):
        for label, line in panel.groupby("line", sort=True):
            _draw_line(ax, line.sort_values(x), x, label, styles[label])
        if log_x:
            ticks = np.sort(panel[x].dropna().unique())
            ax.set_xscale("log")
            ax.set_xticks(ticks, [format_value(float(t)) for t in ticks])
            ax.minorticks_off()
        if categories is not None:
            ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
        *facet_key, panel_metric = key
        facet_values = [f"{c}={format_value(v)}" for c, v in zip(facets, facet_key) if not pd.isna(v)]
        ax.set_title(", ".join(facet_values))
        ax.set_xlabel(x)
        ax.set_ylabel(panel_metric)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    share_y_by_metric(axes, [key[-1] for key, _ in panels])
    handles = {}
    for ax in axes[: len(panels)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    figure.legend(list(handles.values()), list(handles), loc="outside right lower", fontsize="small",
                  ncols=legend_columns)
    band_text = describe_band(summary, band, confidence)
    figure.suptitle(f"{title}: {band_text}" if title else band_text)
    return _save(figure, path)


def share_y_by_metric(axes, panel_metrics: list[str]) -> None:
    """Give the panels of one metric one y-range (the union of their own), so that panels compare."""
    for metric in dict.fromkeys(panel_metrics):
        group = [ax for ax, m in zip(axes, panel_metrics) if m == metric]
        low = min(ax.get_ylim()[0] for ax in group)
        high = max(ax.get_ylim()[1] for ax in group)
        for ax in group:
            ax.set_ylim(low, high)


def plot_critical_difference(result: NemenyiResult, path: str | Path, *, title: str | None = None) -> Path:
    """Critical-difference diagram (Demšar 2006, Sec. 3.2.4, Fig. 1a) saved to ``path``.

    An axis of average rank (best, rank 1, on the right), each method tied to its rank, thick
    bars joining methods not significantly different under the Nemenyi test, and the CD drawn
    above the axis.
    """
    ranks = result.mean_ranks.sort_values(kind="stable")
    k = len(ranks)
    lowest, highest = 1, max(k, math.ceil(ranks.max()))
    n_right = math.ceil(k / 2)  # the better half is labelled on the right
    n_levels = max(n_right, k - n_right)
    step = 0.35
    bar_top = -0.25
    label_top = bar_top - 0.15 * (len(result.cliques) + 1)
    figure = _new_figure(max(6.0, 1.0 + 0.6 * highest), 1.6 + step * n_levels + 0.15 * len(result.cliques))
    ax = figure.add_axes((0.2, 0.05, 0.6, 0.9))
    ax.set_axis_off()
    ax.plot([lowest, highest], [0, 0], color="black", linewidth=1)
    for tick in range(lowest, highest + 1):
        ax.plot([tick, tick], [0, 0.08], color="black", linewidth=1)
        ax.text(tick, 0.14, str(tick), ha="center", va="bottom")
    cd_left = highest
    ax.plot([cd_left, cd_left - result.cd], [0.6, 0.6], color="black", linewidth=1.5)
    for end in (cd_left, cd_left - result.cd):
        ax.plot([end, end], [0.55, 0.65], color="black", linewidth=1.5)
    ax.text(cd_left - result.cd / 2, 0.7, f"CD = {result.cd:.2f}", ha="center", va="bottom")
    for i, (name, rank) in enumerate(ranks.items()):
        right = i < n_right
        level = i if right else k - 1 - i
        y = label_top - step * level
        x_text = lowest - 0.3 if right else highest + 0.3
        ax.plot([rank, rank, x_text], [0, y, y], color="black", linewidth=0.8)
        ax.text(x_text, y, f" {name} ({rank:.2f}) " if right else f" ({rank:.2f}) {name} ",
                ha="left" if right else "right", va="center")
    for j, clique in enumerate(result.cliques):
        y = bar_top - 0.15 * j
        members = ranks[list(clique)]
        ax.plot([members.min() - 0.03, members.max() + 0.03], [y, y], color="black", linewidth=3)
    ax.set_xlim(highest + 0.3, lowest - 0.3)
    ax.set_ylim(label_top - step * n_levels, 1.0)
    ax.set_title(title or f"Nemenyi, alpha = {result.alpha:g}, N = {result.n_blocks} blocks")
    return _save(figure, path)
