"""Datasets that ship inside scikit-learn, and a synthetic generator: no download needed.

Each source has no official split, so the split is deterministic and stratified
(``sklearn.model_selection.train_test_split`` with a fixed ``split_seed``); the test part is
never made imbalanced. Tabular features are standardised with training-pool statistics.
"""
from __future__ import annotations

import numpy as np
from sklearn import datasets as skdatasets
from sklearn.model_selection import train_test_split

from imbjax.data.dataset import Dataset, validate_arrays


def standardise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x - mean) / std`` with training statistics; constant columns are only centred."""
    mean, std = x_train.mean(0), x_train.std(0)
    std = np.where(std > 0, std, 1.0)
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def split(name, x, y, class_names, input_shape, *, test_fraction, split_seed, standardise_features):
    """A :class:`Dataset` from one labelled table: deterministic stratified split, optional
    standardisation with training statistics; features and labels are validated first."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int32)
    validate_arrays(name, x, y, len(class_names), part="source table")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=split_seed
    )
    if standardise_features:
        x_tr, x_te = standardise(x_tr, x_te)
    return Dataset(name, x_tr.astype(np.float32), y_tr, x_te.astype(np.float32), y_te,
                   tuple(class_names), tuple(input_shape))


def digits(*, test_fraction: float = 0.3, split_seed: int = 0, image: bool = False) -> Dataset:
    """1,797 handwritten 8x8 digits, 10 classes; pixels scaled to [0, 1].

    ``image=True`` keeps the ``(8, 8, 1)`` image shape for convolutional models.
    """
    bunch = skdatasets.load_digits()
    x = bunch.data / 16.0
    shape = (64,)
    if image:
        x, shape = x.reshape(-1, 8, 8, 1), (8, 8, 1)
    return split("digits", x, bunch.target, [str(c) for c in bunch.target_names], shape,
                  test_fraction=test_fraction, split_seed=split_seed, standardise_features=False)


def breast_cancer(*, test_fraction: float = 0.3, split_seed: int = 0) -> Dataset:
    """Wisconsin diagnostic breast cancer, 569 examples, 30 features, 2 classes (212 malignant)."""
    bunch = skdatasets.load_breast_cancer()
    return split("breast_cancer", bunch.data, bunch.target, list(bunch.target_names), (30,),
                  test_fraction=test_fraction, split_seed=split_seed, standardise_features=True)


def wine(*, test_fraction: float = 0.3, split_seed: int = 0) -> Dataset:
    """UCI wine, 178 examples, 13 features, 3 classes."""
    bunch = skdatasets.load_wine()
    return split("wine", bunch.data, bunch.target, list(bunch.target_names), (13,),
                  test_fraction=test_fraction, split_seed=split_seed, standardise_features=True)


def synthetic(*, num_classes: int = 10, n_per_class: int = 200, n_features: int = 20,
              class_sep: float = 1.0, test_fraction: float = 0.3, split_seed: int = 0) -> Dataset:
    """Balanced Gaussian-cluster classification data (``sklearn.datasets.make_classification``).

    ``class_sep`` controls difficulty; the pool is balanced and imbalance is applied by the sweep.
    """
    if num_classes < 2:
        raise ValueError(f"synthetic data needs num_classes >= 2, got {num_classes!r}")
    n_informative = max(2, min(n_features, int(np.ceil(np.log2(num_classes))) + 2))
    x, y = skdatasets.make_classification(
        n_samples=num_classes * n_per_class, n_features=n_features, n_informative=n_informative,
        n_redundant=0, n_classes=num_classes, n_clusters_per_class=1, weights=None, flip_y=0.0,
        class_sep=class_sep, random_state=split_seed,
    )
    return split("synthetic", x, y, [f"class_{c}" for c in range(num_classes)], (n_features,),
                  test_fraction=test_fraction, split_seed=split_seed, standardise_features=True)
