"""PyTorch peer of the MLP workload (``benchlib.WORKLOADS["mlp"]``, scripts/bench_sweep.py).

Adapted from the project's shared/bench/torch_mlp_sweep.py (per-run loop) and torch_mlp_vmap.py
(``torch.func``), with imbjax's data split and subset sizes. The same runs as imbjax's:

* data: scikit-learn digits, pixels / 16, imbjax's stratified 70/30 split
  (``train_test_split(test_size=0.3, stratify=y, random_state=0)``): 1,257 training, 540 test;
* 40 runs: 10 seeds x rho in {1, 10, 50, 100}; step imbalance, mu = 0.5 (classes 5-9 minority),
  n_max = 100 (imbjax's choice: every rho exact), so a run keeps 100 examples of classes 0-4 and
  100 / rho of classes 5-9 (a per-run random pick; imbjax picks its own, with the same counts);
* MLP 64-128-128-10 with ReLU; Adam, lr 1e-3; batch 64 drawn with ROS (class-balanced weights over
  the run's subset, with replacement); 300 steps; mean cross-entropy; then test accuracy.

    python scripts/torch_peers/mlp.py [--mode loop|vmap] [--runs 40] [--steps 300]
"""
import torch
from peerlib import parse_args, time_runs
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

RHOS = (1.0, 10.0, 50.0, 100.0)
N_MAX, NUM_CLASSES, MINORITY_FROM = 100, 10, 5
BATCH, LR = 64, 1e-3


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, NUM_CLASSES))


def ros_weights(labels: torch.Tensor, runs: int) -> torch.Tensor:
    """``[runs, N]``: run ``r`` (seed ``r // 4``, rho ``RHOS[r % 4]``) keeps ``N_MAX`` examples of each
    majority class and ``N_MAX / rho`` of each minority class; each kept example weighs
    1 / (its class's kept count), so every class is drawn equally often (ROS)."""
    weights = torch.zeros(runs, len(labels))
    for run in range(runs):
        generator = torch.Generator().manual_seed(run // len(RHOS))
        rho = RHOS[run % len(RHOS)]
        for label in range(NUM_CLASSES):
            members = torch.nonzero(labels == label)[:, 0]
            kept = N_MAX if label < MINORITY_FROM else round(N_MAX / rho)
            chosen = members[torch.randperm(len(members), generator=generator)[:kept]]
            weights[run, chosen] = 1.0 / kept
    return weights


if __name__ == "__main__":
    args = parse_args(__doc__.split("\n\n")[0], runs=40, steps=300)
    features, labels = load_digits(return_X_y=True)
    x, x_test, y, y_test = train_test_split(features / 16.0, labels, test_size=0.3, stratify=labels, random_state=0)
    data = (torch.tensor(x, dtype=torch.float32), torch.tensor(y), torch.tensor(x_test, dtype=torch.float32),
            torch.tensor(y_test))
    time_runs(args, make_model, lambda runs: ros_weights(data[1], runs), data, BATCH, LR, "MLP")
