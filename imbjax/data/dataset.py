"""The dataset container every loader returns.

A dataset is a fixed *pool* of training examples plus an untouched, balanced-as-shipped test
set. Imbalance is never applied here: the engine draws an imbalanced subset of the pool as a
boolean mask (see :mod:`imbjax.imbalance`), so every run of a sweep shares these arrays.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """Arrays ready to be put on a device, with their metadata.

    Attributes:
      name: the registry name, e.g. ``"digits"``.
      x_train: ``[n_train, *input_shape]`` float32 features of the training pool.
      y_train: ``[n_train]`` int32 labels in ``0..num_classes-1``.
      x_test: ``[n_test, *input_shape]`` float32 features of the test set.
      y_test: ``[n_test]`` int32 labels.
      class_names: one name per class.
      input_shape: shape of one example, e.g. ``(64,)`` or ``(28, 28, 1)``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def train_class_counts(self) -> np.ndarray:
        """Examples per class in the training pool, ``[num_classes]``."""
        return np.bincount(self.y_train, minlength=self.num_classes)


def validate_arrays(name: str, x: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    """Raise one clear ``ValueError`` if features are not finite or labels out of range."""
    if len(x) != len(y):
        raise ValueError(f"dataset {name!r}: {len(x)} feature rows but {len(y)} labels")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(f"dataset {name!r}: {bad} feature values are NaN or infinite")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"dataset {name!r}: labels must lie in 0..{num_classes - 1}, got range {y.min()}..{y.max()}"
        )
