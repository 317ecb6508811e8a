"""The floor: the smallest JAX program of each PyTorch-compared workload, without imbjax's engine.

What any JAX implementation of a benchmark workload must compile and run, and nothing more: the
Flax model's initialisation, ``steps`` Adam steps on batches drawn uniformly from the training pool
in one ``lax.scan``, and the test-set accuracy. No imbalance subset, no sampling weights, no method
registry, no metric beyond accuracy, no saved programs; the same model, data, batch, steps, learning
rate, runs and device layout as the workload (``benchlib.WORKLOADS``; the layout the sweep runner's
``--layout auto`` picks: ``vmap`` for the MLP, one run per device per call of a ``shard_map``-ped
program for the convolutional models on CPU). Its seconds bound what imbjax's engine can reach on
the machine: ``bench_sweep.py`` (``mlp``) and ``bench_cnn.py`` (``lenet5``, ``mnist1d_cnn``) time it
cold and warm next to imbjax and the PyTorch peers, in the same invocation.

    python scripts/jax_floor.py mlp|lenet5|mnist1d_cnn [--runs N] [--steps N] [--devices N]   # JSON line
"""
from __future__ import annotations

import argparse
import time

from benchlib import WORKLOADS, check_workload, load_dataset, print_json

FLOOR_WORKLOADS = ("mlp", "lenet5", "mnist1d_cnn")


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


def measure_floor(name: str, runs: int | None = None, steps: int | None = None) -> dict:
    """One measurement of floor workload ``name`` (``runs`` and ``steps`` default to the
    workload's) in this process, after ``runtime.configure``: seconds end to end (data to device,
    tracing, compilation, training, accuracies to host)."""
    import jax
    import numpy as np
    import optax
    from jax.sharding import NamedSharding, PartitionSpec

    from imbjax import models
    from imbjax.sweep.runner import RUN_AXIS, mesh_layout, run_mesh

    check_workload(name, FLOOR_WORKLOADS)
    workload = WORKLOADS[name].scaled(runs, steps)
    runs, steps = workload.runs, workload.steps
    dataset = load_dataset(workload)
    model = models.make_model(workload.model, dataset.num_classes, **dict(workload.model_kwargs))
    run = floor_run(model, optax.adam(workload.learning_rate), steps, workload.batch_size)
    start = time.perf_counter()
    mesh = run_mesh()
    layout = mesh_layout("auto", workload.model, mesh)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=FLOOR_WORKLOADS)
    parser.add_argument("--runs", type=int, default=None, help="default: the workload's")
    parser.add_argument("--steps", type=int, default=None, help="default: the workload's")
    parser.add_argument("--devices", type=int, default=None, help="CPU devices (default: one per core)")
    args = parser.parse_args()
    from imbjax import runtime

    runtime.configure(cpu_devices=args.devices)
    print_json(measure_floor(args.workload, args.runs, args.steps))


if __name__ == "__main__":
    main()
