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
``plain44``, ``res44``, ``plain56`` and ``res56`` (not in the loop above: each trains about
depth / 20 times as long as res20).

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

Expected runtime on the project's 2-core CPU machine (shared with other jobs, load average 5-8),
measured on cut-down versions (``--set seeds=1 --set 'rhos=(10.0,)'``, i.e. baseline and ROS at
rho = 10: 2 runs, and ``--set num_steps=30`` for the 30-step column; ``--no-cache`` there):

=======  =========  ===========================  ============================  ==================
arch     compiling  training, 2 runs x 30 steps  training, 2 runs x 300 steps  full config (est.)
=======  =========  ===========================  ============================  ==================
res8     43 s       2.6 s                        -                             ~2-3 min
res20    49-58 s    6.2 s                        20 s                          ~4-5 min
plain20  43-45 s    6.1 s                        32 s                          ~4-6 min
all_cnn  41 s       11.2 s                       -                             ~6-10 min
=======  =========  ===========================  ============================  ==================

The full config trains 9x the 300-step column (18 runs); the estimates scale the measured
300-step training (the 30-step timings for res8 and All-CNN, widths 96 and 192) and add the
compile. The seven default architectures take about half an hour together (res14/plain14 between
res8 and res20; plain8 as res8); the full experiment was not run here. The 300-step runs at
rho = 10 (seed 0) gave balanced accuracy / minority-class recall (min over classes) / final
training loss: res20 baseline 0.886 / 0.635 / 0.007, ROS 0.914 / 0.750 / 0.008; plain20 baseline
0.860 / 0.615 / 0.021, ROS 0.887 / 0.731 / 0.039 (one seed: an indication, not a result).
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
