"""Ding et al. (survey ref. [92], "Very-deep neural networks", Table 12), on very deep networks and imbalance:
does depth, with or without residual connections, help a CNN learn minority classes?

    for arch in plain8 res8 plain14 res14 plain20 res20 all_cnn; do
        IMBJAX_ARCH=$arch imbjax run experiments/ding2015_depth.py --workdir results/ding2015_depth/$arch
    done
    imbjax report results/ding2015_depth/res20 --baseline baseline --metric macro_f1 --metric min_class_recall

One architecture per work directory (``IMBJAX_ARCH``, default ``res20``): a sweep compiles one
model, and ``runs.csv`` does not record the model, so architectures are compared across the
work directories' ``report/summary.csv`` (one ``imbjax report`` per directory), never by
pooling them in one report. ``IMBJAX_ARCH`` also takes the deeper ``plain32``, ``res32``,
``plain44``, ``res44``, ``plain56`` and ``res56`` (not in the loop above: tens of minutes each here).

What it reproduces (in direction, at a much smaller scale): Ding et al. trained a 6-layer CNN, a
plain 34-layer CNN and ResNets of 10 to 50 layers on EmotioNet's facial action units (11 binary
problems, positive rates from 45.7% down to 0.01%) and found (survey Table 12) that every network
of 10 layers or more reaches about the same mean F1 (0.48-0.50), far above the 6-layer one (0.29),
which never detected the rarest units; the very deep networks also converged faster. Here:
CIFAR-style ResNets (He et al. 2016, ``model="resnet"``) of depth 8, 14 and 20, each residual
(``resN``) and plain (``plainN``, the same layers without shortcuts; GroupNorm in both), and
All-CNN-C (``all_cnn``, 9 convolutional layers, no normalisation) as the non-residual reference,
each trained as the baseline and with ROS to balance (Ding et al. trained plain networks on the
imbalanced data; ROS shows whether depth matters less once the classes are balanced). Expected
(Ding et al.): minority-class scores (``macro_f1``, ``min_class_recall``, ``f1_per_class``) grow
little with depth among residual networks; the training loss at the end (``train_loss``, an
exponential average) is lower for deeper residual networks; without shortcuts the deepest plain
network trains worse (He et al.'s degradation), which Ding et al.'s single plain network did not
test.

Data and grid: scikit-learn digits as 8x8x1 images (``image=True``; 1,257 training images, its
smallest class has 122, so n_max = 122), step imbalance with half the classes minority (mu = 0.5,
the last five digits) at rho in {1, 10, 50} (a minority class keeps 12 images at rho = 10 and 2 at
rho = 50), 3 seeds, baseline and ROS: 18 runs per architecture in one compiled program, 126 for
the seven default architectures. Adam (lr 1e-3), batch 64, 300 steps (about 30 epochs of the
rho = 10 subset). Runs of one seed share the imbalanced subset and, within an architecture, the
initial parameters, so baseline and ROS are paired.

Expected runtime on the project's 2-core CPU machine, measured with a tiny version of each (1 seed,
rho = 10, baseline and ROS: 2 runs of 30 steps; ``--set seeds=1 --set 'rhos=(10.0,)' --set
num_steps=30 --no-cache``) while other jobs loaded the machine (load average ~8): compiling takes
41-49 s per architecture, and the full config trains 90x the tiny one's run-steps (18 runs x 300
steps), so, per architecture:

=========  =========================  ===========================
arch       tiny: compile + training   full config (extrapolated)
=========  =========================  ===========================
res8       43 s + 2.6 s               ~5 min
res20      49 s + 6.2 s               ~10 min
plain20    45 s + 6.1 s               ~10 min
all_cnn    41 s + 11.2 s              ~18 min (widths 96, 192)
=========  =========================  ===========================

res14/plain14 fall between (~7 min), plain8 as res8: about an hour for the seven default
architectures under that load, less on a quiet machine or with the compilation cache warm. The
full experiment was not run here; the tiny runs only check that every architecture trains
(balanced accuracy after 30 steps at rho = 10: baseline 0.48-0.75, ROS 0.79-0.92).
"""
import os

from imbjax.config import base_config
from imbjax.models import RESNET_DEPTHS

ARCHITECTURES = {
    **{f"res{depth}": ("resnet", {"depth": depth, "residual": True}) for depth in RESNET_DEPTHS},
    **{f"plain{depth}": ("resnet", {"depth": depth, "residual": False}) for depth in RESNET_DEPTHS},
    "all_cnn": ("all_cnn", {}),
}


def get_config(architecture: str | None = None):
    architecture = architecture or os.environ.get("IMBJAX_ARCH", "res20")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r} (IMBJAX_ARCH); choose one of {sorted(ARCHITECTURES)}")
    model, model_kwargs = ARCHITECTURES[architecture]
    config = base_config()
    config.name = f"ding2015_depth_{architecture}"
    config.datasets = ("digits",)
    config.dataset_kwargs.digits = {"image": True}
    config.profiles = ("step",)
    config.rhos = (1.0, 10.0, 50.0)
    config.mus = (0.5,)
    config.minority = "last"
    config.seeds = 3
    config.methods = ("baseline", "ros")
    config.model = model
    config.model_kwargs = model_kwargs
    config.optimizer = "adam"
    config.learning_rates = (1e-3,)
    config.batch_size = 64
    config.num_steps = 300
    config.figure_metrics = ("macro_f1", "min_class_recall", "balanced_accuracy")
    return config
