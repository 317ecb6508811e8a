"""PyTorch peer of the LeNet-5 workload (``benchlib.WORKLOADS["lenet5"]``, scripts/bench_cnn.py).

Adapted from the project's shared/bench/torch_lenet_sweep.py (per-run loop); the ``torch.func``
version is written as shared/bench/torch_mlp_vmap.py. The same runs as imbjax's:

* data: imbjax's ``benchlib.random_dataset``, drawn the same way (NumPy ``default_rng(0)``): 6,000
  standard-normal 28x28 training images with exactly balanced labels and 1,000 test images,
  transposed to PyTorch's channels-first layout (speed only: there is nothing to learn);
* 8 runs (seeds); each trains on the whole pool (step profile at rho 1, n_max 600);
* LeNet-5 as :class:`imbjax.models.LeNet5`: conv 6@5x5 (same) -> ReLU -> max-pool 2 -> conv 16@5x5
  (valid) -> ReLU -> max-pool 2 -> 120 -> 84 -> 10 with ReLU; Adam, lr 1e-3; batch 64 drawn
  uniformly with replacement; 100 steps; mean cross-entropy; then test accuracy.

    python scripts/torch_peers/lenet5.py [--mode loop|vmap] [--runs 8] [--steps 100]
"""
import numpy as np
import torch
from peerlib import parse_args, time_runs
from torch import nn

TRAIN, TEST, NUM_CLASSES = 6000, 1000, 10
BATCH, LR = 64, 1e-3


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, NUM_CLASSES))


def random_images():
    """benchlib.random_dataset's arrays for 28x28x1 images, as ``[N, 1, 28, 28]`` tensors."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((TRAIN, 28, 28, 1), dtype=np.float32)
    y = rng.permutation(np.arange(TRAIN) % NUM_CLASSES)
    x_test = rng.standard_normal((TEST, 28, 28, 1), dtype=np.float32)
    y_test = np.arange(TEST) % NUM_CLASSES
    channels_first = lambda images: torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    return channels_first(x), torch.from_numpy(y), channels_first(x_test), torch.from_numpy(y_test)


if __name__ == "__main__":
    args = parse_args(__doc__.split("\n\n")[0], runs=8, steps=100)
    data = random_images()
    time_runs(args, make_model, lambda runs: torch.ones(runs, TRAIN), data, BATCH, LR, "LeNet-5")
