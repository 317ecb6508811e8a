"""Analysis of sweep results (``runs.csv``): summaries, rank statistics, figures and reports."""
from imbjax.analysis.aggregate import (
    CONFIG_COLUMNS, aggregate, block_columns, classwise_table, diverged_runs, higher_is_better, mask_diverged,
    method_labels, per_class_columns, read_runs, setting_columns, split_columns, swept_hyper_parameters,
    without_redundant,
)
from imbjax.analysis.plots import describe_band, metric_lines, plot_critical_difference, plot_metric_vs
from imbjax.analysis.report import add_report_arguments, choose_blocks, report, run_report
from imbjax.analysis.selection import Selection, select_by_validation
from imbjax.analysis.stats import (
    FriedmanResult, NemenyiResult, block_table, critical_difference, friedman_test, holm, nemenyi, nemenyi_q,
    rank_methods, rank_table, smallest_holm_p, wilcoxon_signed_rank, wilcoxon_vs_baseline,
)
from imbjax.analysis.tables import latex_table, markdown_table

__all__ = [
    "CONFIG_COLUMNS", "FriedmanResult", "NemenyiResult", "Selection", "add_report_arguments", "aggregate",
    "block_columns", "block_table", "choose_blocks", "classwise_table", "critical_difference", "describe_band",
    "diverged_runs", "friedman_test", "higher_is_better", "holm", "latex_table", "markdown_table", "mask_diverged",
    "method_labels", "metric_lines", "nemenyi", "nemenyi_q", "per_class_columns", "plot_critical_difference",
    "plot_metric_vs", "rank_methods", "rank_table", "read_runs", "report", "run_report", "select_by_validation",
    "setting_columns", "smallest_holm_p", "split_columns", "swept_hyper_parameters", "wilcoxon_signed_rank",
    "wilcoxon_vs_baseline", "without_redundant",
]
