"""The MLP workload's matrix products on one core: XLA:CPU's batched dot against PyTorch's ``bmm``.

Each training step of the MLP workload (``benchlib.WORKLOADS["mlp"]``: 64-128-128-10, batch 64) runs
eight matrix products per run, vmapped over the runs a device trains at once (``--runs-per-device``,
7: the sweep runner trains the 40 runs on 2 devices in parts of 14, as ``imbjax run --dry-run`` shows a
group's width): for each layer ``i -> o`` the forward product
``x[r, b, i] w[r, i, o]``, the weight gradient ``x[r, b, i] dy[r, b, o]`` (contracting the batch) and,
past the first layer, the input gradient ``dy[r, b, o] w[r, i, o]`` (contracting ``o``); the
dimension numbers are those ``jax.grad`` gives XLA (the PyTorch side: ``bmm`` of the transposes
autograd uses). Each library times every product on one core (the process pinned to it; one CPU
device for XLA, one thread for PyTorch) as ``--calls`` calls after a warm-up, best of ``--repeat``.

Printed: GFLOP/s per product for both, and the seconds the workload's products (``--runs`` runs x
``--steps`` steps) take at each library's rates on ``--cores`` cores: how fast any XLA program of
the workload can train on this CPU, against the products PyTorch's peers call.

    python scripts/bench_gemm.py [--runs-per-device 7] [--calls 300] [--repeat 3] [--no-torch]

The last line is JSON: ``products`` (name, shape, flops, ``xla_gflops``, ``torch_gflops``),
``xla_workload_seconds``, ``torch_workload_seconds`` (null without torch) and the ratio
``torch_over_xla_rate``.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys

from benchlib import WORKLOADS, best_seconds, print_json, run_child, torch_available

LIBRARIES = ("xla", "torch")
#: Each product's ``bmm`` in PyTorch: which operand autograd passes transposed (a view, no copy).
TORCH_TRANSPOSES = {"rbi,rio->rbo": (False, False), "rbi,rbo->rio": (True, False), "rbo,rio->rbi": (False, True)}


def products(runs: int, batch: int, widths: tuple[int, ...]) -> list[dict]:
    """The training step's products: name, einsum, operand shapes and FLOPs of ``runs`` runs."""
    found = []
    for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        x, w, dy = (runs, batch, fan_in), (runs, fan_in, fan_out), (runs, batch, fan_out)
        flops = 2 * runs * batch * fan_in * fan_out
        found.append({"name": f"forward {layer}", "equation": "rbi,rio->rbo", "shapes": (x, w), "flops": flops})
        found.append({"name": f"weight gradient {layer}", "equation": "rbi,rbo->rio", "shapes": (x, dy),
                      "flops": flops})
        if layer > 1:
            found.append({"name": f"input gradient {layer}", "equation": "rbo,rio->rbi", "shapes": (dy, w),
                          "flops": flops})
    return found


def best_rate(call, flops: int, calls: int, repeat: int, finish=lambda out: out) -> float:
    """GFLOP/s of ``calls`` back-to-back ``call()`` then ``finish`` of the last (one warm-up first), the
    fastest of ``repeat`` (:func:`benchlib.best_seconds`)."""
    finish(call())

    def back_to_back():
        for _ in range(calls):
            out = call()
        finish(out)

    return flops * calls / best_seconds(back_to_back, repeat) / 1e9


def xla_rates(found: list[dict], calls: int, repeat: int) -> list[float]:
    import jax
    import jax.numpy as jnp

    rates = []
    for product in found:
        operands = [jax.random.normal(jax.random.PRNGKey(i), shape, jnp.float32)
                    for i, shape in enumerate(product["shapes"])]
        dot = jax.jit(lambda a, b, equation=product["equation"]: jnp.einsum(equation, a, b))
        rates.append(best_rate(lambda: dot(*operands), product["flops"], calls, repeat, jax.block_until_ready))
    return rates


def torch_rates(found: list[dict], calls: int, repeat: int) -> list[float]:
    import torch

    torch.set_num_threads(1)
    rates = []
    for product in found:
        a, b = (torch.randn(shape) for shape in product["shapes"])
        transpose_a, transpose_b = TORCH_TRANSPOSES[product["equation"]]
        a, b = (a.transpose(1, 2) if transpose_a else a), (b.transpose(1, 2) if transpose_b else b)
        rates.append(best_rate(functools.partial(torch.bmm, a, b), product["flops"], calls, repeat))
    return rates


def child(library: str, found: list[dict], calls: int, repeat: int) -> None:
    """Measure ``library``'s rates pinned to one core; JSON last."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rates = (xla_rates if library == "xla" else torch_rates)(found, calls, repeat)
    print_json({"gflops": rates})


def workload_seconds(found: list[dict], rates: list[float], calls: float, cores: int) -> float:
    """Seconds of ``calls`` calls of every product at ``rates``, spread over ``cores`` cores."""
    return sum(p["flops"] / rate / 1e9 for p, rate in zip(found, rates)) * calls / cores


def main() -> None:
    workload = WORKLOADS["mlp"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-per-device", type=int, default=7, help="runs vmapped in one product")
    parser.add_argument("--runs", type=int, default=workload.runs, help="runs of the workload")
    parser.add_argument("--steps", type=int, default=workload.steps, help="training steps of every run")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)), help="cores training at once")
    parser.add_argument("--calls", type=int, default=300, help="calls timed per product")
    parser.add_argument("--repeat", type=int, default=3, help="timings per product; the best is kept")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument("--child", choices=LIBRARIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    widths = (workload.input_shape[0], *dict(workload.model_kwargs)["hidden"], 10)
    found = products(args.runs_per_device, workload.batch_size, widths)
    if args.child:
        child(args.child, found, args.calls, args.repeat)
        return

    command = [sys.executable, __file__, "--runs-per-device", str(args.runs_per_device), "--calls", str(args.calls),
               "--repeat", str(args.repeat)]
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1"}
    rates = {"xla": run_child([*command, "--child", "xla"], env)["gflops"], "torch": None}
    if not args.no_torch and torch_available():
        rates["torch"] = run_child([*command, "--child", "torch"])["gflops"]
    calls = args.steps * args.runs / args.runs_per_device  # every run's steps, runs_per_device runs a call
    seconds = {library: None if rate is None else workload_seconds(found, rate, calls, args.cores)
               for library, rate in rates.items()}
    for i, product in enumerate(found):
        torch_rate = "" if rates["torch"] is None else f", PyTorch {rates['torch'][i]:.1f}"
        shapes = " x ".join(str(list(shape)) for shape in product["shapes"])
        print(f"{product['name']:18s} {shapes:28s} GFLOP/s on one core: XLA {rates['xla'][i]:.1f}{torch_rate}")
    line = (f"[{args.runs} runs x {args.steps} steps on {args.cores} cores] products at XLA's rates "
            f"{seconds['xla']:.2f} s")
    if seconds["torch"] is not None:
        line += f", at PyTorch's {seconds['torch']:.2f} s ({seconds['xla'] / seconds['torch']:.2f}x faster)"
    print(line)
    print_json({"runs": args.runs, "steps": args.steps, "cores": args.cores, "runs_per_device": args.runs_per_device,
                "products": [{"name": p["name"], "shapes": p["shapes"], "flops": p["flops"],
                              "xla_gflops": rates["xla"][i],
                              "torch_gflops": None if rates["torch"] is None else rates["torch"][i]}
                             for i, p in enumerate(found)],
                "xla_workload_seconds": seconds["xla"], "torch_workload_seconds": seconds["torch"],
                "torch_over_xla_rate": None if seconds["torch"] is None else seconds["xla"] / seconds["torch"]})


if __name__ == "__main__":
    main()
