"""Markdown and LaTeX renderings of result tables (no tabulate/jinja2 needed).

The index is written as leading columns (a plain RangeIndex is left out). Numbers are formatted
per column: a column of whole numbers as integers, otherwise ``digits`` decimals (values below
1e-3 in ``%.3g``, so small p-values stay readable); NaN as ``NaN``; booleans as yes/no.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

BOLD_CHOICES = ("max", "min", None)
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def _format_float(value: float, digits: int, whole: bool) -> str:
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    if whole:
        return str(int(value))
    return f"{value:.{digits}f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.3g}"


def format_column(column: pd.Series, digits: int = 4) -> list[str]:
    """Cell texts of one column (see the module docstring for the rules)."""
    if pd.api.types.is_bool_dtype(column):
        return ["yes" if v else "no" for v in column]
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        whole = bool(np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 1e15))
        return [_format_float(v, digits, whole) for v in values]
    return ["NaN" if pd.isna(v) else str(v) for v in column]


def _flatten(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``df`` with its index as leading columns, and the number of such columns."""
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return df, 0
    return df.reset_index(), df.index.nlevels


def _formatted(df: pd.DataFrame, digits: int) -> list[list[str]]:
    """Rows of cell texts."""
    columns = [format_column(df.iloc[:, i], digits) for i in range(df.shape[1])]
    return [list(row) for row in zip(*columns)]


def _markdown_escape(text) -> str:
    return str(text).replace("|", r"\|")


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """GitHub-flavoured Markdown table of ``df`` (index included unless it is a plain RangeIndex)."""
    flat, _ = _flatten(df)
    header = "| " + " | ".join(_markdown_escape(c) for c in flat.columns) + " |"
    rule = "|" + "|".join("---" for _ in flat.columns) + "|"
    body = ["| " + " | ".join(_markdown_escape(cell) for cell in row) + " |" for row in _formatted(flat, digits)]
    return "\n".join([header, rule, *body]) + "\n"


def _latex_escape(text) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(df: pd.DataFrame, *, bold: str | None = "max", caption: str | None = None, digits: int = 4) -> str:
    """A booktabs ``table`` of ``df``; with ``bold`` the best numeric cell of each row is bold.

    ``bold="max"`` bolds the largest value of each row over the numeric data columns (ties all
    bold), ``"min"`` the smallest, ``None`` nothing. Index values become leading columns.
    """
    if bold not in BOLD_CHOICES:
        raise ValueError(f"unknown bold={bold!r}; choose one of {list(BOLD_CHOICES)}")
    flat, n_index = _flatten(df)
    numeric = [
        i for i in range(df.shape[1])
        if pd.api.types.is_numeric_dtype(df.iloc[:, i]) and not pd.api.types.is_bool_dtype(df.iloc[:, i])
    ]
    is_best = np.zeros(df.shape, dtype=bool)
    if bold is not None and numeric:
        scores = df.iloc[:, numeric].astype(float)
        best = scores.max(axis=1) if bold == "max" else scores.min(axis=1)
        is_best[:, numeric] = scores.to_numpy() == best.to_numpy()[:, None]
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    lines += [r"\begin{tabular}{" + "l" * n_index + "r" * df.shape[1] + "}", r"\toprule"]
    lines.append(" & ".join(_latex_escape(c) for c in flat.columns) + r" \\")
    lines.append(r"\midrule")
    for row, best_cells in zip(_formatted(flat, digits), is_best):
        cells = [_latex_escape(cell) for cell in row]
        cells[n_index:] = [rf"\textbf{{{c}}}" if b else c for c, b in zip(cells[n_index:], best_cells)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` to ``path`` (creating parent folders) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
