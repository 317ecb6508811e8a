"""Image-classification datasets from tensorflow-datasets (tfds), read without TensorFlow.

Records are read through tfds' random-access data sources (``builder.as_data_source``, the
backend of ``tfds.data_source``), which need only NumPy, PIL and array_record: no TensorFlow.
Data sources read the ``array_record`` file format, so datasets must be prepared in that format.

Loading is offline by default (``download=False``). Prepare a dataset once, on a machine with
internet access and TensorFlow installed (tfds' builders for MNIST, CIFAR, ... use TensorFlow to
*generate* the files, not to read them)::

    pip install tensorflow tensorflow-datasets
    tfds build mnist --data_dir=DIR --file_format=array_record

then copy ``DIR`` here and pass ``data_dir=DIR`` (or set ``TFDS_DATA_DIR=DIR``).

Images become float32 in ``[0, 1]`` with shape ``(H, W, C)``; labels int32 in
``0..num_classes-1``; class names come from the ``ClassLabel`` feature. The official train and
test splits are kept as they are (the test set is never made imbalanced).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from imbjax.data.dataset import Dataset, validate_arrays

TFDS_NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped")
TFDS_PREFIX = "tfds:"
_READ_BATCH = 4096


def load_tfds(name: str, *, data_dir: str | None = None, download: bool = False,
              image_key: str = "image", label_key: str = "label", train_split: str = "train",
              test_split: str = "test", max_train: int | None = None,
              max_test: int | None = None) -> Dataset:
    """Load tfds dataset ``name`` (e.g. ``"mnist"`` or ``"tfds:emnist/letters"``) as arrays.

    Args:
      name: a tfds name, optionally with config/version (``"emnist/letters:3.1.0"``) and an
        optional ``"tfds:"`` prefix; the returned ``Dataset.name`` is ``name`` as given.
      data_dir: tfds data directory; ``None`` uses ``TFDS_DATA_DIR`` or ``~/tensorflow_datasets``.
      download: download and prepare (array_record format) if missing; needs internet access.
      image_key: feature holding the image, a ``tfds.features.Image`` of fixed shape.
      label_key: feature holding the label, a ``tfds.features.ClassLabel``.
      train_split, test_split: tfds split specs, e.g. ``"train"`` or ``"train[:80%]"``.
      max_train, max_test: keep only the first this many records of the split, in the stored
        order (tfds shuffles once when preparing, so this is a fixed, unstratified subset).

    Returns:
      ``x_train: [n_train, H, W, C]`` and ``x_test: [n_test, H, W, C]`` float32 in ``[0, 1]``,
      ``y_train: [n_train]``, ``y_test: [n_test]`` int32.

    Raises:
      ValueError: unknown tfds name, missing/unsuitable image or label feature, bad ``max_*``.
      FileNotFoundError: the dataset is not prepared under ``data_dir`` (says how to prepare it).
    """
    tfds_name = name.removeprefix(TFDS_PREFIX)
    for arg, value in (("max_train", max_train), ("max_test", max_test)):
        if value is not None and value < 1:
            raise ValueError(f"{arg} must be None or a positive integer, got {value!r}")
    builder = _builder(tfds_name, data_dir)
    image_feature, label_feature = _image_and_label_features(
        tfds_name, builder.info.features, image_key, label_key)
    train_source, test_source = _data_sources(builder, tfds_name, data_dir, download,
                                              (train_split, test_split))
    read = functools.partial(_read_split, image_key=image_key, label_key=label_key,
                             image_feature=image_feature)
    x_train, y_train = read(train_source, limit=max_train)
    x_test, y_test = read(test_source, limit=max_test)
    class_names = tuple(label_feature.names)
    validate_arrays(name, x_train, y_train, len(class_names))
    validate_arrays(name, x_test, y_test, len(class_names))
    return Dataset(name, x_train, y_train, x_test, y_test, class_names,
                   tuple(image_feature.shape))


def loader_for(name: str) -> Callable[..., Dataset]:
    """The loader :func:`imbjax.data.load` calls for ``name`` (a TFDS_NAMES entry or ``tfds:*``)."""
    return functools.partial(load_tfds, name)


def is_tfds_name(name: str) -> bool:
    """Whether ``name`` is the generic ``"tfds:<tfds name>"`` form."""
    return name.startswith(TFDS_PREFIX) and len(name) > len(TFDS_PREFIX)


def tfds_loaders() -> dict[str, Callable[..., Dataset]]:
    """Registry entries for the ready-made tfds datasets, to merge into ``LOADERS``."""
    return {name: loader_for(name) for name in TFDS_NAMES}


def _tfds():
    """``tensorflow_datasets``, imported on first use: it adds ~0.3 s to every ``imbjax`` start."""
    try:
        import tensorflow_datasets  # noqa: PLC0415
    except ModuleNotFoundError as err:
        raise ValueError(f"tensorflow-datasets cannot be imported: {err}; pip install tensorflow-datasets "
                         f"(and the module named)") from err
    return tensorflow_datasets


def _builder(tfds_name: str, data_dir: str | None):
    tfds = _tfds()
    try:
        return tfds.builder(tfds_name, data_dir=data_dir, file_format="array_record")
    except tfds.core.DatasetNotFoundError:
        raise ValueError(
            f"unknown tensorflow-datasets name {tfds_name!r} (not in the tfds catalogue and not "
            f"found under data_dir={data_dir!r}); ready-made choices are {list(TFDS_NAMES)}, any "
            "catalogue name with an image and a class label works as 'tfds:<name>', see "
            "https://www.tensorflow.org/datasets/catalog/overview"
        ) from None


def _image_and_label_features(tfds_name, features, image_key, label_key):
    """Check the two features exist and suit fixed-shape image classification; return them."""
    available = sorted(features.keys())
    for role, key in (("image", image_key), ("label", label_key)):
        if key not in features:
            raise ValueError(
                f"tfds dataset {tfds_name!r} has no {role} feature {key!r}; its features are "
                f"{available}; pass image_key=/label_key= naming an Image and a ClassLabel feature"
            )
    image, label = features[image_key], features[label_key]
    tfds = _tfds()
    if not isinstance(image, tfds.features.Image):
        raise ValueError(f"tfds dataset {tfds_name!r}: feature {image_key!r} is "
                         f"{type(image).__name__}, not an Image; its features are {available}")
    if None in image.shape or not np.issubdtype(image.np_dtype, np.unsignedinteger):
        raise ValueError(
            f"tfds dataset {tfds_name!r}: image feature {image_key!r} has shape {image.shape} and "
            f"dtype {np.dtype(image.np_dtype).name}; only fixed-shape unsigned-integer images are "
            "supported"
        )
    if not isinstance(label, tfds.features.ClassLabel):
        raise ValueError(f"tfds dataset {tfds_name!r}: feature {label_key!r} is "
                         f"{type(label).__name__}, not a ClassLabel; its features are {available}")
    return image, label


def _data_sources(builder, tfds_name, data_dir, download, splits):
    """Random-access sources for ``splits``; one clear error when the data is not prepared, or when
    preparing or reading it needs a module that is not installed (the real ``ModuleNotFoundError``)."""
    try:
        if download:
            builder.download_and_prepare()
        return builder.as_data_source(split=list(splits))
    except ModuleNotFoundError as err:
        doing = "preparing (download=True)" if download else "reading"
        raise ValueError(f"{doing} tensorflow-datasets {tfds_name!r} needs a module that is not installed: "
                         f"{type(err).__name__}: {err}; pip install {err.name or 'it'}, or prepare the data "
                         f"on another machine and pass data_dir=") from err
    except Exception as err:
        if builder.is_prepared():
            raise
        searched = data_dir or "the default (TFDS_DATA_DIR or ~/tensorflow_datasets)"
        raise FileNotFoundError(
            f"tensorflow-datasets {tfds_name!r} is not prepared in data_dir {searched} (looked for "
            f"{builder.data_dir}). Offline loading needs the array_record files. On a machine with "
            f"internet access and TensorFlow installed run\n"
            f"    tfds build {tfds_name} --data_dir=DIR --file_format=array_record\n"
            f"(equivalently: python -m tensorflow_datasets.scripts.download_and_prepare "
            f"--datasets={tfds_name} --data_dir=DIR --file_format=array_record), copy DIR here and "
            f"pass data_dir=DIR; or pass download=True where the internet is reachable."
        ) from err


def _read_split(source: Sequence[dict], *, image_key: str, label_key: str, image_feature,
                limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``source`` in batches into ``[n, H, W, C]`` float32 in [0, 1] and ``[n]`` int32."""
    n = len(source) if limit is None else min(limit, len(source))
    scale = np.float32(np.iinfo(image_feature.np_dtype).max)
    images = np.empty((n, *image_feature.shape), np.float32)
    labels = np.empty((n,), np.int32)
    for start in range(0, n, _READ_BATCH):
        stop = min(start + _READ_BATCH, n)
        records = source.__getitems__(list(range(start, stop)))
        images[start:stop] = np.stack([r[image_key] for r in records]) / scale
        labels[start:stop] = [r[label_key] for r in records]
    return images, labels
