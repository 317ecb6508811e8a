"""Lin et al. (2017) / Nemoto et al. (2018): the focal loss's gamma, swept against cross-entropy.

    imbjax run experiments/lin2017_focal.py --workdir runs/lin2017_focal
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/lin2017_focal.py \
        --workdir runs/lin2017_focal_paper
    imbjax report results/lin2017_focal/run --out results/lin2017_focal/report --baseline baseline --metric balanced_accuracy --metric min_class_recall --blocks settings
    imbjax report results/lin2017_focal/run --out results/lin2017_focal/report/seeds --baseline baseline --metric balanced_accuracy --metric min_class_recall --blocks seeds

What it reproduces: focal loss FL = -alpha_t (1 - p_t)^gamma log p_t (survey Eq. 16) down-weights
easy examples as gamma grows. Nemoto et al. swept gamma in [0, 5] on three building-change
classes, two of them rare, and found the rare classes' accuracy best at gamma = 0 (plain
cross-entropy) for one of them (the survey's reading of their Fig. 4); Lin et al. chose gamma = 2,
alpha = 0.25 for RetinaNet. The question here: does any gamma beat cross-entropy on class-wise
accuracy (``recall_per_class_<c>``, ``balanced_accuracy``, ``min_class_recall``)? Methods:
``baseline`` (cross-entropy) and ``focal`` with gamma in {0, 0.5, 1, 2, 5} x alpha in {0.25, 0.5, 1}
(alpha weighs the minority classes, 1 the largest ones: alpha = 1 is no class weighting, so focal
with gamma = 0, alpha = 1 is the cross-entropy, and alpha = 0.25 and 0.5 down-weight the minority
classes to a quarter and a half of the others; Lin et al.'s alpha_t, 0.25 for the rare class and
0.75 for the frequent one, is alpha = 1/3 here up to the factor 0.75). The figure plots each
metric against rho, a line per (method, gamma, alpha); ``imbjax.analysis.plot_metric_vs(table,
"hp_gamma", ...)`` plots against gamma, cross-entropy as the dashed reference.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: three-class synthetic Gaussian clusters (Nemoto et al.'s three classes) with two
  minority classes (step, mu = 0.5 rounds to 2 of 3) and scikit-learn digits (five minority
  classes), both with n_max = 100 so both ratios are exact (a minority class keeps 10 / 1 examples
  at rho 10 / 100), an MLP with hidden layers 128-128, 300 Adam steps of batch 64, 10 seeds: 640
  runs in 2 compiled programs. Measured on the project's 2-core CPU machine with other jobs running:
  125 s inside the command (40 s compiling, 83 s training), 138 s wall.
* ``paper``: ``tfds:cifar10`` as CIFAR-10-LT (exponential, rho in {10, 100}), 3 seeds: 96 runs, for an
  accelerator. Lin et al. (2017) trained RetinaNet detectors on COCO; the focal loss on CIFAR-10-LT is the
  baseline of Cao et al. (2019, Table 2: 29.62% top-1 error at rho = 100, CE 29.64%), trained with their
  code's recipe (kaidic/LDAM-DRW ``cifar_train.py``, the same as ``cao2019_ldam``'s paper scale):

  ====================  ==========================================================  =================================
  setting               value here                                                  source
  ====================  ==========================================================  =================================
  data                  ``datasets=('tfds:cifar10',)``                              Cao et al. Table 2 (CIFAR-10-LT)
  profile               ``profiles=('exp',)``                                       ``imbalance_cifar.py`` (exp)
  imbalance             ``rhos=(10.0, 100.0)``; n_max 5,000 (derived)               Cao et al. Table 2
  seeds                 ``seeds=3``                                                 not stated; imbjax's budget
  model                 ``model='resnet'``                                          ``models/resnet_cifar.py``
  ResNet-32             ``model_kwargs={'depth': 32, 'norm': 'batch'}``             ``resnet_cifar.py`` (resnet32)
  optimizer             ``optimizer='sgd'`` (momentum 0.9)                          ``cifar_train.py`` (--momentum)
  learning rate         ``learning_rates=(0.1,)``                                   ``cifar_train.py`` (--lr)
  weight decay          ``weight_decays=(0.0002,)``, coupled (PyTorch SGD)          ``cifar_train.py`` (--wd)
  batch                 ``batch_size=128``                                          ``cifar_train.py`` (-b)
  length                ``num_steps=19400``: 200 epochs of the rho = 100 set        ``cifar_train.py`` (--epochs 200)
  schedule              ``lr_schedule='step'``                                      ``adjust_learning_rate``
  warm-up               ``lr_warmup_fraction=0.025`` (5 of 200 epochs)              ``adjust_learning_rate``
  decay                 ``lr_decay_fractions=(0.8, 0.9)`` (epochs 160, 180)         ``adjust_learning_rate``
  decay factor          ``lr_decay_factor=0.01``                                    ``adjust_learning_rate``
  batches               ``batch_sampling='epoch'``: shuffled passes                 ``DataLoader(shuffle=True)``
  augmentation          ``augment='crop_flip'``                                     ``transform_train``
  crop padding          ``augment_kwargs={'padding': 4}``                           ``transform_train`` (RandomCrop)
  focal grid            ``hparams={'focal': {'gamma': (0.0, 0.5, 1.0, 2.0, 5.0),    imbjax's grid around Lin et al.'s
                        'alpha': (0.25, 0.5, 1.0)}}``                               gamma 2, alpha 0.25 (their Table
                                                                                    1a); Cao et al. use gamma 1
  ====================  ==========================================================  =================================

  Deviations, named: those of ``cao2019_ldam``'s table (per-step
  warm-up, 19,400 steps at both ratios, images in [0, 1] without standardisation, Flax's head
  initialisation and BatchNorm variance).
"""
from imbjax.config import base_config, cao_sgd, cifar_recipe, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/lin2017_focal/run",
     "--out", "results/lin2017_focal/report", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "min_class_recall", "--blocks", "settings"],
    ["results/lin2017_focal/run",
     "--out", "results/lin2017_focal/report/seeds", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "min_class_recall", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"lin2017_focal_{scale}"
    config.rhos = (10.0, 100.0)
    config.minority = "last"
    config.methods = ("baseline", "focal")
    config.hparams = {"focal": {"gamma": (0.0, 0.5, 1.0, 2.0, 5.0), "alpha": (0.25, 0.5, 1.0)}}
    config.figure_metrics = ("balanced_accuracy", "min_class_recall", "accuracy")
    if scale == "small":
        small_scale(config, datasets=("synthetic", "digits"))
        config.dataset_kwargs = {"synthetic": {"num_classes": 3}}
        config.profiles = ("step",)
        config.mus = (0.5,)
    else:
        paper_scale(config, datasets=("tfds:cifar10",), model_kwargs={"depth": 32, "norm": "batch"}, num_steps=19400)
        cao_sgd(config)
        cifar_recipe(config)
        config.profiles = ("exp",)
    return config
