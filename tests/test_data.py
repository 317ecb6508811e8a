"""Dataset loaders: scikit-learn built-ins, tensorflow-datasets (mocked and a real tiny array_record
dataset, no download) and KEEL ``.dat`` files (fixtures written to tmp_path)."""
from __future__ import annotations

import functools
import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from hypothesis import given, settings, strategies as st
from PIL import Image
from sklearn import datasets as skdatasets
from sklearn.model_selection import train_test_split

from imbjax import data
from imbjax.data import builtin, keel, tfds_loader

# --------------------------------------------------------------------------------------------
# Built-in loaders
# --------------------------------------------------------------------------------------------

BUILTIN_CASES = [  # loader, kwargs, examples, input_shape, classes
    (builtin.digits, {}, 1797, (64,), 10),
    (builtin.digits, {"image": True}, 1797, (8, 8, 1), 10),
    (builtin.breast_cancer, {}, 569, (30,), 2),
    (builtin.wine, {}, 178, (13,), 3),
    (builtin.synthetic, {"num_classes": 3, "n_per_class": 40, "n_features": 6}, 120, (6,), 3),
]


@pytest.mark.parametrize("loader, kwargs, total, shape, classes", BUILTIN_CASES)
def test_builtin_shapes_dtypes_and_stratified_test_set(loader, kwargs, total, shape, classes):
    ds = loader(**kwargs)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int32 and ds.y_test.dtype == np.int32
    assert ds.input_shape == shape and ds.num_classes == classes
    assert ds.x_train.shape[1:] == shape and ds.x_test.shape[1:] == shape
    assert len(ds.x_test) == math.ceil(0.3 * total) and len(ds.x_train) + len(ds.x_test) == total
    train_counts = ds.train_class_counts()
    test_counts = np.bincount(ds.y_test, minlength=classes)
    # Stratified: each class's test share equals its share of the whole data, up to rounding.
    np.testing.assert_allclose(test_counts, (train_counts + test_counts) * 0.3, atol=1.0)


def test_synthetic_pool_and_test_set_are_balanced():
    ds = builtin.synthetic(num_classes=4, n_per_class=50, n_features=5)
    assert set(ds.train_class_counts()) <= {35, 36}
    assert set(np.bincount(ds.y_test, minlength=4)) <= {14, 15}


@pytest.mark.parametrize("loader", [builtin.digits, builtin.wine, builtin.synthetic])
def test_builtin_split_is_deterministic_per_seed(loader):
    first, again, other = loader(split_seed=3), loader(split_seed=3), loader(split_seed=4)
    for a, b in zip(first[1:5], again[1:5]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.x_test, other.x_test)


def test_breast_cancer_standardised_with_training_statistics():
    raw = skdatasets.load_breast_cancer()
    x_tr, x_te, y_tr, y_te = train_test_split(
        raw.data.astype(np.float32), raw.target, test_size=0.3, stratify=raw.target,
        random_state=0)
    mean, std = x_tr.mean(0), x_tr.std(0)
    ds = builtin.breast_cancer()
    np.testing.assert_allclose(ds.x_train, (x_tr - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.x_test, (x_te - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ds.y_test, y_te)
    np.testing.assert_allclose(ds.x_train.mean(0), 0.0, atol=1e-5)
    assert abs(ds.x_test.mean()) > 1e-3  # test data is not re-centred on its own statistics


def test_digits_keep_pixels_in_unit_interval():
    ds = builtin.digits()
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
@pytest.mark.parametrize("loader", [builtin.wine, builtin.digits, builtin.synthetic])
def test_builtin_rejects_bad_test_fraction(loader, fraction):
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\)"):
        loader(test_fraction=fraction)


def test_synthetic_rejects_single_class():
    with pytest.raises(ValueError, match="num_classes >= 2"):
        builtin.synthetic(num_classes=1)


def _toy_arrays(rows=6, shape=(2, 3), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, *shape)).astype(np.float32)
    return x, (np.arange(rows) % 2).astype(np.int32)


@settings(max_examples=20, deadline=None)
@given(row=st.integers(0, 5), column=st.integers(0, 5), value=st.sampled_from([np.nan, np.inf, -np.inf]),
       part=st.sampled_from(["training pool", "test set"]))
def test_dataset_with_a_nonfinite_feature_is_refused_naming_the_first_bad_row(row, column, value, part):
    x, y = _toy_arrays()
    bad = x.reshape(6, -1).copy()
    bad[row, column] = value
    bad[5, 0] = np.nan  # a bad last row: named only when it is the first
    shown = np.nan if row == 5 else value
    arrays = (bad.reshape(x.shape), y, x, y) if part == "training pool" else (x, y, bad.reshape(x.shape), y)
    with pytest.raises(ValueError, match=rf"^dataset 'toy': {part} row {row} has a NaN or infinite feature "
                                         rf"\({float(shown)!r}\)$"):
        data.Dataset("toy", *arrays, ("a", "b"), (2, 3))


def test_loading_a_table_with_a_nonfinite_feature_names_the_data_set_and_the_row(monkeypatch):
    """At ``load``: the built-in loaders check the source table before splitting it (its row numbers)."""
    bunch = skdatasets.load_wine()
    bunch.data[17, 4] = np.inf
    monkeypatch.setattr(builtin.skdatasets, "load_wine", lambda: bunch)
    with pytest.raises(ValueError, match=r"^dataset 'wine': source table row 17 has a NaN or infinite feature \(inf\)$"):
        data.load("wine")


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_features_that_overflow_float32_are_refused():
    """A float64 value beyond float32's range becomes inf when a loader converts the table."""
    x, y = _toy_arrays(rows=4, shape=(3,))
    x64 = x.astype(np.float64)
    x64[2, 1] = 1e39
    with pytest.raises(ValueError, match=r"source table row 2 has a NaN or infinite feature \(inf\)"):
        builtin.split("toy", x64, y, ["a", "b"], (3,), test_fraction=0.5, split_seed=0, standardise_features=True)


def test_dataset_refuses_mismatched_lengths_and_labels_out_of_range():
    x, y = _toy_arrays()
    with pytest.raises(ValueError, match=r"^dataset 'toy': the test set has 6 feature rows but 5 labels$"):
        data.Dataset("toy", x, y, x, y[:5], ("a", "b"), (2, 3))
    with pytest.raises(ValueError, match=r"^dataset 'toy': training pool labels must lie in 0..1, got range 0..2$"):
        data.Dataset("toy", x, y * 2, x, y, ("a", "b"), (2, 3))


def test_registry_load_and_unknown_name():
    np.testing.assert_array_equal(data.load("wine").y_test, builtin.wine().y_test)
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*'wine'"):
        data.load("nope")


# --------------------------------------------------------------------------------------------
# tensorflow-datasets loader
# --------------------------------------------------------------------------------------------


class _BatchReadableSourceMock(tfds.testing.PickableDataSourceMock):
    """tfds 4.9.10's ``mock_data`` stores ``__getitems__`` unbound (missing ``self``); bind it."""

    def __setattr__(self, name, value):
        if name == "__getitems__":
            value = functools.partial(value, self)
        super().__setattr__(name, value)


def _mock_tfds(num_examples):
    return tfds.testing.mock_data(num_examples=num_examples,
                                  mock_array_record_data_source=_BatchReadableSourceMock())


@pytest.mark.parametrize("name, shape", [
    ("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3)), ("svhn_cropped", (32, 32, 3))])
def test_tfds_mocked_shapes_dtypes_labels_and_pixels(name, shape):
    with _mock_tfds(num_examples=7):
        ds = tfds_loader.load_tfds(name)
        # Mocked metadata comes from the builder code (cifar10's real names are only written when
        # the data is prepared, so here they are '0'..'9'); the real-file test checks real names.
        class_names = tuple(tfds.builder(name).info.features["label"].names)
        raw = tfds.data_source(name, split="test", download=False)
        raw_images = np.stack([raw[i]["image"] for i in range(len(raw))])
        raw_labels = np.array([raw[i]["label"] for i in range(len(raw))])
    assert ds.name == name and ds.input_shape == shape and ds.class_names == class_names
    assert ds.x_train.shape == (7, *shape) and ds.x_test.shape == (7, *shape)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0 and ds.x_train.max() > 0.5
    assert len(class_names) == 10 and 0 <= ds.y_train.min() and ds.y_train.max() < 10
    np.testing.assert_array_equal(ds.x_test, raw_images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(ds.y_test, raw_labels)


def test_tfds_truncation_batching_and_generic_name(monkeypatch):
    with _mock_tfds(num_examples=9):
        full = tfds_loader.load_tfds("fashion_mnist")
        cut = tfds_loader.load_tfds("fashion_mnist", max_train=5, max_test=100)
        monkeypatch.setattr(tfds_loader, "_READ_BATCH", 4)
        batched = tfds_loader.loader_for("tfds:fashion_mnist")()
    assert len(cut.x_train) == 5 and len(cut.x_test) == 9
    np.testing.assert_array_equal(cut.x_train, full.x_train[:5])
    np.testing.assert_array_equal(cut.y_train, full.y_train[:5])
    assert batched.name == "tfds:fashion_mnist"
    np.testing.assert_array_equal(batched.x_train, full.x_train)
    np.testing.assert_array_equal(batched.y_test, full.y_test)


def test_tfds_registry_helpers():
    loaders = tfds_loader.tfds_loaders()
    assert tuple(loaders) == tfds_loader.TFDS_NAMES
    assert loaders["cifar100"].func is tfds_loader.load_tfds
    assert loaders["cifar100"].args == ("cifar100",)
    assert tfds_loader.is_tfds_name("tfds:emnist/letters")
    assert not tfds_loader.is_tfds_name("tfds:") and not tfds_loader.is_tfds_name("mnist")


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


TINY_IMAGES = {split: np.random.default_rng(seed).integers(0, 256, (n, 4, 5, 3), dtype=np.uint8)
               for split, seed, n in (("train", 0, 12), ("test", 1, 6))}


class ImbjaxTinyImages(tfds.core.GeneratorBasedBuilder):
    """A real (not mocked) tfds dataset; images are PNG-encoded with PIL, so no TensorFlow."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "picture": tfds.features.Image(shape=(4, 5, 3)),
            "kind": tfds.features.ClassLabel(names=["cat", "dog", "eel"]),
        }))

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in TINY_IMAGES}

    def _generate_examples(self, split):
        for i, image in enumerate(TINY_IMAGES[split]):
            yield i, {"picture": _png(image), "kind": i % 3}


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    ImbjaxTinyImages(data_dir=data_dir, file_format="array_record").download_and_prepare()
    return str(data_dir)


def test_tfds_reads_prepared_array_record_files(tiny_data_dir, monkeypatch):
    monkeypatch.setattr(tfds_loader, "_READ_BATCH", 5)
    ds = tfds_loader.load_tfds("imbjax_tiny_images", data_dir=tiny_data_dir,
                               image_key="picture", label_key="kind")
    assert ds.class_names == ("cat", "dog", "eel") and ds.input_shape == (4, 5, 3)
    # tfds shuffles records when preparing: compare as multisets keyed by the image bytes.
    splits = ((ds.x_train, ds.y_train, "train"), (ds.x_test, ds.y_test, "test"))
    for images, labels, split in splits:
        expected = {TINY_IMAGES[split][i].tobytes(): i % 3 for i in range(len(TINY_IMAGES[split]))}
        pixels = np.rint(images * 255).astype(np.uint8)
        np.testing.assert_allclose(images, pixels / np.float32(255), atol=1e-7)
        assert {p.tobytes(): int(y) for p, y in zip(pixels, labels)} == expected


def test_tfds_not_prepared_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        tfds_loader.load_tfds("mnist", data_dir=str(tmp_path))
    message = str(info.value)
    assert "'mnist' is not prepared" in message and str(tmp_path) in message
    assert "tfds build mnist --data_dir=DIR --file_format=array_record" in message


@pytest.mark.parametrize("name, kwargs, match", [
    ("imdb_reviews", {}, r"no image feature 'image'; its features are \['label', 'text'\]"),
    ("mnist", {"label_key": "digit"},
     r"no label feature 'digit'; its features are \['image', 'label'\]"),
    ("tf_flowers", {}, r"shape \(None, None, 3\).*fixed-shape"),
    ("cifar100", {"label_key": "id"}, "'id' is Text, not a ClassLabel"),
    ("no_such_dataset_xyz", {}, r"unknown tensorflow-datasets name 'no_such_dataset_xyz'.*'mnist'"),
    ("mnist", {"max_train": 0}, "max_train must be None or a positive integer, got 0"),
])
def test_tfds_bad_requests_raise_value_error(tmp_path, name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tfds_loader.load_tfds(name, data_dir=str(tmp_path), **kwargs)


# --------------------------------------------------------------------------------------------
# KEEL loader
# --------------------------------------------------------------------------------------------

GLASS_HEADER = """@relation glass1
@attribute RI real [1.51115, 1.53393]
@attribute Na real [10.73, 17.38]
@attribute Mg real [0.0, 4.49]
@attribute Class {positive, negative}
@inputs RI, Na, Mg
@outputs Class
@data
"""


def _glass_rows(seed=0, n=30, positives=9):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal([1.52, 13.0, 2.5], [0.01, 0.8, 1.0], (n, 3)), 5)
    y = np.array([0] * positives + [1] * (n - positives))
    return x, y


def _glass_text(x, y):
    names = ("positive", "negative")
    return GLASS_HEADER + "".join(
        f"{a:.5f}, {b:.5f}, {c:.5f}, {names[label]}\n" for (a, b, c), label in zip(x, y))


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_keel_glass_like_parse_and_stratified_standardised_split(tmp_path):
    x, y = _glass_rows()
    path = _write(tmp_path, "glass1.dat", _glass_text(x, y))
    table = keel.parse_keel(path)
    assert table.relation == "glass1" and table.class_names == ("positive", "negative")
    assert table.column_names == ("RI", "Na", "Mg")
    np.testing.assert_allclose(table.features, x, rtol=1e-6)
    np.testing.assert_array_equal(table.labels, y)

    ds = keel.load_keel(path, test_fraction=0.3, split_seed=2)
    x_tr, x_te, y_tr, y_te = train_test_split(x.astype(np.float32), y, test_size=0.3,
                                              stratify=y, random_state=2)
    mean, std = x_tr.mean(0), x_tr.std(0)
    assert ds.name == "glass1" and ds.input_shape == (3,) and ds.num_classes == 2
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    np.testing.assert_allclose(ds.x_test, (x_te - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ds.y_train, y_tr)
    assert list(np.bincount(ds.y_test)) == [3, 6]
    raw = keel.load_keel(path, split_seed=2, standardise=False)
    np.testing.assert_allclose(raw.x_train, x_tr, rtol=1e-6)


def test_keel_yeast_like_nominal_input_one_hot_and_class_from_header_order(tmp_path):
    text = """@relation yeast-abalone mix
@attribute Sex {M, F, I}
@attribute Mcg real [0.11, 1.0]
@attribute Gvh real [0.13, 1.0]
@attribute Class {MIT, NUC, CYT, ME3}
@data
M, 0.58, 0.61, CYT
I, 0.43, 0.67, MIT
F, 0.64, 0.62, ME3
% a comment line

M, 0.58, 0.44, NUC
"""
    table = keel.parse_keel(_write(tmp_path, "yeast.dat", text))
    assert table.column_names == ("Sex=M", "Sex=F", "Sex=I", "Mcg", "Gvh")
    assert table.class_names == ("MIT", "NUC", "CYT", "ME3")
    np.testing.assert_array_equal(table.labels, [2, 0, 3, 1])
    np.testing.assert_allclose(table.features, [[1, 0, 0, 0.58, 0.61], [0, 0, 1, 0.43, 0.67],
                                                [0, 1, 0, 0.64, 0.62], [1, 0, 0, 0.58, 0.44]])


def test_keel_outputs_and_inputs_select_columns(tmp_path):
    text = """@relation picked
@attribute a real [0, 1]
@attribute Class{no,yes}
@attribute ignored integer [0, 9]
@attribute b integer [0, 9]
@inputs b, a
@outputs Class
@data
0.5, yes, 7, 3
0.25, no, 8, 4
"""
    table = keel.parse_keel(_write(tmp_path, "picked.dat", text))
    assert table.column_names == ("a", "b")  # declaration order
    np.testing.assert_allclose(table.features, [[0.5, 3], [0.25, 4]])
    np.testing.assert_array_equal(table.labels, [1, 0])


def test_keel_five_fold_files_use_training_statistics(tmp_path):
    x, y = _glass_rows(n=40, positives=10)
    tra = _write(tmp_path, "glass1-5-1tra.dat", _glass_text(x[:32], y[:32]))
    tst = _write(tmp_path, "glass1-5-1tst.dat", _glass_text(x[32:], y[32:]))
    ds = keel.load_keel(tra, test_path=tst)
    assert ds.name == "glass1"
    x_tr = x[:32].astype(np.float32)
    mean, std = x_tr.mean(0), x_tr.std(0)
    np.testing.assert_allclose(ds.x_train, (x_tr - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ds.x_test, (x[32:].astype(np.float32) - mean) / std, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_array_equal(ds.y_test, y[32:])
    assert ds.x_test.dtype == np.float32 and ds.y_test.dtype == np.int32

    swapped = _glass_text(x[32:], y[32:]).replace("{positive, negative}", "{negative, positive}")
    other = _write(tmp_path, "other-5-1tst.dat", swapped)
    with pytest.raises(ValueError, match="header differs"):
        keel.load_keel(tra, test_path=other)


def _replace_line(text, lineno, new):
    lines = text.splitlines()
    lines[lineno - 1] = new
    return "\n".join(lines) + "\n"


# Line numbers: the header is lines 1-8, the first data row is line 9.
MALFORMED = [
    (lambda t: _replace_line(t, 10, "1.5, 13.0, negative"), r":10: expected 4 comma-separated values"),
    (lambda t: _replace_line(t, 11, "1.5, abc, 2.0, negative"), r":11: value 'abc' of numeric attribute 'Na'"),
    (lambda t: _replace_line(t, 12, "1.5, inf, 2.0, negative"), r":12: value 'inf' .*not a finite"),
    (lambda t: _replace_line(t, 9, "1.5, 13.0, 2.0, maybe"), r":9: value 'maybe' of attribute 'Class' is not one of its declared values \['positive', 'negative'\]"),
    (lambda t: _replace_line(t, 13, "1.5, ?, 2.0, negative"), r":13: missing value '\?' for attribute 'Na'"),
    (lambda t: _replace_line(t, 9, "1.5, 13.0, 2.0, <null>"), r":9: missing value '<null>'"),
    (lambda t: t.replace("@data\n", ""), r":8: found '1\.5.*' before @data; is the @data line missing\?"),
    (lambda t: t.split("@data")[0], r":7: reached the end of the file without an @data line"),
    (lambda t: t.split("@data")[0] + "@data\n", r":8: no data rows after @data"),
    (lambda t: _replace_line(t, 3, "@attribute Na strange"), r":3: cannot parse '@attribute Na strange'"),
    (lambda t: _replace_line(t, 5, "@attribute Class real [0, 1]"), r":5: class attribute 'Class' is numeric"),
    (lambda t: _replace_line(t, 7, "@outputs Kind"), r":7: @outputs must name exactly one declared attribute"),
    (lambda t: _replace_line(t, 6, "@inputs RI, Zn"), r":6: @inputs must name declared, non-class attributes.*\['Zn'\]"),
    (lambda t: _replace_line(t, 4, "@attribute Na real [0, 1]"), r":4: attribute 'Na' declared twice"),
    (lambda t: _replace_line(t, 2, "@atribute RI real [0, 1]"), r":2: expected a header line"),
]


@pytest.mark.parametrize("corrupt, match", MALFORMED)
def test_keel_malformed_input_names_file_and_line(tmp_path, corrupt, match):
    x, y = _glass_rows()
    path = _write(tmp_path, "bad.dat", corrupt(_glass_text(x, y)))
    with pytest.raises(ValueError, match=f"bad.dat{match}"):
        keel.load_keel(path)


def test_keel_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.dat"):
        keel.load_keel(tmp_path / "missing.dat")


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(2, 4), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_keel_round_trips_random_tables(n_numeric, n_classes, n_rows, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 100.0, (n_rows, n_numeric)).astype(np.float32)
    y = rng.integers(0, n_classes, n_rows)
    classes = [f"c{k}" for k in range(n_classes)][::-1]
    header = ["@relation random"]
    header += [f"@attribute f{j} real [-1000, 1000]" for j in range(n_numeric)]
    header += ["@attribute Class {" + ", ".join(classes) + "}", "@data"]
    rows = [", ".join([*(repr(float(v)) for v in row), classes[label]]) for row, label in zip(x, y)]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "random.dat"
        path.write_text("\n".join(header + rows) + "\n")
        table = keel.parse_keel(path)
    np.testing.assert_array_equal(table.features, x)
    np.testing.assert_array_equal(table.labels, y)
    assert table.class_names == tuple(classes)
