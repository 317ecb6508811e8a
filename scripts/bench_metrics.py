"""``imbjax.metrics.compute_all`` over many runs in one jitted call vs a scikit-learn/imblearn loop.

Workload: ``--runs`` runs (default 400) x ``--examples`` test examples (10,000) x ``--classes``
classes (10), random informative softmax probabilities rounded to 3 decimals (many ties). JAX: the
program of ``imbjax.metrics.compute_all_runs``, one ``jit`` of ``lax.map(compute_all,
batch_size=--chunk)`` per device (vmap within chunks of runs, bounding memory), compiled with
``imbjax.metrics.suite.COMPILER_OPTIONS``; compile seconds reported separately, run seconds the
best of ``--repeats`` calls.
Baseline: the same metrics computed with scikit-learn / imbalanced-learn for each run, written
economically (one call per class-wise array, averages derived with NumPy where scikit-learn's
averages are plain means), timed on ``--sklearn-runs`` runs (default 20) and extrapolated
per run. The JAX results of those runs are checked against the baseline (max abs difference).

    python scripts/bench_metrics.py [--runs 400] [--examples 10000] [--classes 10] [--chunk N]

The last line printed is a JSON record: runs, jax_seconds, jax_compile_seconds,
sklearn_seconds_per_run, speedup (sklearn seconds for all runs / jax seconds).
"""
from __future__ import annotations

import argparse
import functools
import json
import time
import warnings

import jax
import numpy as np
from imblearn import metrics as imb
from sklearn import metrics as skm

from imbjax import runtime
from imbjax.metrics.suite import compute_all_program, default_chunk, runs_sharding


def make_predictions(runs: int, examples: int, classes: int, seed: int = 0):
    """``y_true: int32[runs, examples]`` and ``probs: float32[runs, examples, classes]``."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, classes, (runs, examples)).astype(np.int32)
    logits = rng.normal(size=(runs, examples, classes)).astype(np.float32)
    logits += rng.uniform(0.5, 2.0, (runs, 1, 1)).astype(np.float32) * np.eye(classes, dtype=np.float32)[y_true]
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs = np.round(probs / probs.sum(axis=-1, keepdims=True), 3).astype(np.float32)
    return y_true, probs


def ece(y_true, probs, num_bins: int = 15) -> float:
    """Top-label ECE with ``(lo, hi]`` equal-width bins (no scikit-learn twin), in NumPy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    gaps = np.bincount(bins, weights=correct - confidence, minlength=num_bins)
    return float(np.abs(gaps).sum() / len(y_true))


def sklearn_compute_all(y_true, probs, classes: int) -> dict:
    """The metrics of ``compute_all`` with scikit-learn / imbalanced-learn for one run."""
    labels = list(range(classes))
    y_pred = probs.argmax(axis=1)
    one_hot = np.eye(classes)[y_true]
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    sensitivity, specificity, _ = imb.sensitivity_specificity_support(y_true, y_pred, labels=labels)
    npv = np.array([skm.precision_score(y_true != k, y_pred != k, zero_division=0) for k in labels])
    iba = (1 + 0.1 * (sensitivity - specificity)) * sensitivity * specificity
    auc = np.array([skm.roc_auc_score(one_hot[:, k], probs[:, k]) for k in labels])
    ap = skm.average_precision_score(one_hot, probs, average=None)
    weighted = functools.partial(np.average, weights=support)
    accuracy = skm.accuracy_score(y_true, y_pred)
    return {
        "accuracy": accuracy, "error_rate": 1 - accuracy,
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "macro_precision": precision.mean(), "macro_recall": recall.mean(),
        "macro_specificity": specificity.mean(), "macro_npv": npv.mean(), "macro_f1": f1.mean(),
        "weighted_precision": weighted(precision), "weighted_recall": weighted(recall),
        "weighted_f1": weighted(f1), "micro_f1": skm.f1_score(y_true, y_pred, average="micro"),
        "g_mean": imb.geometric_mean_score(y_true, y_pred, labels=labels),
        "g_mean_macro": imb.geometric_mean_score(y_true, y_pred, labels=labels, average="macro"),
        "macro_iba": iba.mean(), "min_class_recall": recall.min(),
        "ovr_roc_auc": auc.mean(), "ovr_roc_auc_weighted": weighted(auc),
        "ovr_average_precision": ap.mean(), "ovr_average_precision_weighted": weighted(ap),
        "brier": skm.brier_score_loss(y_true, probs, labels=labels),
        "log_loss": skm.log_loss(y_true, probs, labels=labels), "ece": ece(y_true, probs),
        "support_per_class": support, "precision_per_class": precision, "recall_per_class": recall,
        "specificity_per_class": specificity, "npv_per_class": npv, "f1_per_class": f1,
        "g_mean_per_class": np.sqrt(sensitivity * specificity), "iba_per_class": iba,
        "roc_auc_per_class": auc, "average_precision_per_class": ap,
    }


def time_compute_all(y_true, probs, args, devices):
    """``(compile seconds, best run seconds, results)`` of ``compute_all`` over every run:
    ``imbjax.metrics.compute_all_program``, the program of ``compute_all_runs`` (the run axis
    sharded over ``devices`` as the sweep engine shards runs; within a device ``lax.map`` vmaps
    ``--chunk`` runs at a time)."""
    chunk = args.chunk or default_chunk(devices[0].platform)
    program = compute_all_program(args.classes, chunk, tuple(devices))
    inputs = jax.device_put((y_true, probs), runs_sharding(tuple(devices)))
    start = time.perf_counter()
    compiled = program.lower(*inputs).compile()
    compile_seconds = time.perf_counter() - start
    best = np.inf
    for _ in range(args.repeats):
        start = time.perf_counter()
        results = jax.block_until_ready(compiled(*inputs))
        best = min(best, time.perf_counter() - start)
    return compile_seconds, best, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=None,
                        help="runs a device scores together (default: compute_all_runs' for the platform)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sklearn-runs", type=int, default=20)
    args = parser.parse_args()
    runtime.configure(cache=False)  # one CPU device per core, as `imbjax run` does

    y_true, probs = make_predictions(args.runs, args.examples, args.classes)
    devices = jax.local_devices()
    print(f"{args.runs} runs x {args.examples} examples x {args.classes} classes on "
          f"{len(devices)} {devices[0].platform} device(s)")
    timings = {count: time_compute_all(y_true, probs, args, devices[:count])
               for count in sorted({1, len(devices)})}
    for count, (compile_seconds, jax_seconds, _) in timings.items():
        print(f"JAX on {count} device(s): compile {compile_seconds:.2f} s, run {jax_seconds:.3f} s "
              f"(best of {args.repeats})")
    compile_seconds, jax_seconds, results = timings[len(devices)]

    sklearn_runs = min(args.sklearn_runs, args.runs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        reference = [sklearn_compute_all(y_true[r], probs[r], args.classes) for r in range(sklearn_runs)]
        sklearn_per_run = (time.perf_counter() - start) / sklearn_runs
    max_difference = max(float(np.max(np.abs(np.asarray(results[key][r]) - value)))
                         for r, run in enumerate(reference) for key, value in run.items())
    print(f"scikit-learn/imblearn: {sklearn_per_run:.3f} s per run (timed on {sklearn_runs} runs, "
          f"extrapolated to {args.runs}: {sklearn_per_run * args.runs:.1f} s); "
          f"max |JAX - sklearn| over those runs: {max_difference:.2e}")
    sklearn_seconds = sklearn_per_run * args.runs
    speedups = {count: sklearn_seconds / seconds for count, (_, seconds, _) in timings.items()}
    for count, speedup in speedups.items():
        print(f"speedup on {count} device(s) (run time, compile excluded): {speedup:.1f}x; including compile: "
              f"{sklearn_seconds / (timings[count][1] + timings[count][0]):.1f}x")
    print(json.dumps({"runs": args.runs, "examples": args.examples, "classes": args.classes,
                      "platform": devices[0].platform, "devices": len(devices),
                      "jax_seconds": round(jax_seconds, 4), "jax_compile_seconds": round(compile_seconds, 3),
                      "jax_seconds_one_device": round(timings[1][1], 4),
                      "sklearn_seconds_per_run": round(sklearn_per_run, 5),
                      "speedup": round(speedups[len(devices)], 2), "speedup_one_device": round(speedups[1], 2)}))


if __name__ == "__main__":
    main()
