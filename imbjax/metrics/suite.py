"""``compute_all``: every metric of a run's test predictions in one jit/vmap-able call.

The key names are stable: the training engine returns them and ``runs.csv`` uses them as columns.
Predictions are ``argmax(probs)`` (first class on ties). The engine applies threshold moving
(Buda et al. 2018) to ``probs`` itself before calling this.

``compute_all_runs`` scores a stack of runs' saved predictions in one compiled call, sharded over
the local devices (what a research script evaluating many runs needs, and the workload of
``scripts/bench_metrics.py``).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from imbjax.metrics import calibration, confusion, ranking
from imbjax.metrics._validation import (
    check_labels, check_num_classes, check_probabilities, check_scored_examples,
)
from imbjax.run_axis import RUN_AXIS, pad_runs

#: Scalar keys of ``compute_all``.
SCALAR_KEYS = (
    "accuracy", "error_rate", "balanced_accuracy",
    "macro_precision", "macro_recall", "macro_specificity", "macro_npv", "macro_f1",
    "weighted_precision", "weighted_recall", "weighted_f1", "micro_f1",
    "g_mean", "g_mean_macro", "macro_iba", "min_class_recall",
    "ovr_roc_auc", "ovr_roc_auc_weighted", "ovr_average_precision", "ovr_average_precision_weighted",
    "brier", "log_loss", "ece",
)
#: XLA options of the compiled ``compute_all_runs`` program per platform. On CPU, XLA's classic
#: (non-MLIR) fusion emitters compile and run it faster, with equal results; training programs keep
#: XLA's defaults, which train faster (docs/performance.md has the numbers).
COMPILER_OPTIONS = {"cpu": {"xla_cpu_use_fusion_emitters": False}}
#: Runs a device scores at once in ``compute_all_runs``, by platform (others: 64, so that an
#: accelerator has work to batch; not measured here). On CPU one at a time was fastest (a run's sort
#: keys stay in cache; ``scripts/bench_metrics.py``).
DEFAULT_CHUNK = {"cpu": 1}
#: Chunks each device scores per call of ``compute_all_runs``' compiled program: a stack of runs is
#: scored in blocks of ``devices x chunk x CHUNKS_PER_CALL`` runs (the last one padded), so one compiled
#: program serves every stack of a test set, whatever its number of runs (the sweep runner scores each
#: part of every group of a data set with it).
CHUNKS_PER_CALL = 16
#: Class-wise keys of ``compute_all``, each ``[num_classes]``.
PER_CLASS_KEYS = (
    "support_per_class", "precision_per_class", "recall_per_class", "specificity_per_class",
    "npv_per_class", "f1_per_class", "g_mean_per_class", "iba_per_class",
    "roc_auc_per_class", "average_precision_per_class",
)


def compute_all(y_true: jax.Array, probs: jax.Array, *, num_classes: int) -> dict[str, jax.Array]:
    """All metrics of ``probs`` against ``y_true``; ``jax.jit`` with static ``num_classes``, vmap-able.

    Args:
      y_true: ``int[n]`` class indices in ``[0, num_classes)``, ``n >= 1``.
      probs: ``float[n, num_classes]`` class probabilities (rows sum to 1).
      num_classes: static int.

    Raises:
      ValueError: for shapes that do not fit, and for concrete (not traced) inputs with float
        labels, labels outside ``[0, num_classes)``, probabilities that are not finite or outside
        [0, 1], or rows that do not sum to 1 within ``ROW_SUM_TOLERANCE`` (1e-3); each message names
        the first bad value. Under ``jit``/``vmap`` the values are not checked.

    Returns:
      ``dict`` of ``float32[]`` scalars (``SCALAR_KEYS``) and ``[num_classes]`` arrays
      (``PER_CLASS_KEYS``; ``support_per_class`` is ``int32``). Conventions (see the modules):

      * ``accuracy``, ``error_rate``; ``balanced_accuracy`` (mean recall over classes present in
        ``y_true``, scikit-learn); ``min_class_recall`` (min over all classes, absent ones count 0).
      * ``macro_*``/``weighted_*``/``micro_f1``: scikit-learn averages over ``range(num_classes)`` with
        ``zero_division=0``.
      * ``g_mean``: imbalanced-learn's default (geometric mean of the class recalls);
        ``g_mean_macro``: imbalanced-learn's ``average="macro"``, sqrt(mean sensitivity * mean
        specificity); ``g_mean_per_class``: one-vs-rest sqrt(sensitivity * specificity);
        ``iba_per_class``/``macro_iba``: index balanced accuracy (alpha 0.1, squared G-mean).
      * ``ovr_roc_auc`` (macro; NaN if a class is absent from ``y_true``), ``ovr_roc_auc_weighted``,
        ``ovr_average_precision`` (macro), ``ovr_average_precision_weighted``: exact, ties as scikit-learn.
      * ``brier`` (scikit-learn's ``brier_score_loss``), ``log_loss`` (clipped at float32 eps),
        ``ece`` (top-label, 15 equal-width bins).
    """
    num_classes = check_num_classes(num_classes)
    check_probabilities("probs", probs, num_classes)
    check_scored_examples(y_true, probs)
    check_labels("y_true", y_true, num_classes)
    y_true = jnp.asarray(y_true, jnp.int32)
    probs = jnp.asarray(probs, jnp.float32)
    y_pred = jnp.argmax(probs, axis=1)

    counts = confusion.class_counts(y_true, y_pred, num_classes=num_classes)
    support = counts.support
    precision = confusion.safe_divide(counts.tp, counts.predicted)
    recall = confusion.safe_divide(counts.tp, support)
    specificity = confusion.safe_divide(counts.tn, counts.tn + counts.fp)
    npv = confusion.safe_divide(counts.tn, counts.tn + counts.fn)
    f1 = confusion.f_beta_from_counts(counts, 1.0, average=None)
    iba = confusion.index_balanced_accuracy_from_counts(counts)

    ranked = ranking.ovr_rankings(y_true, probs, num_classes=num_classes)
    roc_auc = jax.vmap(ranking.roc_auc_from_ranking)(ranked)
    average_precision = jax.vmap(ranking.average_precision_from_ranking)(ranked)

    def averaged(scores, average):
        return confusion.average_scores(scores, support, average)

    accuracy = confusion.accuracy(y_true, y_pred)
    return {
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "balanced_accuracy": confusion.balanced_accuracy_from_counts(counts),
        "macro_precision": averaged(precision, "macro"),
        "macro_recall": averaged(recall, "macro"),
        "macro_specificity": averaged(specificity, "macro"),
        "macro_npv": averaged(npv, "macro"),
        "macro_f1": averaged(f1, "macro"),
        "weighted_precision": averaged(precision, "weighted"),
        "weighted_recall": averaged(recall, "weighted"),
        "weighted_f1": averaged(f1, "weighted"),
        "micro_f1": confusion.f_beta_from_counts(counts, 1.0, average="micro"),
        "g_mean": confusion.g_mean_from_counts(counts, average="multiclass"),
        "g_mean_macro": confusion.g_mean_from_counts(counts, average="macro"),
        "macro_iba": averaged(iba, "macro"),
        "min_class_recall": jnp.min(recall),
        "ovr_roc_auc": ranking.average_ovr(roc_auc, support, "macro"),
        "ovr_roc_auc_weighted": ranking.average_ovr(roc_auc, support, "weighted"),
        "ovr_average_precision": ranking.average_ovr(average_precision, support, "macro"),
        "ovr_average_precision_weighted": ranking.average_ovr(average_precision, support, "weighted"),
        "brier": calibration.brier_score(y_true, probs),
        "log_loss": calibration.log_loss(y_true, probs),
        "ece": calibration.expected_calibration_error(y_true, probs),
        "support_per_class": support,
        "precision_per_class": precision,
        "recall_per_class": recall,
        "specificity_per_class": specificity,
        "npv_per_class": npv,
        "f1_per_class": f1,
        "g_mean_per_class": jnp.sqrt(recall * specificity),
        "iba_per_class": iba,
        "roc_auc_per_class": roc_auc,
        "average_precision_per_class": average_precision,
    }


def default_chunk(platform: str) -> int:
    """Runs a device of ``platform`` scores at once by default (:data:`DEFAULT_CHUNK`)."""
    return DEFAULT_CHUNK.get(platform, 64)


@functools.lru_cache(maxsize=None)
def compute_all_program(num_classes: int, chunk: int, devices: tuple) -> jax.stages.Wrapped:
    """The jitted ``(y_true int[runs, n], probs float[runs, n, C]) -> {name: [runs, ...]}`` of
    :func:`compute_all_runs`: the run axis sharded over ``devices`` (its length a multiple of their
    number), each device scoring its runs ``chunk`` at a time (``lax.map``: vmapped within a chunk,
    which bounds the memory of the sort keys)."""
    def per_device(y_true, probs):
        return jax.lax.map(lambda run: compute_all(*run, num_classes=num_classes), (y_true, probs),
                           batch_size=chunk)

    runs = runs_sharding(devices)
    return jax.jit(jax.shard_map(per_device, mesh=runs.mesh, in_specs=runs.spec, out_specs=runs.spec),
                   compiler_options=COMPILER_OPTIONS.get(devices[0].platform))


def runs_sharding(devices: tuple) -> NamedSharding:
    """A leading run axis split over ``devices``."""
    return NamedSharding(Mesh(np.array(devices), (RUN_AXIS,)), PartitionSpec(RUN_AXIS))


def runs_per_call(devices: tuple, chunk: int) -> int:
    """Runs one call of ``compute_all_runs``' compiled program scores (:data:`CHUNKS_PER_CALL`)."""
    return len(devices) * chunk * CHUNKS_PER_CALL


def compute_all_runs(y_true, probs, *, num_classes: int, chunk: int | None = None, devices=None,
                     compile_program: Callable[[jax.stages.Wrapped, tuple], Callable] | None = None,
                     ) -> dict[str, np.ndarray]:
    """:func:`compute_all` of every run of a stack, by one compiled program: ``{name: np.ndarray[runs, ...]}``.

    Args:
      y_true: ``int[n]`` (one test set for every run) or ``int[runs, n]``.
      probs: ``float[runs, n, num_classes]``.
      num_classes: static int.
      chunk: runs a device scores together (vmapped), their sort keys taking
        ``chunk * n * num_classes * 4`` bytes; default :data:`DEFAULT_CHUNK` of the platform.
      devices: the devices to shard the runs over (default: every local device).
      compile_program: ``(jitted program, its arguments) -> callable``, how the program is compiled
        (default: ``jax.jit``'s own cache); the sweep runner passes one that keeps the program traced
        across processes.

    The same values as ``jax.vmap(compute_all)`` (up to float32 reduction order). Runs are scored in
    blocks of :data:`CHUNKS_PER_CALL` chunks per device, the last block padded by repeating its first
    run; the padding is dropped.
    """
    num_classes = check_num_classes(num_classes)
    probs = np.asarray(probs, np.float32)
    if probs.ndim != 3 or probs.shape[2] != num_classes or probs.shape[0] == 0:
        raise ValueError(f"probs must have shape [runs, n, {num_classes}] with runs >= 1, got {probs.shape}")
    num_runs, n = probs.shape[:2]
    y_true = np.asarray(y_true, np.int32)
    if y_true.shape == (n,):
        y_true = np.broadcast_to(y_true, (num_runs, n))
    if y_true.shape != (num_runs, n):
        raise ValueError(f"y_true must have shape [{n}] or [{num_runs}, {n}] for probs {probs.shape}, "
                         f"got {y_true.shape}")
    check_labels("y_true", y_true.reshape(-1), num_classes)
    devices = tuple(devices or jax.local_devices())
    chunk = default_chunk(devices[0].platform) if chunk is None else chunk
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    program = compute_all_program(num_classes, int(chunk), devices)
    block = runs_per_call(devices, int(chunk))
    scored = []
    for start in range(0, num_runs, block):
        part = slice(start, start + block)
        args = jax.device_put((pad_runs(y_true[part], block), pad_runs(probs[part], block)), runs_sharding(devices))
        call = program if compile_program is None else compile_program(program, args)
        scored.append(jax.device_get(call(*args)))
    return {name: np.concatenate([block_scores[name] for block_scores in scored])[:num_runs] for name in scored[0]}
