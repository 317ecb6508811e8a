"""Model selection on the validation part: the test metrics of the hyper-parameters best on validation.

With ``config.validation_fraction > 0`` every run has ``val_*`` metrics, measured on a stratified
part of the training pool that no run trains on (the same part for every method of a seed). For
every method, setting and seed (and data seed, where that is an axis), :func:`select_by_validation`
keeps the run whose hyper-parameters
(the ``hp_*`` columns: learning rate and the method's own) scored best on one validation metric,
so that the test set is never used to choose; ties go to the first candidate in ascending
hyper-parameter order, and a diverged candidate (NaN validation score) is chosen only when every
candidate diverged.
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from imbjax.analysis.aggregate import (
    HP_PREFIX, VALIDATION_PREFIX, format_value, has_data_seeds, higher_is_better, mask_diverged, pairing_columns,
    setting_columns, split_columns,
)

SELECTED = "selected"


@dataclasses.dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_by_validation`.

    Attributes:
      runs: the selected runs, one per (method, setting, seed): the input rows less their ``hp_*``
        columns, plus ``selected`` (text: the chosen values of the hyper-parameters selected over,
        ``learning_rate=0.01, gamma=2``).
      choices: one row per selection: its method, setting and seed, the chosen ``hp_*`` values, the
        validation score and ``candidates`` (how many runs it chose from).
      by: the validation metric selected on.
      over: the ``hp_*`` columns with more than one value for some method, what was selected over,
        with the values each takes among the candidates.
    """

    runs: pd.DataFrame
    choices: pd.DataFrame
    by: str
    over: dict[str, tuple[float, ...]]

    def describe(self) -> str:
        """One line: what was selected over, on what, and n."""
        grid = "; ".join(f"{c.removeprefix(HP_PREFIX)} in {{{', '.join(map(format_value, v))}}}"
                         for c, v in self.over.items()) or "nothing (every method has one hyper-parameter setting)"
        low, high = int(self.choices["candidates"].min()), int(self.choices["candidates"].max())
        candidates = str(low) if low == high else f"{low}-{high}"
        each = ("(method, setting, seed, data seed) quadruples" if has_data_seeds(self.choices)
                else "(method, setting, seed) triples")
        return (f"Model selection on `{self.by}` (validation part, never the test set): for each of "
                f"{len(self.choices)} {each}, the best of {candidates} candidate run(s) "
                f"over {grid}; the test metrics below are those of the selected runs.")


def select_by_validation(runs: pd.DataFrame, by: str) -> Selection:
    """For every method, setting and seed, the run whose ``hp_*`` values were best on ``by``.

    Args:
      runs: a runs table with a ``seed`` column and the validation metric ``by``.
      by: a ``val_*`` metric column (maximised, or minimised where :func:`higher_is_better` says so).

    Raises ``ValueError`` naming ``by`` and the ``val_*`` columns of ``runs`` when ``by`` is not one.
    """
    choices = [c for c in split_columns(runs)[1] if str(c).startswith(VALIDATION_PREFIX)]
    if by not in choices:
        raise ValueError(f"unknown validation metric {by!r}; choose one of {choices} (runs with "
                         f"config.validation_fraction > 0 have val_* metrics)")
    if "seed" not in runs.columns:
        raise ValueError(f"selection per seed needs a 'seed' column; columns are {list(runs.columns)}")
    hyper_parameters = [c for c in runs.columns if str(c).startswith(HP_PREFIX)]
    keys = [c for c in setting_columns(runs) if c not in hyper_parameters] + pairing_columns(runs)
    over = {c: tuple(sorted(runs[c].dropna().unique())) for c in hyper_parameters
            if (runs.groupby("method")[c].nunique(dropna=False) > 1).any()}
    runs = runs.reset_index(drop=True)  # one label per row: candidates are matched to rows by index
    scores = mask_diverged(runs)[by]
    ordered = runs.assign(_score=scores).sort_values(hyper_parameters, kind="stable").sort_values(
        "_score", ascending=not higher_is_better(by), na_position="last", kind="stable")
    grouped = ordered.groupby(keys, dropna=False, sort=False)
    best = grouped.head(1).assign(candidates=grouped["_score"].transform("size"))
    best = best.sort_index()
    chosen = pd.concat([best[[*keys, *hyper_parameters]], best["_score"].rename(by), best["candidates"]], axis=1)
    described = best[list(over)].apply(
        lambda row: ", ".join(f"{c.removeprefix(HP_PREFIX)}={format_value(v)}" for c, v in row.items() if pd.notna(v)),
        axis=1) if over else pd.Series("", index=best.index)
    # Columns taken by name and joined at once: dropping the hp_* columns from the wide table would split its
    # blocks per column, and adding one to that (pandas' PerformanceWarning) would copy it column by column.
    kept = [c for c in runs.columns if c not in hyper_parameters]
    selected = pd.concat([best[kept], described.rename(SELECTED)], axis=1)
    return Selection(selected.reset_index(drop=True), chosen.reset_index(drop=True), by, over)
