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

    python scripts/bench_metrics.py [--runs 400] [--examples 10000] [--classes 10] [--chunk N] [--rounds 5]

``--rounds N`` repeats the timings (JAX then scikit-learn, each round) and reports medians: the
scikit-learn loop's speed alone varies by 30% from minute to minute on the shared machines here.
The last line printed is a JSON record: runs, jax_seconds, jax_compile_seconds, sklearn_seconds
(for all runs), speedup (sklearn seconds / jax seconds, median over rounds) and the per-round speedups.
"""
from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
import warnings

import jax
import numpy as np
from benchlib import best_seconds
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


def compiled_compute_all(y_true, probs, args, devices):
    """``(compile seconds, compiled program, sharded inputs)``: ``imbjax.metrics.compute_all_program``,
    the program of ``compute_all_runs`` (the run axis sharded over ``devices`` as the sweep engine
    shards runs; within a device ``lax.map`` scores ``--chunk`` runs at a time)."""
    chunk = args.chunk or default_chunk(devices[0].platform)
    program = compute_all_program(args.classes, chunk, tuple(devices))
    inputs = jax.device_put((y_true, probs), runs_sharding(tuple(devices)))
    start = time.perf_counter()
    compiled = program.lower(*inputs).compile()
    return time.perf_counter() - start, compiled, inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=None,
                        help="runs a device scores together (default: compute_all_runs' for the platform)")
    parser.add_argument("--repeats", type=int, default=3, help="JAX calls per round; the fastest counts")
    parser.add_argument("--sklearn-runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of (JAX, scikit-learn) timings; medians are reported")
    args = parser.parse_args()
    runtime.configure(cache=False)  # one CPU device per core, as `imbjax run` does

    y_true, probs = make_predictions(args.runs, args.examples, args.classes)
    devices = jax.local_devices()
    print(f"{args.runs} runs x {args.examples} examples x {args.classes} classes on "
          f"{len(devices)} {devices[0].platform} device(s)")
    counts = sorted({1, len(devices)})
    programs = {count: compiled_compute_all(y_true, probs, args, devices[:count]) for count in counts}
    results = jax.device_get(programs[len(devices)][1](*programs[len(devices)][2]))
    sklearn_runs = min(args.sklearn_runs, args.runs)
    rounds = []
    for _ in range(args.rounds):
        jax_seconds = {count: best_seconds(lambda c=compiled, i=inputs: jax.block_until_ready(c(*i)), args.repeats)
                       for count, (_, compiled, inputs) in programs.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            reference = [sklearn_compute_all(y_true[r], probs[r], args.classes) for r in range(sklearn_runs)]
            sklearn_seconds = (time.perf_counter() - start) / sklearn_runs * args.runs
        rounds.append({"jax": jax_seconds, "sklearn": sklearn_seconds,
                       "speedup": {count: sklearn_seconds / seconds for count, seconds in jax_seconds.items()}})
        print(f"round {len(rounds)}: " + ", ".join(f"JAX on {count} device(s) {seconds:.3f} s"
                                                     for count, seconds in jax_seconds.items())
              + f"; scikit-learn {sklearn_seconds:.1f} s (timed on {sklearn_runs} runs, extrapolated)"
              + "; speedup " + ", ".join(f"{s:.1f}x" for s in rounds[-1]["speedup"].values()), flush=True)
    max_difference = max(float(np.max(np.abs(np.asarray(results[key][r]) - value)))
                         for r, run in enumerate(reference) for key, value in run.items())
    median = {count: statistics.median(r["speedup"][count] for r in rounds) for count in counts}
    jax_median = {count: statistics.median(r["jax"][count] for r in rounds) for count in counts}
    for count in counts:
        print(f"JAX on {count} device(s): compile {programs[count][0]:.2f} s, run {jax_median[count]:.3f} s; "
              f"speedup (compile excluded) {median[count]:.1f}x [median of {args.rounds} round(s)]")
    print(f"max |JAX - scikit-learn| over the {sklearn_runs} checked runs: {max_difference:.2e}")
    print(json.dumps({"runs": args.runs, "examples": args.examples, "classes": args.classes,
                      "platform": devices[0].platform, "devices": len(devices), "rounds": args.rounds,
                      "jax_seconds": round(jax_median[len(devices)], 4),
                      "jax_compile_seconds": round(programs[len(devices)][0], 3),
                      "jax_seconds_one_device": round(jax_median[1], 4),
                      "sklearn_seconds": round(statistics.median(r["sklearn"] for r in rounds), 2),
                      "speedup": round(median[len(devices)], 2), "speedup_one_device": round(median[1], 2),
                      "speedups": [round(r["speedup"][len(devices)], 2) for r in rounds],
                      "max_difference": max_difference}))


if __name__ == "__main__":
    main()
