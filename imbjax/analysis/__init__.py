"""Analysis of sweep results (``runs.csv``): summaries, rank statistics, figures and reports."""
from imbjax.analysis.aggregate import (
    CONFIG_COLUMNS, aggregate, block_columns, classwise_table, higher_is_better, method_labels, per_class_columns,
    read_runs, setting_columns, split_columns, without_redundant,
)
from imbjax.analysis.plots import plot_critical_difference, plot_metric_vs
from imbjax.analysis.report import add_report_arguments, report, run_report
from imbjax.analysis.stats import (
    FriedmanResult, NemenyiResult, block_table, critical_difference, friedman_test, holm, nemenyi, nemenyi_q,
    rank_methods, rank_table, smallest_holm_p, wilcoxon_signed_rank, wilcoxon_vs_baseline,
)
from imbjax.analysis.tables import latex_table, markdown_table

__all__ = [
    "CONFIG_COLUMNS", "FriedmanResult", "NemenyiResult", "add_report_arguments", "aggregate", "block_columns",
    "block_table", "classwise_table", "critical_difference", "friedman_test", "higher_is_better", "holm",
    "latex_table", "markdown_table", "method_labels", "nemenyi", "nemenyi_q", "per_class_columns",
    "plot_critical_difference", "plot_metric_vs", "rank_methods", "rank_table", "read_runs", "report", "run_report",
    "setting_columns", "smallest_holm_p", "split_columns", "wilcoxon_signed_rank", "wilcoxon_vs_baseline",
    "without_redundant",
]
