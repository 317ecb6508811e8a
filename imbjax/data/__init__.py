"""Datasets as device-ready arrays: :func:`load` by name.

* Built-in (ship with scikit-learn, no download): ``digits``, ``breast_cancer``, ``wine``,
  and ``synthetic`` (Gaussian clusters).
* tensorflow-datasets, read offline from a prepared ``data_dir``: ``mnist``, ``fashion_mnist``,
  ``cifar10``, ``cifar100``, ``svhn_cropped``, and any ``tfds:<name>`` with image + label.
* ``mnist1d``: MNIST-1D (Greydanus & Kobak 2024), generated offline by the ``mnist1d`` package and
  cached on disk (:mod:`imbjax.data.mnist1d`).
* KEEL-format ``.dat`` files: ``keel`` with ``path=...`` (and optionally ``test_path=...``), or
  ``keel:<path>``, so that several files can be data sets of one sweep. Runs record a KEEL file by
  its own name (``glass1`` for ``keel:data/glass1.dat``, :func:`record_name`).
* A user's data: :func:`register` (``imbjax.register_dataset``) a loader under a name; the loader
  returns a :class:`Dataset`, e.g. :func:`from_arrays`, or a mapping with its fields.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import re
from collections.abc import Mapping
from typing import Callable

import numpy as np

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
#: The loaders imbjax defines; the others were registered by a user (:func:`register`).
BUILT_IN = frozenset(LOADERS)
KEEL_PREFIX = "keel:"
#: The fields a loader's result must have (a :class:`Dataset`, or a mapping with at least these).
REQUIRED_FIELDS = ("x_train", "y_train", "x_test", "y_test")
#: What a registered name may look like (a data set's, or an architecture label of ``config.models``; it
#: becomes part of group ids and file names).
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def available() -> tuple[str, ...]:
    """Names :func:`load` accepts (plus ``tfds:<name>`` and ``keel:<path>``)."""
    return tuple(sorted(LOADERS))


def check_name(name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` and the valid choices if it is not a dataset."""
    if name not in LOADERS and not tfds_loader.is_tfds_name(name) and not _is_keel_name(name):
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(available())}, "
                         "'tfds:<tensorflow-datasets name>' or 'keel:<path of a .dat file>'")


def _is_keel_name(name: str) -> bool:
    return name.startswith(KEEL_PREFIX) and len(name) > len(KEEL_PREFIX)


def loader_of(name: str) -> Callable[..., Dataset]:
    """The function :func:`load` calls for ``name``."""
    check_name(name)
    if name in LOADERS:
        return LOADERS[name]
    if _is_keel_name(name):
        return functools.partial(keel.load_keel, name.removeprefix(KEEL_PREFIX))
    return tfds_loader.loader_for(name)


def check_kwargs(name: str, kwargs: Mapping) -> None:
    """Raise one ``ValueError`` if data set ``name``'s loader has no keyword of ``kwargs`` (naming the
    closest valid one) or needs one that ``kwargs`` lacks (saying how to set it), before loading."""
    parameters = inspect.signature(loader_of(name)).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    valid = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"data set {name!r} has no keyword {key!r}; {hint}its keywords are {valid}")
    for parameter in parameters:
        if parameter.default is inspect.Parameter.empty and parameter.name in valid and parameter.name not in kwargs:
            raise ValueError(f"data set {name!r} needs {parameter.name!r}: set config.dataset_kwargs = "
                             f"{{{name!r}: {{{parameter.name!r}: ...}}}} (or --set dataset_kwargs.{name}."
                             f"{parameter.name}=...)")


def record_name(name: str, kwargs: Mapping) -> str:
    """The name runs record for data set ``name`` loaded with ``kwargs``: a KEEL file's own name
    (``keel`` with ``path=...glass1.dat``, or ``keel:...glass1.dat``: ``glass1``), else ``name`` (a
    user's data set: the name it was registered under)."""
    if _is_keel_name(name):
        return keel.dataset_name(name.removeprefix(KEEL_PREFIX))
    if name == "keel" and "path" in kwargs:
        return keel.dataset_name(kwargs["path"])
    return name


def function_name(function) -> str:
    """``module.qualname`` of a user's function or class, for error messages."""
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


def from_arrays(x_train, y_train, x_test, y_test, *, name: str, class_names=None) -> Dataset:
    """A :class:`Dataset` of a user's arrays: the training pool ``x_train: [n_train, *input_shape]``
    with integer labels ``y_train: [n_train]`` in ``0..C-1``, and the test set ``x_test: [n_test,
    *input_shape]``, ``y_test: [n_test]``. Features become float32, labels int32; ``class_names``
    (default ``"0"``, ``"1"``, ...) fixes C (default: the largest label + 1). Refused with one
    ``ValueError`` naming ``name`` when labels are not integers, the parts' example shapes differ, or
    :class:`Dataset`'s checks fail (NaN features, labels out of range, lengths)."""
    x_train, x_test = np.asarray(x_train, np.float32), np.asarray(x_test, np.float32)
    labels = {part: np.asarray(values) for part, values in (("y_train", y_train), ("y_test", y_test))}
    for part, values in labels.items():
        if values.ndim != 1 or (values.size and not np.all(np.equal(np.mod(values, 1), 0))):
            raise ValueError(f"dataset {name!r}: {part} must be a 1-D array of integer class labels, got shape "
                             f"{values.shape} and dtype {values.dtype}")
    if x_train.ndim < 2 or x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"dataset {name!r}: x_train {x_train.shape} and x_test {x_test.shape} must be "
                         f"[examples, *input_shape] with one input shape")
    y_train, y_test = (labels[part].astype(np.int32) for part in ("y_train", "y_test"))
    if class_names is None:
        num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
        class_names = tuple(str(c) for c in range(num_classes))
    return Dataset(name, x_train, y_train, x_test, y_test, tuple(class_names), tuple(x_train.shape[1:]))


def as_dataset(result, name: str, loader: Callable) -> Dataset:
    """``result`` of ``loader`` as a :class:`Dataset`: itself, or :func:`from_arrays` of a mapping with
    :data:`REQUIRED_FIELDS` (and optionally ``class_names``); one ``ValueError`` naming the loader
    function otherwise."""
    if isinstance(result, Dataset):
        return result
    if isinstance(result, Mapping):
        missing = [field for field in REQUIRED_FIELDS if field not in result]
        if not missing:
            return from_arrays(*(result[field] for field in REQUIRED_FIELDS), name=name,
                               class_names=result.get("class_names"))
        problem = f"a mapping without {missing}"
    else:
        problem = f"a {type(result).__name__}"
    raise ValueError(f"dataset {name!r}: loader {function_name(loader)} returned {problem}; a loader returns an "
                     f"imbjax.data.Dataset, e.g. imbjax.data.from_arrays(x_train, y_train, x_test, y_test, "
                     f"name={name!r}), or a mapping with {list(REQUIRED_FIELDS)}")


def load(name: str, **kwargs) -> Dataset:
    """Load dataset ``name`` with loader-specific keyword arguments (see each loader)."""
    check_kwargs(name, kwargs)
    loader = loader_of(name)
    return as_dataset(loader(**kwargs), name, loader)


def register(name: str, loader: Callable[..., Dataset]) -> None:
    """Make ``loader`` (``(**dataset_kwargs) -> Dataset`` or a mapping of its fields) the data set
    ``name`` of configs; runs record it by ``name``. A ``ValueError`` if ``name`` is taken or is not a
    plain name (letters, digits, ``_.+-``), or ``loader`` is not callable."""
    if not isinstance(name, str) or not LABEL_PATTERN.fullmatch(name):
        raise ValueError(f"a data set name is letters, digits and '_.+-' (matching {LABEL_PATTERN.pattern!r}), "
                         f"got {name!r}")
    if name in LOADERS or tfds_loader.is_tfds_name(name) or _is_keel_name(name):
        raise ValueError(f"data set {name!r} is already registered; choose another name")
    if not callable(loader):
        raise ValueError(f"the loader of data set {name!r} must be a function returning a Dataset (e.g. "
                         f"lambda: imbjax.data.from_arrays(...)), got {type(loader).__name__}")
    LOADERS[name] = loader


__all__ = ["Dataset", "LOADERS", "as_dataset", "available", "check_kwargs", "check_name", "from_arrays", "load",
           "record_name", "register", "validate_arrays"]
