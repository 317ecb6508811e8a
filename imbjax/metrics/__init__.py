"""Evaluation metrics for imbalanced classification, as pure jit/vmap-able JAX kernels.

Modules (each docstring states its conventions):

* ``confusion``: confusion-matrix metrics (survey Eqs. 2-9) with scikit-learn's ``average`` choices.
* ``ranking``: exact sort-based ROC AUC, average precision and padded ROC / PR curves.
* ``calibration``: Brier score, log loss, expected calibration error.
* ``report_table``: ``report``, an ``imblearn.metrics.classification_report_imbalanced``-style ``pandas.DataFrame``.
* ``suite``: ``compute_all``, every metric of a run in one call (stable key names), and
  ``compute_all_runs``, that of a stack of runs in one compiled call sharded over the devices.

All functions follow scikit-learn's argument order ``(y_true, y_pred_or_score, *, ...)``; shapes and
Python arguments that fix shapes (``num_classes``, ``average``, ``pos_label``, ``num_bins``) are
static. Undefined values are NaN or ``zero_division`` rather than exceptions, so that they are
jit-safe. Degenerate cases (scikit-learn / imbalanced-learn's value wherever they define one):

* a class absent from ``y_true``: its recall (and F1 if also never predicted) is ``zero_division``
  (default 0.0) and counts in macro averages; it is left out of ``balanced_accuracy``; it makes the
  default ``g_mean`` 0 (unless ``correction``); its ROC AUC is NaN, hence the macro OvR AUC is NaN
  (the weighted one gives it weight 0); its average precision is 0.0.
* a constant score: ROC AUC 0.5, average precision = prevalence, a two-point ROC curve.
* a single class in ``y_true`` (binary ranking): ROC AUC NaN, average precision 1.0 (all positive)
  or 0.0 (none); ROC curve FPR (or TPR) NaN.
"""
from imbjax.metrics.calibration import brier_score, expected_calibration_error, log_loss
from imbjax.metrics.confusion import (
    ClassCounts,
    accuracy,
    balanced_accuracy,
    class_counts,
    confusion_matrix,
    error_rate,
    f1,
    f_beta,
    g_mean,
    npv,
    precision,
    recall,
    specificity,
)
from imbjax.metrics.ranking import (
    PrCurve,
    RocCurve,
    average_precision,
    ovr_average_precision,
    ovr_roc_auc,
    pr_curve,
    roc_auc,
    roc_curve,
)
from imbjax.metrics.report_table import COLUMNS as REPORT_COLUMNS
from imbjax.metrics.report_table import report
from imbjax.metrics.suite import PER_CLASS_KEYS, SCALAR_KEYS, compute_all, compute_all_runs

__all__ = [
    "PER_CLASS_KEYS",
    "REPORT_COLUMNS",
    "SCALAR_KEYS",
    "ClassCounts",
    "PrCurve",
    "RocCurve",
    "accuracy",
    "average_precision",
    "balanced_accuracy",
    "brier_score",
    "class_counts",
    "compute_all",
    "compute_all_runs",
    "confusion_matrix",
    "error_rate",
    "expected_calibration_error",
    "f1",
    "f_beta",
    "g_mean",
    "log_loss",
    "npv",
    "ovr_average_precision",
    "ovr_roc_auc",
    "pr_curve",
    "precision",
    "recall",
    "report",
    "roc_auc",
    "roc_curve",
    "specificity",
]
