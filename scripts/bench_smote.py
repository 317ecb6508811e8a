"""SMOTE at MNIST scale (issue 5): a 60,000 x 784 pool of 10 classes of 6,000, and a training
subset (mask) that keeps 600 examples of each of the 5 minority classes (step imbalance, rho 10).

Every class is over-sampled to the majority size (6,000): 27,000 synthetic points, one exact
k-NN query (k = 5) per point in ``[chunk_size, M]`` distance blocks, so memory stays bounded.
Two settings of :func:`imbjax.sampling.smote.smote`, in this process:

* ``M = N``: every query scans the whole pool (no bound given);
* ``M = max_candidates = 3,000``: the 3,000 examples of the over-sampled classes are gathered
  first and each query scans only them (same points for the same key).

It prints compile and run seconds for each, checks that both give the same points, and reports
the process's peak resident memory. The last line is JSON.

    python scripts/bench_smote.py [--pool 60000] [--features 784] [--minority-size 600]
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from imbjax.sampling.smote import smote


def make_pool(pool: int, features: int, minority_size: int, seed: int = 0):
    """``(x float32[pool, features], labels int32[pool], mask bool[pool], targets int32[10])``:
    ten equal classes; the mask keeps every example of classes 0-4 and the first
    ``minority_size`` of classes 5-9; targets balance every class at the class size."""
    rng = np.random.default_rng(seed)
    class_size = pool // 10
    labels = np.repeat(np.arange(10), class_size).astype(np.int32)
    mask = (labels < 5) | (np.arange(len(labels)) % class_size < minority_size)
    x = rng.random((len(labels), features), dtype=np.float32)
    return x, labels, mask, np.full(10, class_size, np.int32)


def timed_smote(x, labels, mask, targets, max_new: int, max_candidates: int | None):
    """``(compile seconds, run seconds, SyntheticSamples)``."""
    function = jax.jit(lambda key, x, labels, mask, targets: smote(
        key, x, labels, mask, targets, max_new=max_new, k_neighbors=5, max_candidates=max_candidates))
    args = (jax.random.key(0), x, labels, mask, targets)
    start = time.perf_counter()
    compiled = function.lower(*args).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    samples = jax.block_until_ready(compiled(*args))
    return compile_seconds, time.perf_counter() - start, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=60_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--minority-size", type=int, default=600)
    args = parser.parse_args()

    x, labels, mask, targets = make_pool(args.pool, args.features, args.minority_size)
    counts = np.bincount(labels[mask], minlength=10)
    max_new = int(np.sum(targets - counts))
    candidates = int(5 * args.minority_size)
    x, labels, mask, targets = jax.device_put((x, labels, mask, targets))
    results = {}
    for name, bound in (("scan_pool", None), ("gathered_candidates", candidates)):
        compile_seconds, run_seconds, samples = timed_smote(x, labels, mask, targets, max_new, bound)
        results[name] = (compile_seconds, run_seconds, samples)
        print(f"{name:20s} (M = {bound or args.pool}): compile {compile_seconds:.1f} s, run {run_seconds:.1f} s, "
              f"{int(samples.valid.sum())} points")
    same = bool(jnp.array_equal(results["scan_pool"][2].points, results["gathered_candidates"][2].points))
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"same points both ways: {same}; peak resident memory {peak_gib:.2f} GiB "
          f"(the pool alone is {args.pool * args.features * 4 / 2**30:.2f} GiB)")
    print(json.dumps({"pool": args.pool, "features": args.features, "new_points": max_new,
                      **{f"{name}_{part}": round(results[name][i], 2) for name in results
                         for i, part in enumerate(("compile_seconds", "seconds"))},
                      "same_points": same, "peak_rss_gib": round(peak_gib, 2)}))


if __name__ == "__main__":
    main()
