"""PyTorch peer of the MNIST-1D CNN workload (``benchlib.WORKLOADS["mnist1d_cnn"]``: the CNN runs of
experiments/mnist1d_benchmark.py, the MNIST-1D paper's recipe).

Adapted from the project's shared/bench/torch_mnist1d_cnn.py (per-run loop); the ``torch.func``
version is written as shared/bench/torch_mlp_vmap.py. The same runs as imbjax's:

* data: MNIST-1D from the ``mnist1d`` package's ``make_dataset(get_dataset_args())``, as
  ``imbjax.data.load("mnist1d")``: 4,000 training and 1,000 test signals of length 40;
* 10 runs (seeds); each trains on imbjax's subset size, step profile at rho 1 with n_max = 394
  (the smallest class of the pool): 394 examples of every class, a per-run random pick;
* the paper's ConvBase as :class:`imbjax.models.Mnist1dCNN`: Conv1d 1->25 (k5, s2, p1), 25->25
  (k3, s2, p1) twice, each with ReLU, flattened channel-major, Linear 125->10; Adam, lr 1e-2; batch
  100 drawn uniformly with replacement from the subset (imbjax's sampling; the paper walks the data
  in order); 8,000 steps; mean cross-entropy; then test accuracy (published: 94%).

    python scripts/torch_peers/mnist1d_cnn.py [--mode loop|vmap] [--runs 10] [--steps 8000]
"""
import torch
from mnist1d.data import get_dataset_args, make_dataset
from peerlib import parse_args, time_runs
from torch import nn

N_MAX, NUM_CLASSES = 394, 10
BATCH, LR = 100, 1e-2


def make_model() -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 40)), nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1),
                         nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(125, NUM_CLASSES))


def subset_weights(labels: torch.Tensor, runs: int) -> torch.Tensor:
    """``[runs, N]``: 1 on ``N_MAX`` examples of each class (run ``r``'s own pick), else 0."""
    weights = torch.zeros(runs, len(labels))
    for run in range(runs):
        generator = torch.Generator().manual_seed(run)
        for label in range(NUM_CLASSES):
            members = torch.nonzero(labels == label)[:, 0]
            weights[run, members[torch.randperm(len(members), generator=generator)[:N_MAX]]] = 1.0
    return weights


if __name__ == "__main__":
    args = parse_args(__doc__.split("\n\n")[0], runs=10, steps=8000)
    generated = make_dataset(get_dataset_args())
    data = (torch.tensor(generated["x"], dtype=torch.float32), torch.tensor(generated["y"]),
            torch.tensor(generated["x_test"], dtype=torch.float32), torch.tensor(generated["y_test"]))
    time_runs(args, make_model, lambda runs: subset_weights(data[1], runs), data, BATCH, LR, "MNIST-1D CNN")
