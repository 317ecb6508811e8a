"""What the PyTorch peers share: the two ways a PyTorch user trains many runs of one workload.

* ``loop``: one run after another, each a ``torch.optim.Adam`` over its own ``nn.Module`` (the
  per-run loop of the project's first PyTorch references, shared/bench/torch_*_sweep.py).
* ``vmap``: every run at once, the strongest way a PyTorch user who knows ``torch.func`` writes it
  (shared/bench/torch_mlp_vmap.py): the runs' modules stacked with ``stack_module_state``, per-run
  gradients from ``vmap(grad(loss of functional_call))``, and one ``torch.optim.Adam`` over the
  stacked parameters. Adam's moments and update are elementwise, so one Adam over a ``[runs, ...]``
  tensor is exactly a separate Adam per run; the loss of each run is its own batch mean.

Both draw each run's batches by ``torch.multinomial(weights, batch, replacement=True)`` from its
own ``weights`` over the training pool (uniform over the run's subset, or class-balanced for ROS:
zero outside the subset), so both train the same runs as imbjax, which samples the same way.
Seconds are wall time of all the runs (model creation, training and test accuracy), after imports,
data set-up and a warm-up; the JSON line printed last has ``seconds``, ``mean_accuracy`` (test) and
``first_loss`` / ``last_loss`` (the runs' mean training loss at the first and the last step).
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

MODES = ("loop", "vmap")


def parse_args(description: str, runs: int, steps: int) -> argparse.Namespace:
    """``--mode loop|vmap``, ``--runs`` and ``--steps`` (defaults: the workload's), and ``--threads``
    (set here: on a loaded 2-core machine torch's default of one thread per core ran 25x slower than
    one thread, its OpenMP workers waiting on each other)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--mode", choices=MODES, default="loop")
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps of the untimed warm-up")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def seeded_model(make_model: Callable[[], nn.Module], seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return make_model()


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of correct predictions along the last example axis."""
    return (logits.argmax(-1) == labels).float().mean(-1)


def train_loop(make_model, weights: torch.Tensor, data, steps: int, batch: int, lr: float) -> dict:
    """Run ``r`` of ``weights: [runs, N]``: seed ``r``, Adam(lr), ``steps`` steps of ``batch``
    examples drawn from ``weights[r]``, then test accuracy; one run after another."""
    x, y, x_test, y_test = data
    accuracies, first, last = [], [], []
    for run, run_weights in enumerate(weights):
        model = seeded_model(make_model, run)
        optimizer = torch.optim.Adam(model.parameters(), lr)
        generator = torch.Generator().manual_seed(run)
        for step in range(steps):
            index = torch.multinomial(run_weights, batch, replacement=True, generator=generator)
            loss = nn.functional.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step == 0:
                first.append(loss.item())
        last.append(loss.item())
        with torch.no_grad():
            accuracies.append(accuracy(model(x_test), y_test).item())
    return {"accuracy": accuracies, "first_loss": sum(first) / len(first), "last_loss": sum(last) / len(last)}


def train_vmapped(make_model, weights: torch.Tensor, data, steps: int, batch: int, lr: float) -> dict:
    """The runs of :func:`train_loop` trained at once: stacked modules, ``vmap(grad(...))`` and one
    Adam over the stacked parameters."""
    x, y, x_test, y_test = data
    models = [seeded_model(make_model, run) for run in range(len(weights))]
    params, buffers = stack_module_state(models)
    params = {name: value.detach().requires_grad_() for name, value in params.items()}
    base = copy.deepcopy(models[0]).to("meta")

    def loss_of(run_params, run_buffers, xb, yb):
        loss = nn.functional.cross_entropy(functional_call(base, (run_params, run_buffers), (xb,)), yb)
        return loss, loss

    gradients_and_losses = vmap(grad(loss_of, has_aux=True))
    optimizer = torch.optim.Adam(list(params.values()), lr)
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        index = torch.multinomial(weights, batch, replacement=True, generator=generator)  # [runs, batch]
        gradients, losses = gradients_and_losses(params, buffers, x[index], y[index])
        for name, value in params.items():
            value.grad = gradients[name]
        optimizer.step()
        if step == 0:
            first = losses.mean().item()
    with torch.no_grad():
        logits = vmap(lambda p, b: functional_call(base, (p, b), (x_test,)))(params, buffers)
        accuracies = accuracy(logits, y_test).tolist()
    return {"accuracy": accuracies, "first_loss": first, "last_loss": losses.mean().item()}


def time_runs(args: argparse.Namespace, make_model, make_weights: Callable[[int], torch.Tensor], data,
              batch: int, lr: float, label: str) -> None:
    """Warm up (``--warmup-steps`` steps of every run), then time ``--runs`` runs of ``--steps``
    steps in ``--mode``; prints a line and the JSON line last."""
    train = train_loop if args.mode == "loop" else train_vmapped
    train(make_model, make_weights(args.runs), data, args.warmup_steps, batch, lr)
    start = time.perf_counter()
    result = train(make_model, make_weights(args.runs), data, args.steps, batch, lr)
    seconds = time.perf_counter() - start
    mean_accuracy = sum(result["accuracy"]) / len(result["accuracy"])
    print(f"torch {args.mode}: {args.runs} {label} runs x {args.steps} steps in {seconds:.2f} s; test accuracy "
          f"{mean_accuracy:.3f}; training loss {result['first_loss']:.3f} -> {result['last_loss']:.3f}")
    print(json.dumps({"mode": args.mode, "runs": args.runs, "steps": args.steps, "seconds": seconds,
                      "mean_accuracy": mean_accuracy, "first_loss": result["first_loss"],
                      "last_loss": result["last_loss"], "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))
