"""Cao et al. (2019): LDAM loss with deferred re-weighting (LDAM-DRW) on long-tailed data.

    imbjax run experiments/cao2019_ldam.py --workdir runs/cao2019_ldam
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/cao2019_ldam.py \
        --workdir runs/cao2019_ldam_paper
    imbjax report results/cao2019_ldam/run --out results/cao2019_ldam/report --baseline baseline --metric accuracy --metric balanced_accuracy --blocks settings
    imbjax report results/cao2019_ldam/run --out results/cao2019_ldam/report/seeds --baseline baseline --metric accuracy --metric balanced_accuracy --blocks seeds

What it reproduces (Cao et al. 2019, Table 2, in direction): on exponentially imbalanced
(long-tailed) data with a balanced test set, top-1 accuracy ranks cross-entropy ~ focal <
class-balanced focal < LDAM < LDAM-DRW; the published CIFAR-10-LT errors at rho = 100 with a
ResNet-32 are CE 29.64%, focal 29.62%, CB focal 25.43%, LDAM-DRW 22.97%. Comparators from the
later long-tail work: class-balanced CE (Cui et al. 2019) and balanced softmax (Ren et al.
2020). Methods: ``baseline`` (CE), ``focal`` (gamma 1 from Cui et al.'s grid, alpha 1: no class
weighting, as Cao et al.'s focal baseline), ``cb_ce`` and ``cb_focal`` (beta = 0.9999), ``balanced_softmax``,
``ldam`` and ``ldam_drw`` (margin 0.5, scale 30 on the cosine classifier of Cao et al.'s code, which
these two methods put in place of the model's output layer; re-weighting from 80% of the steps, i.e.
epoch 160 of 200). Profiles: exponential (CIFAR-10-LT) and step with half the classes minority, both
at rho in {10, 100}, as in the paper. The test set is balanced, so accuracy is their metric.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 100, so every ratio is exact; at rho = 100 the smallest
  class keeps one example), an MLP 64-128-128-10, 300 Adam steps of batch 64, 10 seeds: 280 runs in
  4 compiled programs (per profile, one for the methods with the linear output layer and one for
  LDAM and LDAM-DRW with the cosine classifier; all use the standard training loop). Measured for
  the committed results on the project's 2-core CPU machine with other jobs running: 163 s inside
  the command (113 s compiling, 47 s training), 181 s wall.
* ``paper``: CIFAR-10-LT with Cao et al.'s recipe, transcribed one hyper-parameter at a time from
  their official code (kaidic/LDAM-DRW ``cifar_train.py``, ``models/resnet_cifar.py``, ``losses.py``),
  exponential profile only, 3 seeds: 42 runs, for an accelerator
  (``scripts/gpu_bench_cifar10_lt.sh`` runs it end to end where a GPU and a tfds data directory are):

  ====================  ==========================================================  =================================
  setting               value here                                                  source
  ====================  ==========================================================  =================================
  data                  ``datasets=('tfds:cifar10',)``                              ``imbalance_cifar.py`` (CIFAR-10-LT)
  profile               ``profiles=('exp',)``                                       ``imbalance_cifar.py`` (exp)
  imbalance             ``rhos=(10.0, 100.0)``; n_max 5,000 (derived: the           Table 2; ``imbalance_cifar.py``
                        CIFAR-10-LT counts)
  seeds                 ``seeds=3``                                                 not stated; imbjax's budget
  model                 ``model='resnet'``                                          ``models/resnet_cifar.py``
  ResNet-32             ``model_kwargs={'depth': 32, 'norm': 'batch'}``             ``resnet_cifar.py`` (resnet32:
                        (option-A shortcuts, BatchNorm)                             BatchNorm2d, LambdaLayer)
  classifier            cosine ``NormedLinear``, s = 30, for LDAM and               ``resnet_cifar.py`` (use_norm),
                        LDAM-DRW (the methods' own ``model_kwargs``)                ``losses.py`` (s=30)
  optimizer             ``optimizer='sgd'`` (momentum 0.9)                          ``cifar_train.py`` (--momentum)
  learning rate         ``learning_rates=(0.1,)``                                   ``cifar_train.py`` (--lr)
  weight decay          ``weight_decays=(0.0002,)``, coupled (PyTorch SGD)          ``cifar_train.py`` (--wd)
  batch                 ``batch_size=128``                                          ``cifar_train.py`` (-b)
  length                ``num_steps=19400``: 200 epochs of the rho = 100            ``cifar_train.py`` (--epochs 200)
                        set (12,406 images, 97 batches per epoch)
  schedule              ``lr_schedule='step'``                                      ``adjust_learning_rate``
  warm-up               ``lr_warmup_fraction=0.025`` (5 of 200 epochs)              ``adjust_learning_rate``
  decay                 ``lr_decay_fractions=(0.8, 0.9)`` (epochs 160, 180)         ``adjust_learning_rate``
  decay factor          ``lr_decay_factor=0.01`` (x0.0001 after epoch 180)          ``adjust_learning_rate``
  batches               ``batch_sampling='epoch'``: shuffled passes                 ``DataLoader(shuffle=True)``
  augmentation          ``augment='crop_flip'``                                     ``transform_train``
  crop padding          ``augment_kwargs={'padding': 4}``                           ``transform_train`` (RandomCrop)
  method settings       ``hparams={'focal': {'gamma': (1.0,), 'alpha': (1.0,)}}``     ``cifar_train.py`` (FocalLoss
                        (no class weighting); DRW: CB weights (beta 0.9999) from    gamma=1; train_rule DRW;
                        80%; LDAM max_m 0.5 (the methods' registered defaults)      LDAMLoss max_m=0.5)
  reported              test accuracy after the last step                           ``cifar_train.py`` reports the best
                                                                                    epoch on the test set (selection on
                                                                                    test data; not done here)
  ====================  ==========================================================  =================================

  Deviations, named: the warm-up rises per step, theirs per epoch (``lr * epoch / 5``); the length
  is 19,400 steps at both ratios, which is 121 epochs of the rho = 10 set (20,431 images) against
  their 200; images are scaled to [0, 1] without their per-channel standardisation (mean
  (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010)); the linear head's initialisation is
  Flax's (theirs Kaiming normal); Flax's BatchNorm keeps the biased batch variance in its running
  average. Published top-1 errors (Cao et al. 2019, Table 2): ERM 13.61% (rho 10), LDAM-DRW 22.97%
  (rho 100) and 11.84% (rho 10), class-balanced re-sampling 13.21% (rho 10).
"""
from imbjax.config import base_config, cao_sgd, cifar_recipe, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/cao2019_ldam/run",
     "--out", "results/cao2019_ldam/report", "--baseline", "baseline", "--metric", "accuracy",
     "--metric", "balanced_accuracy", "--blocks", "settings"],
    ["results/cao2019_ldam/run",
     "--out", "results/cao2019_ldam/report/seeds", "--baseline", "baseline", "--metric", "accuracy",
     "--metric", "balanced_accuracy", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"cao2019_ldam_{scale}"
    config.profiles = ("exp", "step")
    config.rhos = (10.0, 100.0)
    config.mus = (0.5,)
    config.minority = "last"
    config.methods = ("baseline", "focal", "cb_ce", "cb_focal", "balanced_softmax", "ldam", "ldam_drw")
    config.hparams = {"focal": {"gamma": (1.0,), "alpha": (1.0,)}}
    config.figure_metrics = ("accuracy", "balanced_accuracy", "min_class_recall")
    if scale == "small":
        small_scale(config)
    else:  # Cao et al.'s CIFAR-10-LT recipe: the table in the module docstring
        paper_scale(config, datasets=("tfds:cifar10",), model_kwargs={"depth": 32, "norm": "batch"}, num_steps=19400)
        cao_sgd(config)
        cifar_recipe(config)
        config.profiles = ("exp",)
    return config
