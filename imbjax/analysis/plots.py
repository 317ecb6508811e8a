"""Figures: a metric against rho / mu / a hyper-parameter / the model, critical-difference diagrams,
and the sweep-width scaling benchmark's figure.

Figures are drawn on the Agg canvas through ``matplotlib.figure.Figure`` (pyplot's global state
and interactive backends are never touched) and written by :func:`save_figure`, the one function
that saves a figure: a PNG without metadata and, when its :class:`FigureOutput` asks, a table of
what the figure shows (:func:`figure_data`) that ``scripts/make_figures.py --check`` compares.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator

from imbjax.analysis.aggregate import (
    aggregate, check_columns, check_metrics, format_value, label_runs, pooled_replicates, setting_columns,
    varying_columns, without_redundant,
)
from imbjax.analysis.stats import NemenyiResult

BAND_CHOICES = ("std", "ci")
FACET_CANDIDATES = ("dataset", "profile", "model", "mu", "rho")
#: ``<name>.png``'s plotted data go to ``<name>`` + this suffix (:func:`figure_data_path`).
FIGURE_DATA_SUFFIX = ".plotdata.csv"
#: The columns of :func:`figure_data` that hold numbers (the others hold texts).
FIGURE_DATA_NUMBERS = ("x", "y", "y2")
_MAX_COLUMNS = 3
_DPI = 120
_MARKERS = ("o", "s", "^", "D", "v")
_LEGEND_ROWS = 40
_LEGEND_ROW_INCHES = 0.19
_LEGEND_CHAR_INCHES = 0.065


@dataclass(frozen=True)
class FigureOutput:
    """What :func:`save_figure` writes for a figure saved at ``<name>.png``.

    Attributes:
      render: rasterise the PNG; False writes an empty ``<name>.png`` (nothing is drawn, much faster),
        only with ``plotted_data``.
      plotted_data: also write ``<name>.plotdata.csv``, what the figure shows (:func:`figure_data`).
    """

    render: bool = True
    plotted_data: bool = False

    def __post_init__(self):
        if not self.render and not self.plotted_data:
            raise ValueError("FigureOutput(render=False, plotted_data=False) writes nothing but an empty PNG; "
                             "set render=True, or plotted_data=True to keep what the figure shows")


def _new_figure(width: float, height: float, layout: str | None = None) -> Figure:
    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _public(label: str) -> str:
    """An artist's label, or "" for matplotlib's automatic ``_child<n>`` names."""
    return "" if label.startswith("_") else label


def _y_range_per_x(kind: str, series: int, label: str, vertices: np.ndarray, panel: int) -> list[dict]:
    """A filled area as its lowest and highest y at each x (robust to how the polygon is traced)."""
    vertices = vertices[np.all(np.isfinite(vertices), axis=1)]
    return [{"panel": panel, "kind": kind, "series": series, "label": label, "x": x,
             "y": vertices[vertices[:, 0] == x, 1].min(), "y2": vertices[vertices[:, 0] == x, 1].max()}
            for x in np.unique(vertices[:, 0])]


def figure_data(figure: Figure) -> pd.DataFrame:
    """What ``figure`` shows, read back from its artists: one row per text, point of a line, or x of a band.

    Per visible panel: title, axis labels, x and y scale, fixed tick labels (with their x), legend
    entries; every line's points; every filled area's (collection or patch) lowest and highest y at
    each of its x; every text with its position. Columns: panel (axes index; -1 for the figure's
    suptitle and its figure-level legends), kind, series (artist index within its kind), label (text),
    x, y, y2.
    """
    rows = []
    if figure.get_suptitle():
        rows.append({"panel": -1, "kind": "suptitle", "label": figure.get_suptitle()})
    for legend in figure.legends:
        rows += [{"panel": -1, "kind": "legend", "series": i, "label": t.get_text()}
                 for i, t in enumerate(legend.get_texts())]
    for panel, ax in enumerate(a for a in figure.axes if a.get_visible()):
        texts = {"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                 "xscale": ax.get_xscale(), "yscale": ax.get_yscale()}
        rows += [{"panel": panel, "kind": kind, "label": text} for kind, text in texts.items() if text]
        if isinstance(ax.xaxis.get_major_locator(), FixedLocator):
            rows += [{"panel": panel, "kind": "xtick", "series": i, "label": tick.get_text(), "x": x}
                     for i, (x, tick) in enumerate(zip(ax.get_xticks(), ax.get_xticklabels()))]
        for series, line in enumerate(ax.get_lines()):
            xs, ys = (np.asarray(values, dtype=float) for values in line.get_data())
            rows += [{"panel": panel, "kind": "line", "series": series, "label": _public(line.get_label()),
                      "x": x, "y": y} for x, y in zip(xs, ys)]
        for series, collection in enumerate(ax.collections):
            vertices = np.concatenate([p.vertices for p in collection.get_paths()] or [np.empty((0, 2))])
            rows += _y_range_per_x("band", series, _public(collection.get_label()), vertices, panel)
        for series, patch in enumerate(ax.patches):
            vertices = patch.get_patch_transform().transform(patch.get_path().vertices)
            rows += _y_range_per_x("patch", series, _public(patch.get_label()), vertices, panel)
        for series, text in enumerate(ax.texts):
            x, y = text.get_position()
            rows.append({"panel": panel, "kind": "text", "series": series, "label": text.get_text(), "x": x, "y": y})
        legend = ax.get_legend()
        if legend is not None:
            rows += [{"panel": panel, "kind": "legend", "series": i, "label": t.get_text()}
                     for i, t in enumerate(legend.get_texts())]
    table = pd.DataFrame(rows, columns=["panel", "kind", "series", "label", *FIGURE_DATA_NUMBERS])
    table["series"] = table["series"].astype("Int64")
    return table


def figure_data_path(png: str | Path) -> Path:
    """Where :func:`save_figure` writes the plotted data of the figure saved at ``png``."""
    png = Path(png)
    return png.with_name(png.stem + FIGURE_DATA_SUFFIX)


def save_figure(figure: Figure, path: str | Path, figure_output: FigureOutput = FigureOutput(), *,
                tight: bool = True) -> Path:
    """Save ``figure`` as a PNG at ``path`` (folders created) at 120 dpi; returns ``path``.

    The PNG carries no metadata: matplotlib's ``Software`` text chunk (its version) is dropped and
    PNG has no timestamp, so the same figure under the same matplotlib gives the same bytes.
    ``tight`` crops the canvas to what is drawn (``bbox_inches="tight"``). ``figure_output`` says whether
    to rasterise and whether to write the plotted data beside it (:class:`FigureOutput`), read
    after saving, at :func:`figure_data_path` with 10 significant digits.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if figure_output.render:
        crop = {"bbox_inches": "tight"} if tight else {}
        figure.savefig(path, dpi=_DPI, metadata={"Software": None}, **crop)
    else:
        path.write_bytes(b"")
    if figure_output.plotted_data:
        figure_data(figure).to_csv(figure_data_path(path), index=False, float_format="%.10g")
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


def describe_band(summary: pd.DataFrame, band: str, confidence: float = 0.95, over: str = "seeds") -> str:
    """The caption of a :func:`metric_lines` figure: what the band is, over what (``over``: ``seeds``, or
    :func:`~imbjax.analysis.aggregate.pooled_replicates`' ``2 seeds x 2 data seeds``), the runs per point,
    and the diverged runs left out, e.g. ``mean ± 1 std over seeds, n = 10 per point``."""
    _check_band(band)
    shown = "mean ± 1 std" if band == "std" else f"mean and {confidence:.0%} Student-t CI"
    low, high = int(summary["n"].min()), int(summary["n"].max())
    text = f"{shown} over {over}, n = {low if low == high else f'{low}-{high}'} per point"
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
    figure_output: FigureOutput = FigureOutput(),
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
    one column of panels each. Saved by :func:`save_figure` with ``figure_output``; returns ``path``.
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
    band_text = describe_band(summary, band, confidence, over=pooled_replicates(df))
    figure.suptitle(f"{title}: {band_text}" if title else band_text)
    return save_figure(figure, path, figure_output)


def share_y_by_metric(axes, panel_metrics: list[str]) -> None:
    """Give the panels of one metric one y-range (the union of their own), so that panels compare."""
    for metric in dict.fromkeys(panel_metrics):
        group = [ax for ax, m in zip(axes, panel_metrics) if m == metric]
        low = min(ax.get_ylim()[0] for ax in group)
        high = max(ax.get_ylim()[1] for ax in group)
        for ax in group:
            ax.set_ylim(low, high)


def plot_critical_difference(result: NemenyiResult, path: str | Path, *, title: str | None = None,
                             figure_output: FigureOutput = FigureOutput()) -> Path:
    """Critical-difference diagram (Demšar 2006, Sec. 3.2.4, Fig. 1a) saved to ``path`` by :func:`save_figure`.

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
    return save_figure(figure, path, figure_output)


def plot_scaling(rows: list[dict], path: str | Path, figure_output: FigureOutput = FigureOutput()) -> Path:
    """The figure of ``scripts/bench_scaling.py``: runs/s (training, compile excluded) and peak process
    memory against the sweep width (log x), a line per device count.

    ``rows``: that script's ``scaling.json`` entries, each with ``devices``, ``width``, ``runs_per_s``
    and ``peak_mib``; a row with ``auto`` (the runner's own width, ``part_width``) is a star. Saved by :func:`save_figure` (uncropped) with ``figure_output``; returns ``path``.
    """
    figure = _new_figure(9, 3.6, layout="constrained")
    throughput, memory = figure.subplots(1, 2)
    for index, devices in enumerate(sorted({r["devices"] for r in rows})):
        color = f"C{index}"
        part = sorted((r for r in rows if r["devices"] == devices and not r.get("auto")), key=lambda r: r["width"])
        widths = [r["width"] for r in part]
        throughput.plot(widths, [r["runs_per_s"] for r in part], marker="o", color=color,
                        label=f"{devices} CPU device(s)")
        memory.plot(widths, [r["peak_mib"] for r in part], marker="o", color=color, label=f"{devices} CPU device(s)")
        for auto in (r for r in rows if r["devices"] == devices and r.get("auto")):
            label = f"{auto['width']} runs, parts of {auto['part_width']} (runner's pick)"
            throughput.plot([auto["width"]], [auto["runs_per_s"]], marker="*", markersize=12, color=color,
                            linestyle="none", label=label)
            memory.plot([auto["width"]], [auto["peak_mib"]], marker="*", markersize=12, color=color,
                        linestyle="none", label=label)
    for ax, label in ((throughput, "runs / s (training, compile excluded)"), (memory, "peak process memory (MiB)")):
        ax.set_xscale("log")
        ax.set_xlabel("runs trained at once (sweep width)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return save_figure(figure, path, figure_output, tight=False)
