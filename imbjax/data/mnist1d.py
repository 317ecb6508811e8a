"""MNIST-1D (Greydanus & Kobak, "Scaling down deep learning with MNIST-1D", ICML 2024), generated offline.

Each example is one of ten 1-D digit templates (length 12) passed through the paper's random
transformations (padding, dilation, scaling, translation, correlated and i.i.d. noise, shear) and
resampled to 40 points. The ``mnist1d`` package's ``make_dataset(get_dataset_args())`` generates it
from a seed with NumPy; nothing is downloaded (the package's ``get_dataset`` fetches a pickle from a
URL and is never called). Its defaults are the paper's data set: 5,000 examples, 500 per class, the
first 80% of a shuffled order for training (4,000, close to but not exactly 400 per class) and the
rest (1,000) for testing, all standardised by the mean and standard deviation of the whole set.

``num_samples`` makes larger pools (``num_samples // 10`` per class, all generated before the
split, so the standardisation is over the whole set as in the paper); ``stratified=True`` replaces
the package's cut of its shuffled order with a stratified split (``train_test_split(...,
stratify=y, random_state=seed)``), which makes both parts exactly balanced when the per-class count
times ``train_split`` is an integer, e.g. ``num_samples=70_000, train_split=6/7`` gives 6,000
training and 1,000 test examples of every class.

Generation runs example by example in Python (SciPy interpolation and filtering), so the arrays
are cached on disk (``cache_dir``, default ``$XDG_CACHE_HOME/imbjax/mnist1d`` or
``~/.cache/imbjax/mnist1d``) in a file named by the arguments and the package version; a cached file
is read instead of generating again.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from imbjax.data.dataset import Dataset, validate_arrays

NUM_CLASSES = 10
#: Length of every generated signal (the package's ``final_seq_length``).
SEQUENCE_LENGTH = 40
#: The paper's data set: 5,000 examples, 80% for training, generator seed 42.
PAPER_NUM_SAMPLES, PAPER_TRAIN_SPLIT, PAPER_SEED = 5000, 0.8, 42


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/imbjax/mnist1d``, or ``~/.cache/imbjax/mnist1d`` without that variable."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imbjax" / "mnist1d"


def check_arguments(num_samples, train_split, seed) -> None:
    """Raise one ``ValueError`` naming a bad argument and its valid range, before any generation."""
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 2 * NUM_CLASSES:
        raise ValueError(f"mnist1d num_samples must be an integer >= {2 * NUM_CLASSES} (at least two per "
                         f"class), got {num_samples!r}")
    if not isinstance(train_split, (int, float)) or not 0.0 < train_split < 1.0:
        raise ValueError(f"mnist1d train_split must lie in (0, 1), got {train_split!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"mnist1d seed must be a non-negative integer, got {seed!r}")


def generate(num_samples: int, train_split: float, seed: int) -> dict[str, np.ndarray]:
    """The package's ``make_dataset`` with the paper's transformation arguments and these three:
    ``{"x": [n_train, 40], "y": [n_train], "x_test": [n_test, 40], "y_test": [n_test]}``.

    ``make_dataset`` seeds NumPy's and Python's global generators; their states are restored after it.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        generated = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {key: np.asarray(generated[key]) for key in ("x", "y", "x_test", "y_test")}


def cache_path(cache_dir: Path, num_samples: int, train_split: float, seed: int) -> Path:
    """The cache file of these arguments and the installed ``mnist1d`` version."""
    key = json.dumps({"num_samples": num_samples, "train_split": float(train_split), "seed": seed,
                      "mnist1d": metadata.version("mnist1d")}, sort_keys=True)
    return cache_dir / f"mnist1d-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def load_or_generate(path: Path, num_samples: int, train_split: float, seed: int) -> dict[str, np.ndarray]:
    """The arrays cached at ``path``, generated and written there (atomically) when it is missing."""
    if path.is_file():
        with np.load(path) as cached:
            return {key: cached[key] for key in cached.files}
    arrays = generate(num_samples, train_split, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return arrays


def stratified_resplit(arrays: dict[str, np.ndarray], train_split: float, seed: int) -> dict[str, np.ndarray]:
    """The generated train and test parts joined and split again, stratified by class."""
    x = np.concatenate([arrays["x"], arrays["x_test"]])
    y = np.concatenate([arrays["y"], arrays["y_test"]])
    x_train, x_test, y_train, y_test = train_test_split(x, y, train_size=train_split, stratify=y,
                                                        random_state=seed)
    return {"x": x_train, "y": y_train, "x_test": x_test, "y_test": y_test}


def mnist1d(*, num_samples: int = PAPER_NUM_SAMPLES, train_split: float = PAPER_TRAIN_SPLIT,
            seed: int = PAPER_SEED, stratified: bool = False, cache_dir: str | os.PathLike | None = None,
            ) -> Dataset:
    """MNIST-1D: ``x_train: [n_train, 40]``, ``x_test: [n_test, 40]`` float32, labels int32 in 0..9.

    Args:
      num_samples: examples generated, ``num_samples // 10`` per class (the paper: 5,000).
      train_split: fraction of them in the training pool (the paper: 0.8).
      seed: the generator's seed (the paper: 42).
      stratified: split by class (exactly balanced parts; see the module docstring) instead of the
        package's cut of its shuffled order (the paper's split).
      cache_dir: where generated arrays are cached; ``None`` is :func:`default_cache_dir`.
    """
    check_arguments(num_samples, train_split, seed)
    directory = default_cache_dir() if cache_dir is None else Path(cache_dir)
    arrays = load_or_generate(cache_path(directory, num_samples, train_split, seed), num_samples, train_split, seed)
    if stratified:
        arrays = stratified_resplit(arrays, train_split, seed)
    x_train, x_test = (arrays[k].astype(np.float32) for k in ("x", "x_test"))
    y_train, y_test = (arrays[k].astype(np.int32) for k in ("y", "y_test"))
    validate_arrays("mnist1d", x_train, y_train, NUM_CLASSES)
    validate_arrays("mnist1d", x_test, y_test, NUM_CLASSES)
    return Dataset("mnist1d", x_train, y_train, x_test, y_test, tuple(str(c) for c in range(NUM_CLASSES)),
                   (SEQUENCE_LENGTH,))
