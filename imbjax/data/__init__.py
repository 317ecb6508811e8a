"""Datasets as device-ready arrays: :func:`load` by name.

* Built-in (ship with scikit-learn, no download): ``digits``, ``breast_cancer``, ``wine``,
  and ``synthetic`` (Gaussian clusters).
* tensorflow-datasets, read offline from a prepared ``data_dir``: ``mnist``, ``fashion_mnist``,
  ``cifar10``, ``cifar100``, ``svhn_cropped``, and any ``tfds:<name>`` with image + label.
* ``mnist1d``: MNIST-1D (Greydanus & Kobak 2024), generated offline by the ``mnist1d`` package and
  cached on disk (:mod:`imbjax.data.mnist1d`).
* ``keel``: a KEEL-format ``.dat`` file (``load("keel", path=..., test_path=...)``).
"""
from __future__ import annotations

from typing import Callable

from imbjax.data import builtin, keel, mnist1d, tfds_loader
from imbjax.data.dataset import Dataset, validate_arrays

LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": builtin.digits,
    "breast_cancer": builtin.breast_cancer,
    "wine": builtin.wine,
    "synthetic": builtin.synthetic,
    "mnist1d": mnist1d.mnist1d,
    "keel": keel.load_keel,
    **tfds_loader.tfds_loaders(),
}


def available() -> tuple[str, ...]:
    """Names :func:`load` accepts (plus ``tfds:<name>`` for any tensorflow-datasets name)."""
    return tuple(sorted(LOADERS))


def check_name(name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` and the valid choices if it is not a dataset."""
    if name not in LOADERS and not tfds_loader.is_tfds_name(name):
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(available())} "
                         "or 'tfds:<tensorflow-datasets name>'")


def load(name: str, **kwargs) -> Dataset:
    """Load dataset ``name`` with loader-specific keyword arguments (see each loader)."""
    check_name(name)
    loader = LOADERS[name] if name in LOADERS else tfds_loader.loader_for(name)
    return loader(**kwargs)


__all__ = ["Dataset", "LOADERS", "available", "check_name", "load", "validate_arrays"]
