"""Tabular data sets in the KEEL ``.dat`` format (e.g. the KEEL imbalanced benchmarks).

KEEL (https://sci2s.ugr.es/keel/imbalanced.php; Alcalá-Fdez et al., "KEEL data-mining software
tool", J. Mult.-Valued Logic & Soft Computing 17, 2011) ships the imbalanced benchmarks used by
CSDBN-DE and similar work as text files::

    @relation glass1
    @attribute RI real [1.51115, 1.53393]
    @attribute Type {building, vehicle}
    @attribute Class {positive, negative}
    @inputs RI, Type
    @outputs Class
    @data
    1.51793, building, negative

Parsing rules:

* Numeric attributes (``real``, ``integer``, ``numeric``) become one column each; the declared
  ``[low, high]`` range is informative only and not enforced.
* Nominal input attributes (``{a, b, c}``) are one-hot encoded, one column per declared value in
  declaration order.
* The class is the attribute named in ``@outputs`` (or the last attribute without ``@outputs``); it
  must be nominal. Its values map to labels ``0..C-1`` in header order, so for the usual
  ``{positive, negative}`` header the minority class ``positive`` is label 0.
* Inputs are the attributes named in ``@inputs`` (all non-class attributes without it), taken in
  declaration order. ``@input``/``@output`` are accepted as spellings too; ``%`` starts a comment.
* Fields are split on commas, so quoted values that contain commas are not supported.
* Missing values (``?`` or ``<null>``) are rejected with an error naming the file, line and
  attribute: impute them beforehand, or use KEEL's versions without missing values.

Malformed input raises one ``ValueError`` of the form ``"<file>:<line>: <problem>"``.

Without ``test_path`` the file is split like the built-in data sets (deterministic, stratified);
with ``test_path`` (KEEL's ``name-5-1tra.dat`` / ``name-5-1tst.dat`` folds) the given partition is
used. With ``standardise`` every column, one-hot columns included, is standardised with
training-pool statistics.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from imbjax.data.builtin import split
from imbjax.data.builtin import standardise as standardise_features
from imbjax.data.dataset import Dataset

_MISSING = ("?", "<null>")
_NUMERIC_TYPE = re.compile(r"(real|integer|numeric)\b", re.IGNORECASE)
_FOLD_SUFFIX = re.compile(r"-\d+-\d+(tra|tst)$")
_ATTRIBUTE = re.compile(r"@attribute\s+('[^']*'|[^\s{]+)\s*(.*)$", re.IGNORECASE)


class Attribute(NamedTuple):
    """One ``@attribute`` line: ``values`` is ``None`` for numeric attributes."""

    name: str
    values: tuple[str, ...] | None
    lineno: int


class KeelTable(NamedTuple):
    """A parsed KEEL file: features already encoded, labels as class indices.

    Attributes:
      relation: the ``@relation`` name (the file stem when absent).
      features: ``[n_rows, n_columns]`` float32, nominal inputs one-hot encoded.
      labels: ``[n_rows]`` int32 in ``0..len(class_names)-1``.
      class_names: the class attribute's declared values.
      column_names: one per feature column, ``"attr"`` or ``"attr=value"`` for one-hot columns.
    """

    relation: str
    features: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    column_names: tuple[str, ...]


def load_keel(path: str | Path, *, test_path: str | Path | None = None,
              test_fraction: float = 0.3, split_seed: int = 0,
              standardise: bool = True) -> Dataset:
    """Load a KEEL ``.dat`` file as a :class:`Dataset` named after the file.

    The name is the file stem without KEEL's fold suffix (``glass0-5-1tra.dat`` -> ``glass0``),
    since many KEEL multi-class files declare ``@relation unknow``.

    Args:
      path: the KEEL file, or the training fold (``*-5-1tra.dat``) when ``test_path`` is given.
      test_path: the matching test fold (``*-5-1tst.dat``); its header must equal ``path``'s.
      test_fraction, split_seed: stratified split of ``path`` when ``test_path`` is ``None``.
      standardise: standardise every column with training-pool mean and standard deviation.

    Returns:
      ``x_train: [n_train, n_columns]``, ``x_test: [n_test, n_columns]`` float32,
      ``y_train: [n_train]``, ``y_test: [n_test]`` int32.
    """
    train = parse_keel(path)
    name = dataset_name(path)
    if test_path is None:
        return split(name, train.features, train.labels, train.class_names,
                      (train.features.shape[1],), test_fraction=test_fraction,
                      split_seed=split_seed, standardise_features=standardise)
    test = parse_keel(test_path)
    if (test.class_names, test.column_names) != (train.class_names, train.column_names):
        raise ValueError(
            f"{test_path}: header differs from {path} (columns {test.column_names} vs "
            f"{train.column_names}, classes {test.class_names} vs {train.class_names}); "
            "pass the matching tra/tst files of one KEEL fold"
        )
    x_train, x_test = train.features, test.features
    if standardise:
        x_train, x_test = standardise_features(x_train, x_test)
    return Dataset(name, x_train, train.labels, x_test, test.labels,
                   train.class_names, (x_train.shape[1],))


def dataset_name(path: str | Path) -> str:
    """The name of the data set in KEEL file ``path``: its stem without KEEL's fold suffix
    (``glass0-5-1tra.dat`` -> ``glass0``)."""
    return _FOLD_SUFFIX.sub("", Path(path).stem)


def parse_keel(path: str | Path) -> KeelTable:
    """Parse one KEEL file (see the module docstring for the rules and errors)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    relation, attributes, inputs, output, data_start = _parse_header(path, lines)
    class_index = _class_index(path, attributes, output)
    class_attr = attributes[class_index]
    if class_attr.values is None:
        raise ValueError(f"{path}:{class_attr.lineno}: class attribute {class_attr.name!r} is "
                         "numeric; a classification data set needs a nominal class like "
                         "{positive, negative}")
    input_indices = _input_indices(path, attributes, inputs, class_index)
    rows, labels = [], []
    for lineno, line in enumerate(lines[data_start:], start=data_start + 1):
        fields = _data_fields(line)
        if fields is None:
            continue
        if len(fields) != len(attributes):
            raise ValueError(f"{path}:{lineno}: expected {len(attributes)} comma-separated values "
                             f"(one per @attribute), got {len(fields)}")
        labels.append(_nominal_index(path, lineno, class_attr, fields[class_index]))
        rows.append([v for i in input_indices
                     for v in _encode(path, lineno, attributes[i], fields[i])])
    if not rows:
        raise ValueError(f"{path}:{len(lines)}: no data rows after @data")
    columns = tuple(name for i in input_indices for name in _column_names(attributes[i]))
    return KeelTable(relation or path.stem, np.asarray(rows, np.float32),
                     np.asarray(labels, np.int32), class_attr.values, columns)


def _parse_header(path: Path, lines: list[str]):
    """Return (relation, attributes, inputs, output, index of the first data line)."""
    relation, attributes, inputs, output = None, [], None, None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        keyword = line.split(maxsplit=1)[0].lower()
        rest = line[len(keyword):].strip()
        if keyword == "@relation":
            relation = rest.strip("'\"")
        elif keyword == "@attribute":
            attribute = _parse_attribute(path, lineno, line)
            if attribute.name in [a.name for a in attributes]:
                raise ValueError(f"{path}:{lineno}: attribute {attribute.name!r} declared twice")
            attributes.append(attribute)
        elif keyword in ("@inputs", "@input"):
            inputs = (lineno, _split_names(rest))
        elif keyword in ("@outputs", "@output"):
            output = (lineno, _split_names(rest))
        elif keyword == "@data":
            if not attributes:
                raise ValueError(f"{path}:{lineno}: @data before any @attribute line")
            return relation, attributes, inputs, output, lineno
        elif not keyword.startswith("@"):
            raise ValueError(f"{path}:{lineno}: found {line[:60]!r} before @data; is the @data "
                             "line missing?")
        else:
            raise ValueError(f"{path}:{lineno}: expected a header line (@relation, @attribute, "
                             f"@inputs, @outputs or @data), got {line[:60]!r}")
    raise ValueError(f"{path}:{len(lines)}: reached the end of the file without an @data line")


def _parse_attribute(path: Path, lineno: int, line: str) -> Attribute:
    match = _ATTRIBUTE.match(line)
    if match:
        name, kind = match.group(1).strip("'"), match.group(2).strip()
        if _NUMERIC_TYPE.match(kind):
            return Attribute(name, None, lineno)
        if kind.startswith("{") and kind.endswith("}"):
            values = tuple(_split_names(kind[1:-1]))
            if values and len(set(values)) == len(values):
                return Attribute(name, values, lineno)
    raise ValueError(f"{path}:{lineno}: cannot parse {line!r}; expected '@attribute NAME real "
                     "[low, high]', 'integer', 'numeric' or '{v1, v2, ...}' with distinct values")


def _split_names(text: str) -> list[str]:
    return [name.strip().strip("'") for name in text.split(",") if name.strip()]


def _class_index(path: Path, attributes: list[Attribute], output) -> int:
    names = [a.name for a in attributes]
    if output is None:
        return len(attributes) - 1
    lineno, outputs = output
    if len(outputs) != 1 or outputs[0] not in names:
        raise ValueError(f"{path}:{lineno}: @outputs must name exactly one declared attribute "
                         f"(one of {names}), got {outputs}")
    return names.index(outputs[0])


def _input_indices(path: Path, attributes: list[Attribute], inputs, class_index: int) -> list[int]:
    names = [a.name for a in attributes]
    if inputs is None:
        return [i for i in range(len(attributes)) if i != class_index]
    lineno, wanted = inputs
    unknown = [n for n in wanted if n not in names or names.index(n) == class_index]
    if unknown or not wanted:
        raise ValueError(f"{path}:{lineno}: @inputs must name declared, non-class attributes "
                         f"(choices {[n for i, n in enumerate(names) if i != class_index]}), "
                         f"got unknown {unknown or wanted}")
    return [i for i, name in enumerate(names) if name in wanted]


def _data_fields(line: str) -> list[str] | None:
    line = line.strip()
    if not line or line.startswith("%"):
        return None
    return [field.strip() for field in line.split(",")]


def _nominal_index(path: Path, lineno: int, attribute: Attribute, value: str) -> int:
    _reject_missing(path, lineno, attribute, value)
    if value not in attribute.values:
        raise ValueError(f"{path}:{lineno}: value {value!r} of attribute {attribute.name!r} is "
                         f"not one of its declared values {list(attribute.values)}")
    return attribute.values.index(value)


def _encode(path: Path, lineno: int, attribute: Attribute, value: str) -> list[float]:
    """One number for a numeric attribute, a one-hot row for a nominal one."""
    if attribute.values is not None:
        one_hot = [0.0] * len(attribute.values)
        one_hot[_nominal_index(path, lineno, attribute, value)] = 1.0
        return one_hot
    _reject_missing(path, lineno, attribute, value)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"{path}:{lineno}: value {value!r} of numeric attribute "
                         f"{attribute.name!r} is not a finite number")
    return [number]


def _reject_missing(path: Path, lineno: int, attribute: Attribute, value: str) -> None:
    if value in _MISSING:
        raise ValueError(f"{path}:{lineno}: missing value {value!r} for attribute "
                         f"{attribute.name!r}; missing values are not supported, impute them "
                         "first or use the KEEL version without missing values")


def _column_names(attribute: Attribute) -> list[str]:
    if attribute.values is None:
        return [attribute.name]
    return [f"{attribute.name}={value}" for value in attribute.values]
