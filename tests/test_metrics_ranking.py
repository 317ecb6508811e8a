"""Ranking metrics and curves against scikit-learn, with heavy ties, degenerate labels and n = 10,000."""
from __future__ import annotations

import functools
import warnings

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from imbjax import metrics

TOL = {"rtol": 1e-6, "atol": 1e-6}
SIZE = 40
CLASS_COUNTS = (2, 3, 6)
OVR_AVERAGES = (None, "macro", "weighted")


@functools.partial(jax.jit, static_argnames="pos_label")
def binary_scores(y_true, y_score, *, pos_label):
    kwargs = {"pos_label": pos_label}
    return (metrics.roc_auc(y_true, y_score, **kwargs), metrics.average_precision(y_true, y_score, **kwargs),
            metrics.roc_curve(y_true, y_score, **kwargs), metrics.pr_curve(y_true, y_score, **kwargs))


@functools.partial(jax.jit, static_argnames="num_classes")
def ovr_scores(y_true, probs, *, num_classes):
    common = {"num_classes": num_classes}
    return {f"{name}/{average}": fn(y_true, probs, average=average, **common)
            for name, fn in (("auc", metrics.ovr_roc_auc), ("ap", metrics.ovr_average_precision))
            for average in OVR_AVERAGES}


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def assert_padded_curve_matches(ours, length, expected, name):
    """The first ``length`` entries equal ``expected``; the rest repeat entry ``length - 1``."""
    ours = np.asarray(ours)
    assert length == len(expected), name
    np.testing.assert_allclose(ours[:length], expected, err_msg=name, **TOL)
    np.testing.assert_array_equal(ours[length:], np.full(len(ours) - length, ours[length - 1]), err_msg=name)


def check_binary(y_true, y_score, pos_label):
    auc, ap, roc, pr = binary_scores(y_true, y_score, pos_label=pos_label)
    positives = y_true == pos_label
    expected_auc = quietly(skm.roc_auc_score, positives, y_score)
    np.testing.assert_allclose(auc, expected_auc, **TOL)
    np.testing.assert_allclose(ap, quietly(skm.average_precision_score, positives, y_score), **TOL)
    fpr, tpr, thresholds = quietly(skm.roc_curve, y_true, y_score, pos_label=pos_label, drop_intermediate=False)
    length = int(roc.length)
    for name, ours, expected in (("fpr", roc.fpr, fpr), ("tpr", roc.tpr, tpr), ("thr", roc.thresholds, thresholds)):
        assert_padded_curve_matches(ours, length, expected, name)
    precision, recall, pr_thresholds = quietly(skm.precision_recall_curve, y_true, y_score, pos_label=pos_label)
    length = int(pr.length)
    assert_padded_curve_matches(pr.precision, length, precision, "precision")
    assert_padded_curve_matches(pr.recall, length, recall, "recall")
    assert_padded_curve_matches(pr.thresholds, length - 1, pr_thresholds, "pr thresholds")
    if not np.isnan(expected_auc):  # the padded curve integrates to the AUC
        np.testing.assert_allclose(np.trapezoid(roc.tpr, roc.fpr), auc, **TOL)


@st.composite
def binary_problems(draw):
    """Labels with 0, 1 or 2 classes present; continuous, tied (1 decimal), perfect, worst or constant scores."""
    y_true = draw(arrays(np.int32, SIZE, elements=st.integers(0, draw(st.sampled_from([0, 1, 1, 1])))))
    if draw(st.booleans()):
        y_true = 1 - y_true
    kind = draw(st.sampled_from(["continuous", "tied", "perfect", "worst", "constant"]))
    noise = draw(arrays(np.float32, SIZE, elements=st.floats(0, 1, width=32, allow_subnormal=False)))
    scores = {
        "continuous": noise,
        "tied": np.round(noise, 1),
        "perfect": y_true + 0.5 * noise,
        "worst": -y_true - 0.5 * noise,
        "constant": np.full(SIZE, 0.3),
    }[kind].astype(np.float32)
    scores[np.abs(scores) < np.finfo(np.float32).tiny] = 0.0  # XLA flushes subnormals to zero (documented)
    return y_true, scores, draw(st.sampled_from([0, 1]))


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(binary_problems())
def test_binary_ranking_metrics_and_curves_match_sklearn(problem):
    check_binary(*problem)


@st.composite
def multiclass_problems(draw):
    """Softmax probabilities, optionally rounded to 1 decimal (heavy ties), some classes possibly absent."""
    num_classes = draw(st.sampled_from(CLASS_COUNTS))
    used = draw(st.integers(1, num_classes))
    y_true = draw(arrays(np.int32, SIZE, elements=st.integers(0, used - 1)))
    y_true = np.array(draw(st.permutations(range(num_classes))), np.int32)[y_true]
    logits = draw(arrays(np.float32, (SIZE, num_classes), elements=st.floats(-3, 3, width=32, allow_subnormal=False)))
    signal = draw(st.sampled_from([0.0, 2.0, 20.0]))
    logits = logits + signal * np.eye(num_classes, dtype=np.float32)[y_true]
    probs = np.asarray(jax.nn.softmax(logits, axis=1))
    tied = draw(st.booleans())
    return y_true, (np.round(probs, 1) if tied else probs).astype(np.float32), num_classes, tied


@settings(max_examples=40, deadline=None)
@given(multiclass_problems())
def test_ovr_metrics_match_sklearn(problem):
    y_true, probs, num_classes, tied = problem
    ours = ovr_scores(y_true, probs, num_classes=num_classes)
    one_hot = np.eye(num_classes)[y_true]
    auc_per_class = np.array([quietly(skm.roc_auc_score, one_hot[:, k], probs[:, k]) for k in range(num_classes)])
    support = one_hot.sum(axis=0)
    expected_auc = {None: auc_per_class, "macro": auc_per_class.mean(),
                    "weighted": np.average(np.where(support > 0, auc_per_class, 0), weights=support)}
    for average in OVR_AVERAGES:
        np.testing.assert_allclose(ours[f"auc/{average}"], expected_auc[average], err_msg=str(average), **TOL)
        np.testing.assert_allclose(ours[f"ap/{average}"],
                                   quietly(skm.average_precision_score, one_hot, probs, average=average),
                                   err_msg=str(average), **TOL)
        if not tied and num_classes > 2:  # scikit-learn's multi-class entry point wants rows summing to 1
            np.testing.assert_allclose(
                ours[f"auc/{average}"],
                quietly(skm.roc_auc_score, y_true, probs, multi_class="ovr", labels=range(num_classes),
                        average=average), err_msg=str(average), **TOL)


@pytest.mark.parametrize("tied", [False, True])
def test_exact_at_ten_thousand_examples(tied):
    rng = np.random.default_rng(1)
    num_classes, size = 10, 10_000
    y_true = rng.integers(0, num_classes, size).astype(np.int32)
    logits = rng.normal(size=(size, num_classes)) + 0.7 * np.eye(num_classes)[y_true]
    probs = np.asarray(jax.nn.softmax(logits, axis=1), np.float32)
    if tied:
        probs = np.round(probs, 1).astype(np.float32)
    ours = ovr_scores(y_true, probs, num_classes=num_classes)
    one_hot = np.eye(num_classes)[y_true]
    auc = [skm.roc_auc_score(one_hot[:, k], probs[:, k]) for k in range(num_classes)]
    np.testing.assert_allclose(ours["auc/None"], auc, **TOL)
    np.testing.assert_allclose(ours["ap/None"], skm.average_precision_score(one_hot, probs, average=None), **TOL)
    check_binary(one_hot[:, 0].astype(np.int32), probs[:, 0], 1)


def test_degenerate_cases():
    y_true = np.array([0, 1, 1, 0, 1])
    auc, ap, _, _ = binary_scores(y_true, np.full(5, 0.5, np.float32), pos_label=1)  # constant score
    assert float(auc) == 0.5
    assert float(ap) == pytest.approx(0.6)  # = prevalence
    ramp = np.linspace(0, 1, 5).astype(np.float32)
    auc, ap, roc, _ = binary_scores(np.ones(5, np.int32), ramp, pos_label=1)  # positives only
    assert np.isnan(auc) and float(ap) == 1.0 and np.all(np.isnan(roc.fpr))
    auc, ap, roc, pr = binary_scores(np.zeros(5, np.int32), ramp, pos_label=1)  # no positive
    assert np.isnan(auc) and float(ap) == 0.0 and np.all(np.isnan(roc.tpr))
    np.testing.assert_array_equal(pr.recall[:5], 1.0)
    # A class absent from y_true: its AUC is NaN, the macro average NaN, the weighted average ignores it.
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]], np.float32)
    ours = ovr_scores(np.array([0, 1, 0, 1]), probs, num_classes=3)
    np.testing.assert_array_equal(ours["auc/None"], [1.0, 1.0, np.nan])
    assert np.isnan(ours["auc/macro"]) and float(ours["auc/weighted"]) == 1.0
    np.testing.assert_array_equal(ours["ap/None"], [1.0, 1.0, 0.0])


def test_vmap_over_runs_equals_loop():
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 3, (100, SIZE)).astype(np.int32)
    probs = np.round(rng.dirichlet(np.ones(3), (100, SIZE)), 1).astype(np.float32)
    batched = jax.jit(jax.vmap(functools.partial(ovr_scores, num_classes=3)))(y_true, probs)
    for run in range(100):
        single = ovr_scores(y_true[run], probs[run], num_classes=3)
        for key, value in single.items():
            # equal up to float32 reduction order
            np.testing.assert_allclose(batched[key][run], value, rtol=3e-7, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.ovr_roc_auc(np.array([0, 1]), np.ones((2, 2)) / 2, num_classes=2, average="micro"),
     "average must be one of"),
    (lambda: metrics.ovr_roc_auc(np.array([0, 1]), np.ones((2, 3)) / 3, num_classes=2), r"shape \[n, 2\]"),
    (lambda: metrics.ovr_average_precision(np.array([0, 5]), np.ones((2, 2)) / 2, num_classes=2),
     "y_true must hold class indices"),
    (lambda: metrics.roc_auc(np.array([0, 1]), np.ones((2, 2))), r"shape \[n\]"),
])
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
