"""Analysis of sweep results (``runs.csv``): summaries, rank statistics, figures and reports."""
from imbjax.analysis.aggregate import (
    CONFIG_COLUMNS, ConfigComparison, aggregate, block_columns, classwise_table, compare_configs, descriptor_columns,
    diverged_runs, higher_is_better, mask_diverged, method_labels, per_class_columns, pooled_replicates, read_runs,
    setting_columns, split_columns, swept_hyper_parameters, without_redundant,
)
from imbjax.analysis.plots import (
    FigureOutput, describe_band, figure_data, metric_lines, plot_critical_difference, plot_metric_vs, plot_scaling,
    save_figure,
)
from imbjax.analysis.report import (
    add_report_arguments, choose_blocks, parse_report_arguments, report, report_from_arguments, run_report,
)
from imbjax.analysis.selection import Selection, select_by_validation
from imbjax.analysis.stats import (
    FriedmanResult, NemenyiResult, block_table, critical_difference, friedman_test, holm, nemenyi, nemenyi_q,
    rank_methods, rank_table, smallest_holm_p, wilcoxon_signed_rank, wilcoxon_vs_baseline,
)
from imbjax.analysis.tables import latex_table, markdown_table

__all__ = [
    "CONFIG_COLUMNS", "ConfigComparison", "FigureOutput", "FriedmanResult", "NemenyiResult", "Selection",
    "add_report_arguments", "aggregate", "block_columns", "block_table", "choose_blocks", "classwise_table",
    "compare_configs", "critical_difference", "describe_band", "descriptor_columns", "diverged_runs", "figure_data",
    "friedman_test", "higher_is_better", "holm", "latex_table", "markdown_table", "mask_diverged", "method_labels",
    "metric_lines", "nemenyi", "nemenyi_q", "parse_report_arguments", "per_class_columns",
    "plot_critical_difference", "plot_metric_vs", "plot_scaling", "pooled_replicates", "rank_methods", "rank_table",
    "read_runs", "report", "report_from_arguments", "run_report", "save_figure", "select_by_validation",
    "setting_columns", "smallest_holm_p", "split_columns", "swept_hyper_parameters", "wilcoxon_signed_rank",
    "wilcoxon_vs_baseline", "without_redundant",
]
