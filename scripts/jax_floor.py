"""The floor: the smallest JAX program of each PyTorch-compared workload, without imbjax's engine.

What any JAX implementation of a benchmark workload must compile and run, and nothing more: the
Flax model's initialisation, ``steps`` Adam steps on uniformly drawn batches in one ``lax.scan``,
and the test-set accuracy. No imbalance subset, no sampling weights, no method registry, no
metric beyond accuracy, no saved programs; the same model sizes, batch, steps, optimizer, runs
and device layout as the workload. Its seconds bound what imbjax's engine can reach on the
machine: ``bench_sweep.py`` (workload ``mlp``) and ``bench_cnn.py`` (workload ``lenet5``) time it
cold and warm next to imbjax and the PyTorch loop, in the same invocation.

* ``mlp``: digits (imbjax's train/test split), imbjax's MLP 64-128-128-10, 40 runs ``jit(vmap(run))``
  with the run axis sharded over every CPU device, 300 steps of batch 64;
* ``lenet5``: 6,000 random 28x28 images, LeNet-5 as imbjax builds it (convolutions as patches x
  matmul on CPU, the fastest formulation measured), 8 runs of 100 steps, one run per device per
  call of one ``shard_map``-ped program, as imbjax's ``single`` layout.

    python scripts/jax_floor.py mlp|lenet5 [--runs N] [--steps N] [--devices N]   # JSON line
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

FLOOR_WORKLOADS = ("mlp", "lenet5")
FLOOR_TIMINGS = ("seconds", "compile_seconds", "run_seconds")


def floor_run(model, optimizer, steps: int, batch_size: int):
    """``run(key, x, y, x_test, y_test) -> accuracy``: init, ``steps`` Adam steps, test accuracy."""
    import jax
    import optax

    def loss(params, x, y):
        logits, _ = model.apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def run(key, x, y, x_test, y_test):
        init_key, steps_key = jax.random.split(key)
        params = model.init(init_key, x[:1])

        def step(carry, batch_key):
            params, opt_state = carry
            index = jax.random.randint(batch_key, (batch_size,), 0, x.shape[0])
            grads = jax.grad(loss)(params, x[index], y[index])
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), jax.random.split(steps_key, steps))
        logits, _ = model.apply(params, x_test)
        return (logits.argmax(-1) == y_test).mean()

    return run


def workload_parts(name: str, runs: int | None, steps: int | None):
    """``(model, dataset, runs, steps, layout)`` of floor workload ``name``."""
    from imbjax import data, models

    if name == "mlp":
        return models.MLP(10, hidden=(128, 128)), data.load("digits"), runs or 40, steps or 300, "vmap"
    if name == "lenet5":
        from bench_cnn import WORKLOADS, random_dataset

        workload = WORKLOADS["lenet5"]
        return models.LeNet5(10), random_dataset(workload), runs or workload.runs, steps or workload.steps, "single"
    raise ValueError(f"unknown floor workload {name!r}; choose one of {list(FLOOR_WORKLOADS)}")


def measure_floor(name: str, runs: int | None = None, steps: int | None = None, batch_size: int = 64) -> dict:
    """One measurement of floor workload ``name`` in this process (after ``runtime.configure``):
    seconds end to end (data to device, tracing, compilation, training, accuracies to host)."""
    import jax
    import numpy as np
    import optax
    from jax.sharding import NamedSharding, PartitionSpec

    from imbjax.sweep.runner import RUN_AXIS, run_mesh

    model, dataset, runs, steps, layout = workload_parts(name, runs, steps)
    run = floor_run(model, optax.adam(1e-3), steps, batch_size)
    start = time.perf_counter()
    mesh = run_mesh()
    shared, per_run = NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec(RUN_AXIS))
    arrays = jax.device_put((dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test), shared)
    keys = np.stack([np.asarray(jax.random.PRNGKey(seed)) for seed in range(runs)])
    width = runs if layout == "vmap" else mesh.size
    calls = [jax.device_put(keys[i:i + width], per_run) for i in range(0, runs, width)]
    if layout == "vmap":
        program = jax.jit(jax.vmap(run, in_axes=(0, None, None, None, None)), out_shardings=per_run)
    else:
        def one_run_per_device(device_keys, *arrays):
            return run(device_keys[0], *arrays)[None]

        program = jax.jit(jax.shard_map(one_run_per_device, mesh=mesh, in_specs=(PartitionSpec(RUN_AXIS),)
                                        + (PartitionSpec(),) * 4, out_specs=PartitionSpec(RUN_AXIS)))
    compile_start = time.perf_counter()
    compiled = program.lower(calls[0], *arrays).compile()
    compile_seconds = time.perf_counter() - compile_start
    accuracy = np.concatenate(jax.device_get([compiled(call, *arrays) for call in calls]))
    seconds = time.perf_counter() - start
    return {"workload": name, "runs": runs, "steps": steps, "layout": layout, "devices": mesh.size,
            "seconds": seconds, "compile_seconds": compile_seconds, "run_seconds": seconds - compile_seconds,
            "mean_accuracy": float(accuracy.mean())}


def floor_command(name: str, devices: int | None = None) -> list[str]:
    """The command measuring floor workload ``name`` once, in a fresh process (JSON last)."""
    return [sys.executable, str(Path(__file__).resolve()), name] + (["--devices", str(devices)] if devices else [])


def floor_summary(cold: list[dict], warm: list[dict], torch_seconds: float | None) -> dict:
    """Medians of the cold and warm floor measurements, as ``floor_*`` and ``warm_floor_*``, and
    with ``torch_seconds`` the ratios torch / floor: cold, warm, and of the run alone (training and
    test-set pass, without compilation)."""
    summary = {}
    for prefix, rows in (("floor_", cold), ("warm_floor_", warm)):
        summary.update({prefix + key: statistics.median(row[key] for row in rows) for key in FLOOR_TIMINGS})
    if torch_seconds:
        summary.update(floor_speedup_cold=torch_seconds / summary["floor_seconds"],
                       floor_speedup_warm=torch_seconds / summary["warm_floor_seconds"],
                       floor_speedup_run=torch_seconds / summary["floor_run_seconds"])
    return summary


def describe_floor(summary: dict) -> str:
    """One line of :func:`floor_summary`."""
    line = (f"floor (minimal JAX program, scripts/jax_floor.py): cold {summary['floor_seconds']:.2f} s "
            f"(compile {summary['floor_compile_seconds']:.2f} s, run {summary['floor_run_seconds']:.2f} s), "
            f"warm {summary['warm_floor_seconds']:.2f} s")
    if "floor_speedup_cold" in summary:
        line += (f"; torch loop / floor: {summary['floor_speedup_cold']:.1f}x cold, "
                 f"{summary['floor_speedup_warm']:.1f}x warm, {summary['floor_speedup_run']:.1f}x its run alone")
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=FLOOR_WORKLOADS)
    parser.add_argument("--runs", type=int, default=None, help="default: the workload's")
    parser.add_argument("--steps", type=int, default=None, help="default: the workload's")
    parser.add_argument("--devices", type=int, default=None, help="CPU devices (default: one per core)")
    args = parser.parse_args()
    from imbjax import runtime

    runtime.configure(cpu_devices=args.devices)
    print(json.dumps(measure_floor(args.workload, args.runs, args.steps)))


if __name__ == "__main__":
    main()
