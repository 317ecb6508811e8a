"""Datasets as device-ready arrays: :func:`load` by name.

Built-in sources (no download): ``digits``, ``breast_cancer``, ``wine``, ``synthetic``.
"""
from __future__ import annotations

from typing import Callable

from imbjax.data import builtin
from imbjax.data.dataset import Dataset, validate_arrays

LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": builtin.digits,
    "breast_cancer": builtin.breast_cancer,
    "wine": builtin.wine,
    "synthetic": builtin.synthetic,
}


def available() -> tuple[str, ...]:
    """Names :func:`load` accepts."""
    return tuple(sorted(LOADERS))


def check_name(name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` and the valid choices if it is not a dataset."""
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(available())}")


def load(name: str, **kwargs) -> Dataset:
    """Load dataset ``name`` with loader-specific keyword arguments (see each loader)."""
    check_name(name)
    return LOADERS[name](**kwargs)


__all__ = ["Dataset", "LOADERS", "available", "check_name", "load", "validate_arrays"]
