"""Reading ``runs.csv`` files and summarising metrics over seeds.

A ``runs.csv`` holds one row per run. Config columns come first: ``run_id``, ``group``,
``dataset``, ``profile``, ``rho``, ``mu``, ``seed``, ``method``, ``model`` (the architecture's
label), ``model_spec`` (its model name and arguments as JSON), ``validation_fraction`` (the share
of every class held out for validation) and hyper-parameters prefixed ``hp_`` (``hp_gamma``,
``hp_learning_rate``, ...). ``diverged`` (1.0 for a run whose training loss or parameters became
non-finite) is a status, neither config nor metric. Every other numeric column is a metric
(``accuracy``, ``macro_f1``, ``recall_per_class_3``, ``train_rho`` (the ratio of the subset the run
trained on), ``val_balanced_accuracy`` (on the validation part), ...); a metric is NaN when it is
undefined for that run, and every metric of a diverged run counts as undefined. The ``train_*``
metrics (``train_rho``, ``train_examples``, ``train_min_class``, ``train_loss``) are *descriptors*
of what a run trained on, not results: :func:`descriptor_columns`.

Several work directories read together (:func:`read_runs`) are told apart by their ``config.json``:
every config key whose value differs between them and that no ``runs.csv`` column records
(``augment``, ``num_steps``, ``optimizer``, ``batch_size``, ...) becomes a config column
``cfg_<key>`` of their rows, so that runs of different configs are never pooled.

A *setting* is one combination of the config columns other than ``seed``, ``run_id`` and
``group`` (and ``data_seed``, the data's seed where it is an axis of its own), ``cfg_*`` columns
included: the runs of a setting
differ only by seed, and metrics are averaged over them. The
model is part of the setting, so architectures are never pooled as if they were repeats (and
``model_spec`` keeps apart two work directories that gave one label to different models). Tables
of older ``runs.csv`` files without model columns read as before.
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from imbjax.sweep.store import CONFIG_FILE, EXECUTION_KEYS

CONFIG_COLUMNS = ("run_id", "group", "dataset", "profile", "rho", "mu", "seed", "data_seed", "method", "model",
                  "model_spec", "validation_fraction")
HP_PREFIX = "hp_"
#: Prefix of the config columns :func:`read_runs` adds for the config keys that differ between work directories.
CONFIG_PREFIX = "cfg_"
#: Prefix of the descriptors of what a run trained on (``train_rho``, ``train_examples``, ``train_loss``, ...).
DESCRIPTOR_PREFIX = "train_"
DIVERGED = "diverged"
STATUS_COLUMNS = (DIVERGED,)
TRAINED_RATIO = "train_rho"
VALIDATION_PREFIX = "val_"
REPLICATE_COLUMNS = ("seed", "data_seed", "run_id", "group")
#: The columns that pair runs across methods: runs sharing them share subset and initialisation.
PAIRING_COLUMNS = ("seed", "data_seed")
RUNS_FILE = "runs.csv"
_PER_CLASS = re.compile(r"^(?P<kind>.+)_per_class_(?P<cls>\d+)$")
# Metric-name fragments for which smaller is better; every other metric is maximised.
_LOWER_IS_BETTER = ("loss", "error", "brier", "ece")


def split_columns(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(config_cols, metric_cols)`` of a runs table, each in column order.

    Config columns are the named ones in ``CONFIG_COLUMNS`` that are present plus every column
    whose name starts with ``hp_`` or ``cfg_``; metric columns are the remaining numeric (non-boolean) ones
    except the ``STATUS_COLUMNS`` (``diverged``). Other columns (free text, say) are neither.
    """
    config = [c for c in df.columns
              if c in CONFIG_COLUMNS or str(c).startswith(HP_PREFIX) or str(c).startswith(CONFIG_PREFIX)]
    metrics = [
        c for c in df.columns
        if c not in config and c not in STATUS_COLUMNS
        and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]
    return config, metrics


def descriptor_columns(df: pd.DataFrame) -> list[str]:
    """The metric columns that describe what a run trained on (``train_*``: ``train_rho``, ``train_examples``,
    ``train_min_class``, ``train_loss``): facts about the run, not results to rank (methods differ in
    their training loss by design)."""
    return [c for c in split_columns(df)[1] if str(c).startswith(DESCRIPTOR_PREFIX)]


def has_data_seeds(df: pd.DataFrame) -> bool:
    """Whether ``df`` has data seeds as an axis of their own (a ``data_seed`` column with a value)."""
    return "data_seed" in df.columns and bool(df["data_seed"].notna().any())


def pooled_replicates(df: pd.DataFrame) -> str:
    """What a mean over the runs of one setting of ``df`` pools: ``"seeds"``, or where data seeds are an
    axis, ``"2 seeds x 3 data seeds"`` (the counts per setting, a range where settings differ), so that
    an ``n`` of 6 reads as 2 x 3 and not as 6 seeds."""
    if not has_data_seeds(df) or "seed" not in df.columns:
        return "seeds"
    by = setting_columns(df)
    counts = (df.groupby(by, dropna=False)[["seed", "data_seed"]].nunique() if by
              else df[["seed", "data_seed"]].nunique().to_frame().T)

    def count(column: str, name: str) -> str:
        low, high = int(counts[column].min()), int(counts[column].max())
        return f"{low if low == high else f'{low}-{high}'} {name}{'' if low == high == 1 else 's'}"

    return f"{count('seed', 'seed')} x {count('data_seed', 'data seed')}"


def setting_columns(df: pd.DataFrame) -> list[str]:
    """Config columns that identify a setting: all but ``seed``, ``data_seed``, ``run_id`` and ``group``."""
    return [c for c in split_columns(df)[0] if c not in REPLICATE_COLUMNS]


def pairing_columns(df: pd.DataFrame) -> list[str]:
    """The :data:`PAIRING_COLUMNS` of ``df``: what makes a run of one method the pair of another's."""
    return [c for c in PAIRING_COLUMNS if c in df.columns]


def varying_columns(df: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """The columns among ``columns`` that take more than one value (NaN counts as a value)."""
    return [c for c in columns if df[c].nunique(dropna=False) > 1]


def without_redundant(df: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """``columns`` less ``model_spec`` when every ``model`` label has a single spec in ``df``.

    The label then says everything the spec says, so tables, legends and plot panels show the
    label alone; grouping by both or by the label alone gives the same groups.
    """
    columns = list(columns)
    if "model" not in df.columns or "model_spec" not in df.columns:
        return columns
    one_spec_per_label = (df.groupby("model", dropna=False)["model_spec"].nunique(dropna=False) <= 1).all()
    return [c for c in columns if not (c == "model_spec" and one_spec_per_label)]


def higher_is_better(metric: str) -> bool:
    """False for losses, error rates, Brier score and calibration error; True otherwise."""
    return not any(fragment in metric for fragment in _LOWER_IS_BETTER)


def check_metrics(df: pd.DataFrame, metrics: str | Sequence[str] | None) -> list[str]:
    """The requested metrics as a list (all metric columns for ``None``); ValueError if unknown."""
    available = split_columns(df)[1]
    if metrics is None:
        return available
    requested = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in requested if m not in available]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; choose from {available}")
    return requested


def check_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> list[str]:
    """``columns`` as a list; ValueError naming the first one that ``df`` lacks."""
    columns = list(columns)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"unknown {what} column {missing[0]!r}; choose from {list(df.columns)}")
    return columns


#: Config keys whose value for each run a ``runs.csv`` column records: runs that differ in one are told
#: apart by the column (``hparams``: by its ``hp_*`` columns). The key counts as recorded where every
#: work directory's ``runs.csv`` has the columns.
RECORDED_KEYS: Mapping[str, tuple[str, ...]] = {
    "datasets": ("dataset",), "profiles": ("profile",), "rhos": ("rho",), "mus": ("mu",), "seeds": ("seed",),
    "data_seeds": ("data_seed",), "methods": ("method",), "hparams": (), "learning_rates": ("hp_learning_rate",),
    "weight_decays": ("hp_weight_decay",), "model": ("model",), "model_kwargs": ("model_spec",),
    "models": ("model", "model_spec"), "validation_fraction": ("validation_fraction",),
}
#: The value of a config key that a work directory's ``config.json`` lacks and that has no default
#: (:func:`config_defaults`: a key of a newer imbjax, say).
ABSENT = "(absent)"
#: The value of every ``cfg_*`` column for the runs of a work directory without a ``config.json``.
NO_CONFIG = "(no config.json)"


def config_text(value) -> str:
    """A config value as text: a string as it is, anything else as compact JSON (``{"hidden":[128,128]}``)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclasses.dataclass(frozen=True)
class ConfigComparison:
    """How the ``config.json`` of several work directories compare (:func:`compare_configs`).

    Attributes:
      differing: ``{key: (value per work directory with a config.json, in order)}`` of the keys that no
        ``runs.csv`` column records and whose values differ: each is the config column ``cfg_<key>``.
      agreeing: ``{key: value}`` of the other unrecorded keys, equal in every ``config.json``.
      missing: the work directories without a ``config.json``, whose config cannot be compared (their runs
        read :data:`NO_CONFIG` in every ``cfg_*`` column).
    """

    differing: Mapping[str, tuple]
    agreeing: Mapping[str, object]
    missing: tuple[Path, ...]

    def fixed_text(self) -> str:
        """``key = value, ...`` of the agreeing keys, values as :func:`config_text` writes them."""
        return ", ".join(f"{key} = {config_text(value)}" for key, value in self.agreeing.items())

    def describe(self, n_workdirs: int) -> list[str]:
        """Markdown lines on what told the work directories apart; none when their configs agree."""
        lines = []
        if self.differing:
            shown = "; ".join(f"`{CONFIG_PREFIX}{key}` ({' / '.join(dict.fromkeys(map(config_text, values)))})"
                              for key, values in self.differing.items())
            lines.append(f"The config.json of the {n_workdirs} workdirs differ in keys runs.csv does not record; "
                         f"each is a setting column, so their runs are never pooled: {shown}.")
        if self.missing:
            lines.append(f"**Config not compared:** {', '.join(str(w) for w in self.missing)} "
                         f"{'has' if len(self.missing) == 1 else 'have'} no config.json, so a difference from the "
                         f"other workdirs in a key runs.csv does not record (augment, num_steps, optimizer, ...) "
                         f"cannot be seen" + (f"; {'its' if len(self.missing) == 1 else 'their'} runs read "
                                              f"`{NO_CONFIG}` in the `{CONFIG_PREFIX}*` columns." if self.differing
                                              else "."))
        return lines


def config_defaults() -> dict:
    """Every config key's default as ``config.json`` records it (:func:`imbjax.config.base_config`). A
    ``config.json`` written before a key existed reads as that key's default: imbjax adds a key with the
    default that keeps earlier runs as they were (and leaves a default out of run ids), so an older work
    directory and a newer one at the default hold runs of one config."""
    from imbjax.config import base_config  # noqa: PLC0415 (imports JAX; needed only for an older config.json)

    return json.loads(base_config().to_json_best_effort(sort_keys=True))


def compare_configs(workdirs: Sequence[str | Path], tables: Sequence[pd.DataFrame]) -> ConfigComparison:
    """Compare the ``config.json`` of ``workdirs`` (whose ``runs.csv`` are ``tables``), leaving out the
    execution-only keys (:data:`imbjax.sweep.store.EXECUTION_KEYS`) and the keys whose value a column
    present in every table records (:data:`RECORDED_KEYS`). A ``ValueError`` names a ``config.json``
    that is not valid JSON."""
    configs, missing = [], []
    for workdir in map(Path, workdirs):
        path = workdir / CONFIG_FILE
        if not path.is_file():
            missing.append(workdir)
            continue
        try:
            configs.append(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}); fix or move it to report this workdir") from None
    recorded = {key for key, columns in RECORDED_KEYS.items()
                if all(column in table.columns for table in tables for column in columns)}
    keys = sorted({key for config in configs for key in config} - set(EXECUTION_KEYS) - recorded)
    lacking = any(key not in config for config in configs for key in keys)
    defaults = config_defaults() if lacking else {}
    differing, agreeing = {}, {}
    for key in keys:
        values = tuple(config.get(key, defaults.get(key, ABSENT)) for config in configs)
        if len({config_text(value) for value in values}) > 1:
            differing[key] = values
        else:
            agreeing[key] = values[0]
    return ConfigComparison(differing, agreeing, tuple(missing))


def _config_column(values: Sequence) -> list:
    """A ``cfg_*`` column's value per work directory: numbers where every value is one, else :func:`config_text`."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return list(values) if numeric else [config_text(v) for v in values]


def read_runs(workdirs: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate the ``runs.csv`` of each workdir, keeping the first row of each ``run_id``.

    The number of rows dropped as duplicates is kept in ``attrs["n_duplicates_dropped"]``. With several
    workdirs, their ``config.json`` are compared (:func:`compare_configs`, kept in
    ``attrs["config_comparison"]``): every key that differs and that no column records becomes a
    column ``cfg_<key>`` holding each run's workdir's value, a setting column like any other config
    column, so that summaries, ranks and tests never pool runs of different configs.

    Raises ``FileNotFoundError`` naming the missing file when a workdir has no ``runs.csv``.
    """
    workdirs = [Path(w) for w in workdirs]
    if not workdirs:
        raise ValueError("no workdirs given; pass at least one directory holding a runs.csv")
    tables = []
    for workdir in workdirs:
        path = workdir / RUNS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"workdir {workdir} has no {RUNS_FILE} (looked for {path})")
        tables.append(pd.read_csv(path, dtype={"run_id": str}))
    comparison = compare_configs(workdirs, tables) if len(workdirs) > 1 else None
    if comparison is not None and comparison.differing:
        with_config = [w for w in workdirs if w not in comparison.missing]
        columns = {}
        for key, values in comparison.differing.items():
            by_workdir = dict(zip(with_config, values))
            columns[f"{CONFIG_PREFIX}{key}"] = _config_column([by_workdir.get(w, NO_CONFIG) for w in workdirs])
        tables = [pd.concat([table, pd.DataFrame({name: [values[i]] * len(table) for name, values in columns.items()},
                                                 index=table.index)], axis=1)
                  for i, table in enumerate(tables)]
    runs = pd.concat(tables, ignore_index=True).copy()  # one block per dtype: later assigns stay cheap
    n_read = len(runs)
    if "run_id" in runs.columns:
        runs = runs.drop_duplicates(subset="run_id", keep="first", ignore_index=True)
    runs.attrs["n_duplicates_dropped"] = n_read - len(runs)
    if comparison is not None:
        runs.attrs["config_comparison"] = comparison
    return runs


def diverged_runs(df: pd.DataFrame) -> pd.Series:
    """Per row, whether the run diverged (``diverged`` == 1); all False for a table without the column."""
    if DIVERGED not in df.columns:
        return pd.Series(False, index=df.index)
    return df[DIVERGED].fillna(0).astype(float) > 0


def mask_diverged(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every metric of a diverged run set to NaN, so that no mean, rank or test counts it."""
    diverged = diverged_runs(df)
    if not diverged.any():
        return df
    out = df.copy()
    out.loc[diverged, split_columns(df)[1]] = np.nan
    return out


def aggregate(
    df: pd.DataFrame,
    metrics: str | Sequence[str] | None = None,
    by: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per setting and metric: mean, std, n, n_undefined (n_diverged) and a Student-t confidence interval.

    One tidy row per (``by`` values, metric) with columns ``by + [metric, mean, std, n,
    n_undefined, ci_low, ci_high]``, and ``n_diverged`` after ``n_undefined`` when ``df`` has a
    ``diverged`` column. ``n`` counts the runs where the metric is defined, ``n_diverged`` the
    diverged runs (never averaged in, whatever their metric columns hold), ``n_undefined`` the
    other runs where it is NaN; mean and std (ddof=1) are over the ``n`` defined runs.
    The interval is mean -/+ t_{(1+confidence)/2, n-1} * std / sqrt(n), the same as
    ``scipy.stats.t.interval(confidence, n - 1, loc=mean, scale=std / sqrt(n))``; it is NaN
    when n < 2.

    Args:
      df: runs table (one row per run).
      metrics: metric column(s); default all metric columns.
      by: grouping columns; default ``setting_columns(df)`` (all config but seed/run_id/group).
      confidence: interval coverage in (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in the open interval (0, 1), got {confidence!r}")
    metrics = check_metrics(df, metrics)
    by = setting_columns(df) if by is None else check_columns(df, by, "grouping")
    if not by:
        raise ValueError("aggregate needs at least one grouping column, got none")
    diverged = diverged_runs(df)
    masked = {metric: df[metric].where(~diverged) for metric in metrics}
    grouped = df[by].assign(_diverged=diverged, **masked).groupby(by, dropna=False, sort=True)
    tables = []
    for metric in metrics:
        table = grouped[metric].agg(["mean", "std", "count", "size"])
        table["diverged"] = grouped["_diverged"].sum()
        table = table.reset_index()
        table.insert(len(by), "metric", metric)
        tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    out["n"] = out.pop("count").astype(int)
    n_diverged = out.pop("diverged").astype(int)
    out["n_undefined"] = out.pop("size").astype(int) - out["n"] - n_diverged
    if DIVERGED in df.columns:
        out["n_diverged"] = n_diverged
    half_width = stats.t.ppf((1.0 + confidence) / 2.0, out["n"] - 1) * out["std"] / np.sqrt(out["n"])
    out["ci_low"] = out["mean"] - half_width
    out["ci_high"] = out["mean"] + half_width
    return out


def label_runs(df: pd.DataFrame, base: str, extra: Sequence[str]) -> pd.Series:
    """A text label per row: ``base`` value, then ``name=value`` for each non-NaN ``extra`` column that
    takes more than one value among the rows of that ``base`` value.

    E.g. ``focal (gamma=0.5)`` and ``focal (gamma=2)``, but ``ce`` for a method with one value of each column
    (its defaults, or a model override such as LDAM's cosine head, are the same on all of its rows and tell
    nothing apart); the ``hp_`` prefix is dropped from names. Rows that differ in ``base`` or in some
    ``extra`` column get different labels.
    """
    extra = list(extra)
    if not extra:
        return df[base].astype(str)
    varies = df.groupby(base, dropna=False)[extra].nunique(dropna=False) > 1

    def describe(row: pd.Series) -> str:
        shown = varies.loc[row[base]]
        parts = [f"{c.removeprefix(HP_PREFIX)}={format_value(row[c])}" for c in extra
                 if shown[c] and not pd.isna(row[c])]
        return f"{row[base]} ({', '.join(parts)})" if parts else str(row[base])

    return df[[base, *extra]].apply(describe, axis=1).astype(str)


def format_value(value) -> str:
    """Compact text for a config value: ``10`` for 10.0, ``0.001`` for 1e-3, text unchanged."""
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return str(value)


def method_specific_columns(df: pd.DataFrame, method: str = "method") -> list[str]:
    """``hp_*`` columns, and ``model_spec``, whose set of values differs between methods (e.g.
    ``hp_gamma`` of focal loss, or LDAM's cosine classifier, a method's model override).

    Such a column belongs to a method, not to the setting: it is not a block factor, so a method
    that overrides the model is still paired with the others on the same seeds (the architecture's
    label, ``model``, stays a block factor).
    """
    check_columns(df, [method], "method")
    candidates = [c for c in df.columns if str(c).startswith(HP_PREFIX) or c == "model_spec"]
    return [
        c for c in candidates
        if df.groupby(method)[c].agg(lambda values: frozenset(values.astype(str))).nunique() > 1
    ]


def swept_hyper_parameters(df: pd.DataFrame, method: str = "method") -> list[str]:
    """``hp_*`` columns that take more than one value within some method (NaN counts as a value):
    the learning rate, or a method's own hyper-parameter, swept as a grid."""
    check_columns(df, [method], "method")
    hp_columns = [c for c in df.columns if str(c).startswith(HP_PREFIX)]
    return [c for c in hp_columns if (df.groupby(method)[c].nunique(dropna=False) > 1).any()]


def block_columns(df: pd.DataFrame, method: str = "method") -> list[str]:
    """Setting columns that define a block (dataset x imbalance setting x shared hyper-parameters).

    All setting columns except ``method`` and the method-specific ``hp_*`` columns.
    """
    specific = method_specific_columns(df, method)
    return [c for c in setting_columns(df) if c != method and c not in specific]


def method_labels(df: pd.DataFrame, method: str = "method", exclude: Sequence[str] = ()) -> pd.Series:
    """Method name per row, qualified by method-specific ``hp_*`` values when a method has several.

    ``focal (gamma=0.5)`` and ``focal (gamma=2)`` become two competitors; ``ce`` stays ``ce``.
    Columns in ``exclude`` (e.g. the x axis of a plot) are left out of the label.
    """
    specific = [c for c in method_specific_columns(df, method) if c not in exclude]
    varying = [c for c in specific if (df.groupby(method)[c].nunique(dropna=False) > 1).any()]
    return label_runs(df, method, varying)


def per_class_columns(df: pd.DataFrame, kind: str) -> dict[int, str]:
    """``{class index: column}`` for the ``<kind>_per_class_<c>`` columns, by class index."""
    found = {}
    for column in df.columns:
        match = _PER_CLASS.match(str(column))
        if match and match["kind"] == kind:
            found[int(match["cls"])] = column
    return dict(sorted(found.items()))


def per_class_kinds(df: pd.DataFrame) -> list[str]:
    """The ``kind`` of every ``<kind>_per_class_<c>`` column family, in column order."""
    kinds = [m["kind"] for m in map(_PER_CLASS.match, map(str, df.columns)) if m]
    return list(dict.fromkeys(kinds))


def classwise_table(df: pd.DataFrame, kind: str = "recall", by: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-class ``kind`` (e.g. recall, f1) averaged over seeds: rows ``by``, columns class index.

    The layout of Hensman & Masko's per-class accuracy tables (survey Tables 3 and 4).
    NaN runs are skipped in the mean.
    """
    columns = per_class_columns(df, kind)
    if not columns:
        raise ValueError(f"no per-class columns of kind {kind!r}; choose from {per_class_kinds(df)}")
    by = setting_columns(df) if by is None else check_columns(df, by, "grouping")
    table = df.groupby(by, dropna=False, sort=True)[list(columns.values())].mean()
    table.columns = pd.Index(list(columns), name="class")
    return table
