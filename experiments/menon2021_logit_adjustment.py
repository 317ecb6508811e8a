"""Menon et al. (2021): logit adjustment, as a loss and post hoc, against plain cross-entropy.

    imbjax run experiments/menon2021_logit_adjustment.py --workdir runs/menon2021_logit_adjustment
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/menon2021_logit_adjustment.py \
        --workdir runs/menon2021_paper
    imbjax report results/menon2021_logit_adjustment/run --out results/menon2021_logit_adjustment/report --baseline baseline --metric balanced_accuracy
    imbjax report results/menon2021_logit_adjustment/run --out results/menon2021_logit_adjustment/report/seeds --baseline baseline --metric balanced_accuracy --blocks seeds

What it reproduces (Menon et al. 2021, Table 2, in direction): adding tau log(prior) to the
logits, either inside the softmax cross-entropy during training (the logit-adjusted loss) or
subtracting it from a cross-entropy network's logits at test time (post-hoc adjustment), raises
balanced accuracy on long-tailed data well above plain cross-entropy; tau = 1 is the
Bayes-consistent choice and the loss form is a little better than post hoc (CIFAR-10-LT,
rho = 100, ResNet-32: logit-adjusted loss 22.33% balanced error). Methods: ``baseline`` (CE),
``logit_adjusted`` and ``logit_adjust_posthoc`` with tau in {0.5, 1, 1.5, 2}, and
``balanced_softmax`` (Ren et al. 2020). Two built-in checks: balanced softmax is the tau = 1
logit-adjusted loss (log counts and log priors differ by a constant the softmax ignores, and both
predict with the plain softmax), so its rows equal ``logit_adjusted`` at tau = 1; and the post-hoc
runs share the baseline's training (same seed, subset and batches, equal ``train_loss``) and
differ only at test time.

Imbalance: exponential (CIFAR-10-LT) at rho in {10, 100}, minority classes last.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits and ten-class synthetic Gaussian clusters, both with n_max = 100 so
  both ratios are exact (smallest class 10 / 1 examples at rho 10 / 100), an MLP with hidden layers
  128-128, 300 Adam steps of batch 64, 10 seeds: 400 runs in 2 compiled programs. Measured on the
  project's 2-core CPU machine with other jobs running: 113 s inside the command (56 s compiling
  with a cold cache, 56 s training), 131 s wall.
* ``paper``: ``tfds:cifar10`` as CIFAR-10-LT, 3 seeds: 60 runs, for an accelerator, with the recipe of
  Menon et al.'s official code (google-research ``logit_adjustment/main.py``, ``utils.py``,
  ``models.py``), transcribed one hyper-parameter at a time:

  ====================  ==========================================================  =================================
  setting               value here                                                  source
  ====================  ==========================================================  =================================
  data                  ``datasets=('tfds:cifar10',)``                              paper Sec. 6.2 (CIFAR-10-LT)
  profile               ``profiles=('exp',)``                                       Sec. 6.2 (EXP profile of Cao et
                                                                                    al. and Cui et al.)
  imbalance             ``rhos=(10.0, 100.0)``; n_max 5,000 (derived)               Sec. 6.2: rho = 100; rho = 10
                                                                                    is imbjax's addition
  seeds                 ``seeds=3``                                                 not stated; imbjax's budget
  model                 ``model='resnet'``                                          ``models.py`` (cifar_resnet32)
  ResNet-32             ``model_kwargs={'depth': 32, 'norm': 'batch'}``             ``models.py``: BatchNorm (momentum
                                                                                    0.9, eps 1e-5); blocks differ,
                                                                                    see below
  optimizer             ``optimizer='sgd'`` (momentum 0.9)                          ``main.py`` (SGD, momentum 0.9,
                                                                                    nesterov=True)
  learning rate         ``learning_rates=(0.1,)``                                   ``main.py`` (base_learning_rate)
  weight decay          ``weight_decays=(0.0002,)``, coupled: the gradient of       ``models.py`` (_L2_WEIGHT_DECAY
                        their L2 penalty 1e-4 * sum(w^2)                            = 1e-4, Keras l2)
  batch                 ``batch_size=128``                                          ``main.py`` (train_batch_size)
  length                ``num_steps=119136``: 1,241 epochs of the rho = 100 set     ``utils.py`` (num_epochs 1241;
                        (12,406 images, 96 full batches per epoch)                  drop_remainder)
  schedule              ``lr_schedule='step'``                                      ``utils.py`` (LearningRateSchedule)
  warm-up               ``lr_warmup_fraction=0.016116`` (epoch 20 of 1,241)         ``utils.py`` (1.0, 20)
  decay                 ``lr_decay_fractions=(0.486704, 0.746172, 0.908944)``       ``utils.py`` (0.1, 604),
                        (epochs 604, 926, 1,128)                                    (0.01, 926), (0.001, 1128)
  decay factor          ``lr_decay_factor=0.1`` (x0.1, x0.01, x0.001)               ``utils.py`` (lr_schedule)
  batches               ``batch_sampling='epoch'``: shuffled passes                 ``utils.py`` (shuffle(10000))
  augmentation          ``augment='crop_flip'``                                     ``utils.py`` (_process_image)
  crop padding          ``augment_kwargs={'padding': 2}``: 36 x 36 after zero       ``utils.py`` (_process_image:
                        padding (2 pixels a side), cropped to 32 x 32               resize_with_crop_or_pad, 32 + 4)
  tau grid              ``hparams={'logit_adjusted': {'tau': (0.5, 1.0, 1.5,        ``main.py`` (tau 1.0, the paper's
                        2.0)}, 'logit_adjust_posthoc': {'tau': (0.5, 1.0, 1.5,      setting); the grid is imbjax's
                        2.0)}}``
  reported              test accuracy after the last step                           ``main.py`` (test accuracy per
                                                                                    epoch; the last is reported)
  ====================  ==========================================================  =================================

  Deviations, named: their SGD uses Nesterov momentum, imbjax's ``sgd`` plain momentum; their
  ResNet-32 is built from three-convolution blocks (1x1, 3x3, 1x1) with projection shortcuts and a
  final BatchNorm, the ResNet here is Cao et al.'s two-convolution blocks with option-A shortcuts; their
  L2 penalty spares BatchNorm parameters, the coupled decay here covers every trainable parameter; their
  dense layer starts from N(0, 0.01), Flax's from its default; their images are scaled to [-0.5, 0.5],
  these to [0, 1]; their shuffle buffer holds 10,000 images, the epochs here are full permutations; the
  warm-up rises per step from 1/1,920 of the rate (theirs from 0); the length is 119,136 steps at both
  ratios (746 epochs of the rho = 10 set). Published: the logit-adjusted loss 22.33% balanced error on
  CIFAR-10-LT at rho = 100 (their Table 2; the test set is balanced, so it is 1 - ``accuracy``).
"""
from imbjax.config import base_config, cifar_recipe, experiment_scale, paper_scale, small_scale, step_schedule

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/menon2021_logit_adjustment/run",
     "--out", "results/menon2021_logit_adjustment/report", "--baseline", "baseline", "--metric", "balanced_accuracy"],
    ["results/menon2021_logit_adjustment/run",
     "--out", "results/menon2021_logit_adjustment/report/seeds", "--baseline", "baseline",
     "--metric", "balanced_accuracy", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"menon2021_logit_adjustment_{scale}"
    config.profiles = ("exp",)
    config.rhos = (10.0, 100.0)
    config.minority = "last"
    config.methods = ("baseline", "logit_adjusted", "logit_adjust_posthoc", "balanced_softmax")
    taus = (0.5, 1.0, 1.5, 2.0)
    config.hparams = {"logit_adjusted": {"tau": taus}, "logit_adjust_posthoc": {"tau": taus}}
    config.figure_metrics = ("balanced_accuracy", "accuracy", "min_class_recall")
    if scale == "small":
        small_scale(config, datasets=("digits", "synthetic"))
    else:
        paper_scale(config, datasets=("tfds:cifar10",), model_kwargs={"depth": 32, "norm": "batch"}, num_steps=119136)
        # epochs 20 (warm-up end), 604, 926 and 1,128 of 1,241: the module docstring's table
        step_schedule(config, weight_decay=2e-4, warmup_fraction=0.016116,
                      decay_fractions=(0.486704, 0.746172, 0.908944), decay_factor=0.1)
        cifar_recipe(config, padding=2)
    return config
