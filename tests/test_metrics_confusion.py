"""Confusion-matrix metrics against scikit-learn / imbalanced-learn (``labels=range(num_classes)``)."""
from __future__ import annotations

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
CLASS_COUNTS = (2, 3, 6)
SIZE = 40  # one static shape: one compilation per class count
RATIO_METRICS = ("precision", "recall", "specificity", "npv", "f1", "f_beta")


def _averages(num_classes):
    return (None, "macro", "weighted", "micro") + (("binary",) if num_classes == 2 else ())


@jax.jit
def _simple_scores(y_true, y_pred):
    return metrics.accuracy(y_true, y_pred), metrics.error_rate(y_true, y_pred)


def _all_scores(y_true, y_pred, zero_division, beta, correction, *, num_classes):
    """Every confusion metric under every ``average``, traced once per static shape."""
    common = {"num_classes": num_classes, "zero_division": zero_division}
    scores = {
        "confusion_matrix": metrics.confusion_matrix(y_true, y_pred, num_classes=num_classes),
        "balanced_accuracy": metrics.balanced_accuracy(y_true, y_pred, num_classes=num_classes),
        "balanced_accuracy_adjusted": metrics.balanced_accuracy(y_true, y_pred, num_classes=num_classes,
                                                                adjusted=True),
        "g_mean/multiclass": metrics.g_mean(y_true, y_pred, num_classes=num_classes, correction=correction),
    }
    for average in _averages(num_classes):
        scores[f"precision/{average}"] = metrics.precision(y_true, y_pred, average=average, **common)
        scores[f"recall/{average}"] = metrics.recall(y_true, y_pred, average=average, **common)
        scores[f"specificity/{average}"] = metrics.specificity(y_true, y_pred, average=average, **common)
        scores[f"npv/{average}"] = metrics.npv(y_true, y_pred, average=average, **common)
        scores[f"f1/{average}"] = metrics.f1(y_true, y_pred, average=average, **common)
        scores[f"f_beta/{average}"] = metrics.f_beta(y_true, y_pred, beta=beta, average=average, **common)
        scores[f"g_mean/{average}"] = metrics.g_mean(y_true, y_pred, num_classes=num_classes, average=average)
    return scores


ALL_SCORES = jax.jit(_all_scores, static_argnames="num_classes")


def _nan_average(values, weights=None):
    """scikit-learn's ``_nanaverage``."""
    keep = ~np.isnan(values)
    if not keep.any():
        return np.nan
    if weights is None or weights[keep].sum() == 0:
        return values[keep].mean()
    return np.average(values[keep], weights=weights[keep])


def _one_vs_rest_reference(score, y_true, y_pred, num_classes, average, zero_division):
    """Specificity (``score=recall_score``) or NPV (``precision_score``) of each class as the score of
    its complement ``!= k`` (a binary scikit-learn call), averaged like scikit-learn."""
    per_class = np.array([score(y_true != k, y_pred != k, zero_division=zero_division)
                          for k in range(num_classes)])
    support = np.bincount(y_true, minlength=num_classes)
    if average is None:
        return per_class
    if average == "binary":
        return per_class[1]
    if average == "micro":
        mcm = skm.multilabel_confusion_matrix(y_true, y_pred, labels=range(num_classes)).sum(axis=0)
        tn, fp, fn = mcm[0, 0], mcm[0, 1], mcm[1, 0]
        denominator = tn + (fp if score is skm.recall_score else fn)
        return tn / denominator if denominator else zero_division
    return _nan_average(per_class, support if average == "weighted" else None)


def _reference(y_true, y_pred, num_classes, zero_division, beta, correction):
    labels = list(range(num_classes))
    ref = {
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "balanced_accuracy_adjusted": skm.balanced_accuracy_score(y_true, y_pred, adjusted=True),
        "g_mean/multiclass": imb.geometric_mean_score(y_true, y_pred, labels=labels, correction=correction),
    }
    for average in _averages(num_classes):
        common = {"labels": labels, "average": average, "zero_division": zero_division}
        ref[f"precision/{average}"] = skm.precision_score(y_true, y_pred, **common)
        ref[f"recall/{average}"] = skm.recall_score(y_true, y_pred, **common)
        ref[f"f1/{average}"] = skm.f1_score(y_true, y_pred, **common)
        ref[f"f_beta/{average}"] = skm.fbeta_score(y_true, y_pred, beta=beta, **common)
        ref[f"g_mean/{average}"] = imb.geometric_mean_score(y_true, y_pred, labels=labels, average=average)
        ref[f"specificity/{average}"] = _one_vs_rest_reference(skm.recall_score, y_true, y_pred, num_classes,
                                                               average, zero_division)
        ref[f"npv/{average}"] = _one_vs_rest_reference(skm.precision_score, y_true, y_pred, num_classes,
                                                       average, zero_division)
        # imbalanced-learn returns specificity 0 for average="binary" when y_true and y_pred are all
        # negative (its "only negative labels" shortcut); we keep TN / (TN + FP) = 1 there.
        only_negatives = average == "binary" and not (np.any(y_true == 1) or np.any(y_pred == 1))
        if zero_division == 0.0 and not only_negatives:
            ref[f"specificity/{average}/imblearn"] = imb.specificity_score(y_true, y_pred, labels=labels,
                                                                           average=average)
    return ref


@st.composite
def label_pairs(draw):
    """``(y_true, y_pred, num_classes)``: random, perfect, worst or constant predictions, and
    ``y_true`` using a random subset of the classes (absent classes, single class)."""
    num_classes = draw(st.sampled_from(CLASS_COUNTS))
    size = SIZE
    used = draw(st.integers(1, num_classes))
    y_true = draw(arrays(np.int32, size, elements=st.integers(0, used - 1)))
    mode = draw(st.sampled_from(["random", "perfect", "worst", "constant"]))
    if mode == "random":
        y_pred = draw(arrays(np.int32, size, elements=st.integers(0, num_classes - 1)))
    elif mode == "perfect":
        y_pred = y_true.copy()
    elif mode == "worst":
        y_pred = (y_true + 1) % num_classes
    else:
        y_pred = np.full(size, draw(st.integers(0, num_classes - 1)), np.int32)
    relabel = np.array(draw(st.permutations(range(num_classes))), np.int32)
    return relabel[y_true], relabel[y_pred], num_classes


@settings(max_examples=30, deadline=None)
@given(label_pairs(), st.sampled_from([0.0, 1.0, np.nan]), st.sampled_from([0.5, 1.0, 2.0]),
       st.sampled_from([0.0, 0.001]))
def test_confusion_metrics_match_sklearn_and_imblearn(pair, zero_division, beta, correction):
    y_true, y_pred, num_classes = pair
    ours = ALL_SCORES(y_true, y_pred, zero_division, beta, correction, num_classes=num_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _reference(y_true, y_pred, num_classes, zero_division, beta, correction)
    for key, expected in ref.items():
        np.testing.assert_allclose(ours[key.removesuffix("/imblearn")], expected, err_msg=key, **TOL)
    accuracy, error = _simple_scores(y_true, y_pred)
    np.testing.assert_allclose(accuracy, skm.accuracy_score(y_true, y_pred), **TOL)
    np.testing.assert_allclose(error, skm.zero_one_loss(y_true, y_pred), **TOL)


def test_imblearn_docstring_examples():
    y_true, y_pred = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 2, 1, 0, 0, 1])
    common = {"num_classes": 3}
    assert float(metrics.g_mean(y_true, y_pred, **common)) == 0.0
    np.testing.assert_allclose(metrics.g_mean(y_true, y_pred, correction=0.001, **common),
                               imb.geometric_mean_score(y_true, y_pred, correction=0.001), **TOL)
    assert float(metrics.g_mean(y_true, y_pred, correction=0.001, **common)) == pytest.approx(0.01, 1e-6)
    for average in ("macro", "micro", "weighted"):
        assert float(metrics.g_mean(y_true, y_pred, average=average, **common)) == pytest.approx(0.4714045, 1e-6)
        assert float(metrics.recall(y_true, y_pred, average=average, **common)) == pytest.approx(1 / 3, 1e-6)
        assert float(metrics.specificity(y_true, y_pred, average=average, **common)) == pytest.approx(2 / 3, 1e-6)
    np.testing.assert_allclose(metrics.g_mean(y_true, y_pred, average=None, **common), [0.8660254, 0, 0], **TOL)
    np.testing.assert_allclose(metrics.recall(y_true, y_pred, average=None, **common), [1, 0, 0], **TOL)
    np.testing.assert_allclose(metrics.specificity(y_true, y_pred, average=None, **common), [0.75, 0.5, 0.75],
                               **TOL)


def test_g_mean_conventions_differ_where_documented():
    """imbalanced-learn's macro G-mean is sqrt(mean sens * mean spec), not the mean class G-mean (#1096)."""
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 2, 2, 2, 0, 1])
    macro = float(metrics.g_mean(y_true, y_pred, num_classes=3, average="macro"))
    per_class = np.asarray(metrics.g_mean(y_true, y_pred, num_classes=3, average=None))
    assert macro == pytest.approx(imb.geometric_mean_score(y_true, y_pred, average="macro"), abs=1e-6)
    assert macro != pytest.approx(per_class.mean(), abs=1e-3)
    recalls = np.asarray(metrics.recall(y_true, y_pred, num_classes=3, average=None))
    assert float(metrics.g_mean(y_true, y_pred, num_classes=3)) == pytest.approx(np.prod(recalls) ** (1 / 3), 1e-6)


def test_binary_equations_of_the_survey():
    """Eqs. 2-9 on a hand-counted binary example: TP=3, FN=1, FP=2, TN=4."""
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])
    tp, fn, fp, tn = 3, 1, 2, 4
    binary = {"num_classes": 2, "average": "binary"}
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, num_classes=2), [[tn, fp], [fn, tp]])
    tpr, tnr, prec = tp / (tp + fn), tn / (tn + fp), tp / (tp + fp)
    expected = {
        "accuracy": (metrics.accuracy(y_true, y_pred), (tp + tn) / 10),
        "error_rate": (metrics.error_rate(y_true, y_pred), (fp + fn) / 10),
        "precision": (metrics.precision(y_true, y_pred, **binary), prec),
        "recall": (metrics.recall(y_true, y_pred, **binary), tpr),
        "specificity": (metrics.specificity(y_true, y_pred, **binary), tnr),
        "npv": (metrics.npv(y_true, y_pred, **binary), tn / (tn + fn)),
        "f2": (metrics.f_beta(y_true, y_pred, beta=2.0, **binary), 5 * prec * tpr / (4 * prec + tpr)),
        "g_mean": (metrics.g_mean(y_true, y_pred, num_classes=2), np.sqrt(tpr * tnr)),
        "g_mean_binary": (metrics.g_mean(y_true, y_pred, **binary), np.sqrt(tpr * tnr)),
        "balanced_accuracy": (metrics.balanced_accuracy(y_true, y_pred, num_classes=2), (tpr + tnr) / 2),
    }
    for name, (ours, eq) in expected.items():
        assert float(ours) == pytest.approx(eq, abs=1e-6), name
    # pos_label=0 swaps the roles of the classes.
    assert float(metrics.recall(y_true, y_pred, pos_label=0, **binary)) == pytest.approx(tnr, abs=1e-6)


def test_vmap_over_runs_equals_loop():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, (100, 40)).astype(np.int32)
    y_pred = rng.integers(0, 3, (100, 40)).astype(np.int32)
    batched = jax.jit(jax.vmap(lambda t, p: metrics.f1(t, p, num_classes=3, average="macro")))(y_true, y_pred)
    single = jax.jit(lambda t, p: metrics.f1(t, p, num_classes=3, average="macro"))
    np.testing.assert_allclose(batched, [single(t, p) for t, p in zip(y_true, y_pred, strict=True)], rtol=0, atol=0)


@pytest.mark.parametrize("call, message", [
    (lambda y: metrics.precision(y, y, num_classes=3, average="binary"), "num_classes=2"),
    (lambda y: metrics.precision(y, y, num_classes=3, average="mean"), "average must be one of"),
    (lambda y: metrics.g_mean(y, y, num_classes=3, average="samples"), "average must be one of"),
    (lambda y: metrics.recall(y, y, num_classes=2, pos_label=2), "pos_label"),
    (lambda y: metrics.confusion_matrix(y, y, num_classes=0), "num_classes"),
    (lambda y: metrics.confusion_matrix(y, y, num_classes=2.0), "num_classes"),
    (lambda y: metrics.confusion_matrix(y, y, num_classes=2), r"y_true must hold class indices in \[0, 2\)"),
])
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.array([0, 1, 2]))
