"""``compute_all``, the calibration metrics and the report against scikit-learn / imbalanced-learn."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
import warnings

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from imblearn import metrics as imb
from sklearn import metrics as skm

from imbjax import metrics

TOL = {"rtol": 1e-6, "atol": 1e-6}
SIZE = 40
CLASS_COUNTS = (2, 4)

compute_all = jax.jit(metrics.compute_all, static_argnames="num_classes")


@jax.jit
def calibration_scores(y_true, probs):
    return (metrics.brier_score(y_true, probs), metrics.log_loss(y_true, probs),
            metrics.expected_calibration_error(y_true, probs),
            metrics.expected_calibration_error(y_true, probs, num_bins=4))


def ece_transcription(y_true, probs, num_bins=15):
    """Guo et al. (2017) Eq. 3 with bins ``(lo, hi]`` of width ``1 / num_bins`` (bin 0 also holds 0)."""
    confidence, predicted = probs.max(axis=1).astype(np.float64), probs.argmax(axis=1)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    total = 0.0
    for b in range(num_bins):
        members = (confidence > edges[b]) & (confidence <= edges[b + 1])
        if b == 0:
            members |= confidence == 0
        if members.any():
            gap = np.mean(predicted[members] == y_true[members]) - np.mean(confidence[members])
            total += members.mean() * abs(gap)
    return total


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def npv_per_class(y_true, y_pred, num_classes):
    """TN / (TN + FN) of class k = precision of the complement ``!= k`` (zero_division 0)."""
    return np.array([skm.precision_score(y_true != k, y_pred != k, zero_division=0) for k in range(num_classes)])


def reference_compute_all(y_true, probs, num_classes):
    labels = list(range(num_classes))
    y_pred = probs.argmax(axis=1)
    one_hot = np.eye(num_classes)[y_true]
    support = one_hot.sum(axis=0)
    cls = {"labels": labels, "zero_division": 0}
    per_class = {
        "support_per_class": support,
        "precision_per_class": skm.precision_score(y_true, y_pred, average=None, **cls),
        "recall_per_class": skm.recall_score(y_true, y_pred, average=None, **cls),
        "specificity_per_class": imb.specificity_score(y_true, y_pred, labels=labels, average=None),
        "npv_per_class": npv_per_class(y_true, y_pred, num_classes),
        "f1_per_class": skm.f1_score(y_true, y_pred, average=None, **cls),
        "g_mean_per_class": imb.geometric_mean_score(y_true, y_pred, labels=labels, average=None),
        "iba_per_class": imb.make_index_balanced_accuracy(alpha=0.1, squared=True)(imb.geometric_mean_score)(
            y_true, y_pred, labels=labels, average=None),
        "roc_auc_per_class": np.array([skm.roc_auc_score(one_hot[:, k], probs[:, k]) for k in labels]),
        "average_precision_per_class": skm.average_precision_score(one_hot, probs, average=None),
    }
    auc = per_class["roc_auc_per_class"]
    scalars = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "error_rate": skm.zero_one_loss(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "macro_precision": skm.precision_score(y_true, y_pred, average="macro", **cls),
        "macro_recall": skm.recall_score(y_true, y_pred, average="macro", **cls),
        "macro_specificity": imb.specificity_score(y_true, y_pred, labels=labels, average="macro"),
        "macro_npv": per_class["npv_per_class"].mean(),
        "macro_f1": skm.f1_score(y_true, y_pred, average="macro", **cls),
        "weighted_precision": skm.precision_score(y_true, y_pred, average="weighted", **cls),
        "weighted_recall": skm.recall_score(y_true, y_pred, average="weighted", **cls),
        "weighted_f1": skm.f1_score(y_true, y_pred, average="weighted", **cls),
        "micro_f1": skm.f1_score(y_true, y_pred, average="micro", **cls),
        "g_mean": imb.geometric_mean_score(y_true, y_pred, labels=labels),
        "g_mean_macro": imb.geometric_mean_score(y_true, y_pred, labels=labels, average="macro"),
        "macro_iba": per_class["iba_per_class"].mean(),
        "min_class_recall": per_class["recall_per_class"].min(),
        "ovr_roc_auc": auc.mean(),
        "ovr_roc_auc_weighted": np.average(np.where(support > 0, auc, 0.0), weights=support),
        "ovr_average_precision": skm.average_precision_score(one_hot, probs, average="macro"),
        "ovr_average_precision_weighted": skm.average_precision_score(one_hot, probs, average="weighted"),
        "brier": skm.brier_score_loss(y_true, probs, labels=labels),
        "log_loss": skm.log_loss(y_true, probs, labels=labels),
        "ece": ece_transcription(y_true, probs),
    }
    return scalars | per_class


@st.composite
def predictions(draw):
    """``(y_true, probs, num_classes)``: informative, perfect, worst or uninformative softmax outputs,
    optionally rounded to 1 decimal (ties, rows not summing to 1), possibly with absent classes."""
    num_classes = draw(st.sampled_from(CLASS_COUNTS))
    used = draw(st.integers(1, num_classes))
    y_true = draw(arrays(np.int32, SIZE, elements=st.integers(0, used - 1)))
    y_true = np.array(draw(st.permutations(range(num_classes))), np.int32)[y_true]
    logits = draw(arrays(np.float32, (SIZE, num_classes), elements=st.floats(-3, 3, width=32, allow_subnormal=False)))
    signal = draw(st.sampled_from([0.0, 2.0, 30.0, -30.0]))  # uninformative, informative, perfect, worst
    probs = np.asarray(jax.nn.softmax(logits + signal * np.eye(num_classes, dtype=np.float32)[y_true], axis=1))
    if draw(st.booleans()):
        probs = np.round(probs, 1)
    return y_true, probs.astype(np.float32), num_classes


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(predictions())
def test_compute_all_matches_references(problem):
    y_true, probs, num_classes = problem
    ours = compute_all(y_true, probs, num_classes=num_classes)
    reference = quietly(reference_compute_all, y_true, probs, num_classes)
    assert set(ours) == set(reference) == set(metrics.SCALAR_KEYS) | set(metrics.PER_CLASS_KEYS)
    for key in metrics.SCALAR_KEYS:
        assert ours[key].shape == (), key
    for key in metrics.PER_CLASS_KEYS:
        assert ours[key].shape == (num_classes,), key
    for key, expected in reference.items():
        np.testing.assert_allclose(ours[key], expected, err_msg=key, **TOL)


def test_compute_all_vmap_over_100_runs_equals_loop():
    rng = np.random.default_rng(0)
    num_classes = 4
    y_true = rng.integers(0, num_classes, (100, SIZE)).astype(np.int32)
    probs = rng.dirichlet(np.ones(num_classes), (100, SIZE)).astype(np.float32)
    batched = jax.jit(jax.vmap(functools.partial(metrics.compute_all, num_classes=num_classes)))(y_true, probs)
    for run in range(100):
        single = compute_all(y_true[run], probs[run], num_classes=num_classes)
        for key, value in single.items():
            # equal up to float32 reduction order
            np.testing.assert_allclose(batched[key][run], value, rtol=3e-7, atol=1e-7, err_msg=key)


def _stack_of_runs(runs, size, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, (runs, size)).astype(np.int32)
    probs = (rng.multinomial(100, np.ones(num_classes) / num_classes, (runs, size)) / 100).astype(np.float32)  # ties
    return y_true, probs


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [None, 1, 4, 50])
def test_compute_all_runs_equals_vmapped_compute_all(chunk):
    num_classes = 3
    y_true, probs = _stack_of_runs(7, SIZE, num_classes)
    expected = jax.jit(jax.vmap(functools.partial(metrics.compute_all, num_classes=num_classes)))(y_true, probs)
    ours = metrics.compute_all_runs(y_true, probs, num_classes=num_classes, chunk=chunk)
    assert set(ours) == set(expected)
    for key, value in expected.items():
        assert ours[key].shape == value.shape, key
        np.testing.assert_allclose(ours[key], value, rtol=3e-7, atol=1e-7, err_msg=key)
    shared = metrics.compute_all_runs(y_true[0], probs, num_classes=num_classes, chunk=chunk)
    for key, value in jax.vmap(functools.partial(metrics.compute_all, num_classes=num_classes),
                               in_axes=(None, 0))(y_true[0], probs).items():
        np.testing.assert_allclose(shared[key], value, rtol=3e-7, atol=1e-7, err_msg=key)


@pytest.mark.slow
def test_compute_all_runs_scores_a_stack_of_several_calls(monkeypatch):
    """A stack longer than one call of the compiled program (here 2 runs a call) is scored call by
    call, the last padded, with one compiled program: the same values as vmap(compute_all)."""
    from imbjax.metrics import suite

    monkeypatch.setattr(suite, "CHUNKS_PER_CALL", 2)
    y_true, probs = _stack_of_runs(7, SIZE, 3, seed=2)
    calls = []
    ours = metrics.compute_all_runs(y_true, probs, num_classes=3, chunk=1, devices=jax.local_devices()[:1],
                                    compile_program=lambda program, args: calls.append(args) or program)
    assert [args[1].shape[0] for args in calls] == [2, 2, 2, 2]
    for key, value in jax.vmap(functools.partial(metrics.compute_all, num_classes=3))(y_true, probs).items():
        np.testing.assert_allclose(ours[key], value, rtol=3e-7, atol=1e-7, err_msg=key)


RUNS_ON_TWO_DEVICES = textwrap.dedent("""
    import functools, json, sys
    import jax, numpy as np
    from imbjax import metrics
    data = np.load(sys.argv[1])
    ours = metrics.compute_all_runs(data["y_true"], data["probs"], num_classes=3)
    loop = [metrics.compute_all(y, p, num_classes=3) for y, p in zip(data["y_true"], data["probs"])]
    print(json.dumps({"devices": jax.device_count(), "max_difference": max(
        float(np.max(np.abs(ours[key][run] - np.asarray(value)))) for run, single in enumerate(loop)
        for key, value in single.items())}))
""")


@pytest.mark.slow
def test_compute_all_runs_sharded_over_two_devices_pads_and_drops(tmp_path):
    y_true, probs = _stack_of_runs(5, SIZE, 3, seed=1)  # 5 runs on 2 devices: one padding run
    np.savez(tmp_path / "runs.npz", y_true=y_true, probs=probs)
    out = subprocess.run([sys.executable, "-c", RUNS_ON_TWO_DEVICES, str(tmp_path / "runs.npz")],
                         env={**os.environ, "JAX_NUM_CPU_DEVICES": "2"}, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["devices"] == 2
    assert result["max_difference"] <= 1e-6


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.compute_all_runs(np.zeros(4, int), np.ones((2, 4, 3)) / 3, num_classes=2), r"\[runs, n, 2\]"),
    (lambda: metrics.compute_all_runs(np.zeros(4, int), np.ones((0, 4, 2)) / 2, num_classes=2), "runs >= 1"),
    (lambda: metrics.compute_all_runs(np.zeros((3, 4), int), np.ones((2, 4, 2)) / 2, num_classes=2),
     r"y_true must have shape \[4\] or \[2, 4\]"),
    (lambda: metrics.compute_all_runs(np.full(4, 2), np.ones((2, 4, 2)) / 2, num_classes=2), "class indices"),
    (lambda: metrics.compute_all_runs(np.zeros(4, int), np.ones((2, 4, 2)) / 2, num_classes=2, chunk=0), "chunk"),
])
def test_compute_all_runs_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@settings(max_examples=30, deadline=None)
@given(predictions())
def test_calibration_metrics(problem):
    y_true, probs, num_classes = problem
    brier, log_loss, ece, ece_4 = calibration_scores(y_true, probs)
    labels = list(range(num_classes))
    np.testing.assert_allclose(brier, quietly(skm.brier_score_loss, y_true, probs, labels=labels), **TOL)
    np.testing.assert_allclose(log_loss, quietly(skm.log_loss, y_true, probs, labels=labels), **TOL)
    np.testing.assert_allclose(ece, ece_transcription(y_true, probs), **TOL)
    np.testing.assert_allclose(ece_4, ece_transcription(y_true, probs, num_bins=4), **TOL)


def test_binary_calibration_with_positive_class_probabilities():
    y_true = np.array([0, 1, 1, 0, 1], np.int32)
    p_positive = np.array([0.1, 0.9, 0.0, 1.0, 0.6], np.float32)  # exact 0 and 1 exercise the clipping
    brier, log_loss, _, _ = calibration_scores(y_true, p_positive)
    np.testing.assert_allclose(brier, skm.brier_score_loss(y_true, p_positive), **TOL)
    np.testing.assert_allclose(log_loss, skm.log_loss(y_true, p_positive), rtol=1e-6)
    assert float(metrics.brier_score(y_true, np.stack([1 - p_positive, p_positive], 1))) == pytest.approx(
        float(brier), abs=1e-7)


@pytest.mark.parametrize("num_classes", [2, 5])
@pytest.mark.parametrize("zero_division", [0, 1])
def test_report_matches_classification_report_imbalanced(num_classes, zero_division):
    rng = np.random.default_rng(num_classes)
    y_true = rng.integers(0, num_classes - 1, 60)  # the last class is absent from y_true
    y_pred = np.where(rng.random(60) < 0.6, y_true, rng.integers(0, num_classes, 60))
    names = [f"class {k}" for k in range(num_classes)]
    table = metrics.report(y_true, y_pred, num_classes=num_classes, class_names=names,
                           zero_division=zero_division)
    expected = quietly(imb.classification_report_imbalanced, y_true, y_pred, labels=range(num_classes),
                       target_names=names, output_dict=True, zero_division=zero_division)
    for name in names:
        for column in metrics.REPORT_COLUMNS:
            assert table.loc[name, column] == pytest.approx(expected[name][column], abs=1e-6), (name, column)
    for column in ("pre", "rec", "spe", "f1", "geo", "iba"):
        assert table.loc["avg / total", column] == pytest.approx(expected[f"avg_{column}"], abs=1e-6), column
        assert table.loc["macro avg", column] == pytest.approx(table.loc[names, column].mean(), abs=1e-12)
    assert table.loc["avg / total", "sup"] == expected["total_support"] == 60


def test_report_docstring_example():
    table = metrics.report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1], num_classes=3,
                           class_names=["class 0", "class 1", "class 2"])
    expected = np.array([[0.50, 1.00, 0.75, 0.67, 0.87, 0.77, 1],
                         [0.00, 0.00, 0.75, 0.00, 0.00, 0.00, 1],
                         [1.00, 0.67, 1.00, 0.80, 0.82, 0.64, 3],
                         [0.70, 0.60, 0.90, 0.61, 0.66, 0.54, 5]])
    np.testing.assert_allclose(table.iloc[:4].to_numpy(dtype=float).round(2), expected)
    assert list(table.index) == ["class 0", "class 1", "class 2", "avg / total", "macro avg"]


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.compute_all(np.array([0, 1]), np.ones((2, 3)) / 3, num_classes=2), r"shape \[n, 2\]"),
    (lambda: metrics.compute_all(np.array([0, 1]), np.ones((2, 2)) / 2, num_classes="2"), "num_classes"),
    (lambda: metrics.expected_calibration_error(np.array([0, 1]), np.ones((2, 2)) / 2, num_bins=0), "num_bins"),
    (lambda: metrics.log_loss(np.array([0, 2]), np.ones((2, 2)) / 2), "y_true must hold class indices"),
    (lambda: metrics.report([0, 1], [0, 1], num_classes=2, class_names=["a"]), "class_names"),
])
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


GOOD_PROBS = np.array([[0.75, 0.25], [0.4, 0.6], [0.5, 0.5]], np.float32)


def _with(row, column, value):
    probs = GOOD_PROBS.copy()
    probs[row, column] = value
    return probs


@pytest.mark.parametrize("y_true, probs, message", [
    ([0, 1, 1], _with(1, 0, np.nan), r"^probs must be finite probabilities in \[0, 1\], got probs\[1, 0\] = nan$"),
    ([0, 1, 1], _with(2, 1, np.inf), r"got probs\[2, 1\] = inf$"),
    ([0, 1, 1], _with(0, 1, -0.25), r"got probs\[0, 1\] = -0.25$"),
    ([0, 1, 1], _with(2, 0, 1.5), r"got probs\[2, 0\] = 1.5$"),
    ([0, 1, 1], _with(1, 1, 0.5), r"^each row of probs must sum to 1 \(within 0.001\), got row 1 summing to 0.9"),
    (np.array([0.0, 1.0, 1.7]), GOOD_PROBS,
     r"^y_true must hold integer class indices, got float64 values such as y_true\[0\] = 0.0$"),
    (np.zeros(0, np.int32), np.zeros((0, 2), np.float32), r"^y_true and probs hold no examples \(n = 0\)"),
    ([0, 1, 1, 0], GOOD_PROBS, r"^y_true must have shape \[n\] with n = 3 \(the rows of probs\), got shape \(4,\)$"),
    ([0, 2, 1], GOOD_PROBS, r"^y_true must hold class indices in \[0, 2\), got 2$"),
])
def test_compute_all_refuses_bad_concrete_inputs_naming_the_bad_value(y_true, probs, message):
    with pytest.raises(ValueError, match=message):
        metrics.compute_all(y_true, probs, num_classes=2)


@pytest.mark.slow
def test_compute_all_under_jit_skips_the_value_checks():
    """Traced values cannot be inspected: unnormalised rows and float labels pass through (the engine
    scores under jit); a shape mismatch is still refused, shapes being static."""
    y_true = np.array([0.0, 1.0, 1.0], np.float32)
    unnormalised = _with(1, 1, 0.5)
    scores = compute_all(y_true, unnormalised, num_classes=2)
    reference = metrics.compute_all(y_true.astype(np.int32), unnormalised / unnormalised.sum(1, keepdims=True),
                                    num_classes=2)
    np.testing.assert_allclose(scores["balanced_accuracy"], reference["balanced_accuracy"])
    with pytest.raises(ValueError, match="n = 3"):
        compute_all(np.zeros(4, np.int32), GOOD_PROBS, num_classes=2)
