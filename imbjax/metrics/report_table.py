"""A ``classification_report_imbalanced``-style table (imbalanced-learn) as a ``pandas.DataFrame``.

Columns (imbalanced-learn's names): ``pre`` precision, ``rec`` recall (sensitivity), ``spe``
specificity, ``f1``, ``geo`` one-vs-rest G-mean ``sqrt(rec * spe)``, ``iba`` index balanced accuracy
of the squared G-mean, ``(1 + alpha (rec - spe)) rec spe`` (García et al. 2009; alpha = 0.1), ``sup``
support. Rows: one per class of ``range(num_classes)`` (imbalanced-learn with
``labels=range(num_classes)``), then ``"avg / total"`` (support-weighted means and total support,
imbalanced-learn's last line) and ``"macro avg"`` (unweighted means, not in imbalanced-learn).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from imbjax.metrics import confusion
from imbjax.metrics._validation import check_labels, check_num_classes

COLUMNS = ("pre", "rec", "spe", "f1", "geo", "iba", "sup")


@functools.partial(jax.jit, static_argnames="num_classes")
def report_arrays(y_true: jax.Array, y_pred: jax.Array, *, num_classes: int, alpha=0.1,
                  zero_division=0.0) -> jax.Array:
    """The class rows of the report, ``float32[num_classes, 7]`` in ``COLUMNS`` order.

    ``zero_division`` applies to precision, recall and F1 (imbalanced-learn's argument); specificity
    and the G-mean use 0, as in imbalanced-learn.
    """
    counts = confusion.class_counts(y_true, y_pred, num_classes=num_classes)
    sensitivity = confusion.safe_divide(counts.tp, counts.support)
    specificity = confusion.safe_divide(counts.tn, counts.tn + counts.fp)
    columns = [
        confusion.safe_divide(counts.tp, counts.predicted, zero_division),
        confusion.safe_divide(counts.tp, counts.support, zero_division),
        specificity,
        confusion.f_beta_from_counts(counts, 1.0, average=None, zero_division=zero_division),
        jnp.sqrt(sensitivity * specificity),
        (1.0 + alpha * (sensitivity - specificity)) * sensitivity * specificity,
        counts.support.astype(jnp.float32),
    ]
    return jnp.stack(columns, axis=1)


def report(y_true, y_pred, *, num_classes: int, class_names=None, alpha: float = 0.1,
           zero_division: float = 0.0) -> pd.DataFrame:
    """Per-class precision, recall, specificity, F1, G-mean, IBA and support, plus averages.

    Args:
      y_true, y_pred: ``int[n]`` in ``[0, num_classes)``.
      num_classes: static int.
      class_names: optional ``num_classes`` row names (default ``"0", "1", ...``, imbalanced-learn's).
      alpha: IBA dominance weight.
      zero_division: value of precision/recall/F1 with a zero denominator.

    Returns:
      ``DataFrame`` indexed by class names then ``"avg / total"`` and ``"macro avg"``, columns ``COLUMNS``.
    """
    num_classes = check_num_classes(num_classes)
    names = [str(k) for k in range(num_classes)] if class_names is None else [str(n) for n in class_names]
    if len(names) != num_classes:
        raise ValueError(f"class_names must have num_classes={num_classes} entries, got {len(names)}")
    check_labels("y_true", y_true, num_classes)
    check_labels("y_pred", y_pred, num_classes)
    rows = np.asarray(report_arrays(jnp.asarray(y_true), jnp.asarray(y_pred), num_classes=num_classes,
                                    alpha=alpha, zero_division=zero_division), dtype=np.float64)
    table = pd.DataFrame(rows, index=names, columns=COLUMNS)
    support = table["sup"].to_numpy()
    scores = table.drop(columns="sup")
    weighted = scores.mul(support, axis=0).sum() / support.sum()
    table.loc["avg / total"] = [*weighted, support.sum()]
    table.loc["macro avg"] = [*scores.mean(), support.sum()]
    table["sup"] = table["sup"].astype(np.int64)
    return table
