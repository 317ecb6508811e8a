"""The dataset container every loader returns.

A dataset is a fixed *pool* of training examples plus an untouched, balanced-as-shipped test
set. Imbalance is never applied here: the engine draws an imbalanced subset of the pool as a
boolean mask (see :mod:`imbjax.imbalance`), so every run of a sweep shares these arrays.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DatasetArrays(NamedTuple):
    """The fields of a :class:`Dataset` (construct a :class:`Dataset`, which validates them)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]


class Dataset(DatasetArrays):
    """Arrays ready to be put on a device, with their metadata; refused at construction (one
    ``ValueError`` naming the data set, the part and the first bad row) if a feature is NaN or
    infinite, a label lies outside ``0..num_classes-1``, or features and labels differ in length.

    Attributes:
      name: the registry name, e.g. ``"digits"``.
      x_train: ``[n_train, *input_shape]`` float32 features of the training pool.
      y_train: ``[n_train]`` int32 labels in ``0..num_classes-1``.
      x_test: ``[n_test, *input_shape]`` float32 features of the test set.
      y_test: ``[n_test]`` int32 labels.
      class_names: one name per class.
      input_shape: shape of one example, e.g. ``(64,)`` or ``(28, 28, 1)``.
    """

    __slots__ = ()

    def __new__(cls, name, x_train, y_train, x_test, y_test, class_names, input_shape):
        validate_arrays(name, x_train, y_train, len(class_names), part="training pool")
        validate_arrays(name, x_test, y_test, len(class_names), part="test set")
        return super().__new__(cls, name, x_train, y_train, x_test, y_test, class_names, input_shape)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def train_class_counts(self) -> np.ndarray:
        """Examples per class in the training pool, ``[num_classes]``."""
        return np.bincount(self.y_train, minlength=self.num_classes)


def first_nonfinite_row(x: np.ndarray) -> int | None:
    """Index of the first row (example) of ``x: [n, ...]`` with a NaN or infinite value, or ``None``."""
    finite_rows = np.isfinite(np.asarray(x).reshape(len(x), -1)).all(axis=1)
    return None if finite_rows.all() else int(np.argmin(finite_rows))


def validate_arrays(name: str, x: np.ndarray, y: np.ndarray, num_classes: int, *, part: str = "data") -> None:
    """Raise one clear ``ValueError`` naming the data set ``name`` and its ``part`` if features and
    labels differ in length, a feature is not finite (naming the first such row and value), or a
    label is out of range."""
    if len(x) != len(y):
        raise ValueError(f"dataset {name!r}: the {part} has {len(x)} feature rows but {len(y)} labels")
    row = first_nonfinite_row(x)
    if row is not None:
        values = np.asarray(x[row]).reshape(-1)
        bad = values[~np.isfinite(values)][0]
        raise ValueError(f"dataset {name!r}: {part} row {row} has a NaN or infinite feature ({bad.item()!r})")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"dataset {name!r}: {part} labels must lie in 0..{num_classes - 1}, got range "
                         f"{y.min()}..{y.max()}")
