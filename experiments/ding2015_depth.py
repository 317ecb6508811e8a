"""Ding et al. (survey ref. [92], "Very-deep neural networks", Table 12), on very deep networks and imbalance:
does depth, with or without residual connections, help a CNN learn minority classes?

    imbjax run experiments/ding2015_depth.py --workdir runs/ding2015_depth
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/ding2015_depth.py --workdir runs/ding2015_depth_paper
    imbjax report runs/ding2015_depth --baseline baseline --metric macro_f1 --metric min_class_recall --blocks seeds

The architectures are a sweep axis (``config.models``): one work directory, one compiled program
per architecture, and ``runs.csv`` records each run's architecture in its ``model`` column
(``model_spec`` holds the model name and arguments), so the report keeps architectures apart:
ranks and tests are per architecture x rho block, and ``<metric>_vs_model.png`` plots each metric
against the architectures (in the order below, a line per method, a panel per rho).

What it reproduces (in direction, at a much smaller scale): Ding et al. trained a 6-layer CNN, a
plain 34-layer CNN and ResNets of 10 to 50 layers on EmotioNet's facial action units (11 binary
problems, positive rates from 45.7% down to 0.01%) and found (survey Table 12) that every network
of 10 layers or more reaches about the same mean F1 (0.48-0.50), far above the 6-layer one (0.29),
which never detected the rarest units; the very deep networks also converged faster. Here:
CIFAR-style ResNets (He et al. 2016, ``model="resnet"``), each residual (``resN``) and plain
(``plainN``, the same layers without shortcuts; GroupNorm in both), and All-CNN-C (``all_cnn``,
9 convolutional layers, no normalisation) as the non-residual reference, each trained as the
baseline and with ROS to balance (Ding et al. trained plain networks on the imbalanced data; ROS
shows whether depth matters less once the classes are balanced). Expected (Ding et al.):
minority-class scores (``macro_f1``, ``min_class_recall``, ``f1_per_class``) grow little with
depth among residual networks; the training loss at the end (``train_loss``, an exponential
average) is lower for deeper residual networks; without shortcuts the deepest plain network
trains worse (He et al.'s degradation), which Ding et al.'s single plain network did not test.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: plain8, res8, plain14, res14, plain20, res20 and all_cnn on scikit-learn digits as
  8x8x1 images (``image=True``; 1,257 training images, n_max = 100 so that every rho is exact),
  step imbalance with half the classes minority (mu = 0.5, the last five digits) at rho in
  {1, 10, 50} (a minority class keeps 10 images at rho = 10 and 2 at rho = 50), 3 seeds, baseline
  and ROS, Adam (lr 1e-3), batch 64, 300 steps (about 30 epochs of the rho = 10 subset): 18 runs
  per architecture, 126 runs in 7 compiled programs. Runs of one seed share the imbalanced subset
  and, within an architecture, the initial parameters, so baseline and ROS are paired.
* ``paper``: ``tfds:cifar10`` (n_max = 5,000; prepare it offline, see
  :mod:`imbjax.data.tfds_loader`), every depth of :data:`imbjax.models.RESNET_DEPTHS` (8 to 56)
  plain and residual, and All-CNN-C, at rho in {1, 10, 100}, SGD (lr 0.1, momentum 0.9), batch
  128, 8,000 steps, 3 seeds: 234 runs in 13 programs, for an accelerator.

  Recipe (the survey is the source consulted; the architectures are what the study compares, not a
  recipe setting; a row marked "imbjax's choice" is a choice, not a transcription):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:cifar10',)``                              stand-in: their facial-action data
                                                                                    are not public (survey)
  profile               ``profiles=('step',)``                                      imbjax's choice: step, half the
                                                                                    classes minority
  imbalance             ``rhos=(1.0, 10.0, 100.0)``                                 imbjax's choice (theirs reach
                                                                                    10,000, survey)
  seeds                 ``seeds=3``                                                 not in the survey; imbjax's budget
  optimizer             ``optimizer='sgd'``                                         imbjax's choice (not in the
                                                                                    survey): the ResNet default of
                                                                                    ``paper_scale``
  learning rate         ``learning_rates=(0.1,)``                                   imbjax's choice (not in the
                                                                                    survey): the CIFAR ResNet rate
  weight decay          ``weight_decays=(0.0,)``                                    imbjax's choice (not in the
                                                                                    survey): none
  batch                 ``batch_size=128``                                          imbjax's choice (not in the
                                                                                    survey)
  length                ``num_steps=8000``                                          survey: 100 epochs; here 20 epochs
                                                                                    of the 50,000 pool (imbjax's
                                                                                    budget)
  schedule              ``lr_schedule='constant'``                                  imbjax's choice (not in the
                                                                                    survey): constant
  batches               ``batch_sampling='iid'``                                    imbjax's choice (not in the
                                                                                    survey): i.i.d. draws
  augmentation          ``augment='none'``                                          imbjax's choice (not in the
                                                                                    survey): none
  ====================  ==========================================================  ==================================

Runtime of the small scale, measured on the project's 2-core CPU machine while other engineers'
jobs kept it loaded (load average 9-17), cold compilation cache, ``--layout auto`` (convolutional
models one run per device per call): 126 runs in 3,424 s inside the command (412 s compiling 7
programs, 3,010 s training), 57 min wall. An earlier run of this config at n_max = 122 with the
``vmap`` layout and no other job running took 527 s inside the command.

=========  =========  ==========================
arch       compiling  training, 18 runs x 300 steps
=========  =========  ==========================
plain8     54.2 s     108.5 s
res8       31.5 s     122.6 s
plain14    60.8 s     376.4 s
res14      83.5 s     362.5 s
plain20    59.7 s     440.8 s
res20      76.6 s     360.1 s
all_cnn    46.0 s     1,238.9 s (widths 96 and 192)
=========  =========  ==========================

The committed results (``results/ding2015_depth/``) were made and analysed by::

    imbjax run experiments/ding2015_depth.py --workdir results/ding2015_depth/run --set name=ding2015_depth
    imbjax report results/ding2015_depth/run --out results/ding2015_depth/report --baseline baseline --metric macro_f1 --metric min_class_recall --metric balanced_accuracy --metric train_loss
    imbjax report results/ding2015_depth/run --out results/ding2015_depth/report/seeds --baseline baseline --metric macro_f1 --metric min_class_recall --metric balanced_accuracy --metric train_loss --blocks seeds
"""
from imbjax.config import base_config, experiment_scale
from imbjax.models import RESNET_DEPTHS

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/ding2015_depth/run",
     "--out", "results/ding2015_depth/report", "--baseline", "baseline", "--metric", "macro_f1",
     "--metric", "min_class_recall", "--metric", "balanced_accuracy", "--metric", "train_loss"],
    ["results/ding2015_depth/run",
     "--out", "results/ding2015_depth/report/seeds", "--baseline", "baseline", "--metric", "macro_f1",
     "--metric", "min_class_recall", "--metric", "balanced_accuracy", "--metric", "train_loss", "--blocks", "seeds"],
]

SMALL_DEPTHS = (8, 14, 20)


def architectures(depths) -> tuple:
    """``(label, {"model": ..., **kwargs})`` pairs: plain and residual ResNets of ``depths``, then All-CNN-C."""
    resnets = [(f"{kind}{depth}", {"model": "resnet", "depth": depth, "residual": kind == "res"})
               for depth in depths for kind in ("plain", "res")]
    return (*resnets, ("all_cnn", {"model": "all_cnn"}))


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"ding2015_depth_{scale}"
    config.profiles = ("step",)
    config.mus = (0.5,)
    config.minority = "last"
    config.seeds = 3
    config.methods = ("baseline", "ros")
    config.figure_metrics = ("macro_f1", "min_class_recall", "balanced_accuracy")
    if scale == "small":
        config.datasets = ("digits",)
        config.dataset_kwargs.digits = {"image": True}
        config.rhos = (1.0, 10.0, 50.0)
        config.models = architectures(SMALL_DEPTHS)
        config.optimizer = "adam"
        config.learning_rates = (1e-3,)
        config.batch_size = 64
        config.num_steps = 300
    else:
        config.datasets = ("tfds:cifar10",)
        config.rhos = (1.0, 10.0, 100.0)
        config.models = architectures(RESNET_DEPTHS)
        config.optimizer = "sgd"
        config.learning_rates = (0.1,)
        config.batch_size = 128
        config.num_steps = 8000
    return config
