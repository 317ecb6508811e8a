"""MNIST-1D-LT: CIFAR-10-LT's long-tail design at CPU scale, on MNIST-1D with the paper's CNN.

    imbjax run experiments/mnist1d_lt.py --workdir results/mnist1d_lt/run
    imbjax report results/mnist1d_lt/run --out results/mnist1d_lt/report --baseline baseline --metric accuracy --metric min_class_recall
    IMBJAX_RECIPE=cao imbjax run experiments/mnist1d_lt.py --workdir results/mnist1d_lt/run_cao_recipe
    imbjax report results/mnist1d_lt/run_cao_recipe --out results/mnist1d_lt/report_cao_recipe --baseline baseline --metric accuracy --metric min_class_recall

Design (Cao et al. 2019's CIFAR-10-LT, Cui et al. 2019's exponential profile): a balanced MNIST-1D
pool of 5,000 training signals per class and a balanced test set of 1,000 per class (60,000 signals
generated offline, split stratified: ``num_samples=60_000, train_split=5/6, stratified=True``), the
exponential profile from n_max = 5,000 at rho 10 and 100, i.e. exactly CIFAR-10-LT's class counts
(rho 100: 5,000, 2,997, 1,796, 1,077, 645, 387, 232, 139, 83, 50; 12,406 signals), minority classes
last. Model: the MNIST-1D paper's CNN (:class:`imbjax.models.Mnist1dCNN`). Methods: ``baseline``
(cross-entropy), ``focal`` (gamma 1, alpha 1: no class weighting, as Cao et al.'s focal
baseline), ``cb_focal`` (beta 0.9999, gamma 1), ``ldam_drw`` (margin 0.5, scale 30, cosine head,
class-balanced re-weighting from 80% of the steps), ``logit_adjusted`` (the loss, tau 1),
``logit_adjust_posthoc`` (CE training, tau 1 at prediction) and ``balanced_softmax``; the ``cao``
recipe adds the other rows of Cao et al.'s Table 2 that imbjax has (:data:`CAO_TABLE_2_MORE`): ``ldam``
(LDAM without DRW), ``cb_ce`` (their CB RW: CE weighted by Cui et al.'s class-balanced weights, beta
0.9999), ``ros`` (their CB RS: class-balanced epochs), and their deferred re-sampling ``drs`` (instance
sampling, class-balanced sampling from 80% of the steps; the epoch's order is redrawn at the switch). The
test set is balanced, so accuracy is the long-tail literature's metric.

Recipes (``get_config(recipe)``, default from the environment variable ``IMBJAX_RECIPE``, else
``"benchmark"``); 7 methods x 2 rhos x 10 seeds = 140 runs in 2 compiled programs (``ldam_drw``'s cosine head
is a model of its own) of 4,000 steps each, sized to run in under 30 minutes here; the ``cao`` recipe's 11
methods are 220 runs in 3 programs (``drs``'s family is a program of its own):

* ``benchmark``: the MNIST-1D benchmark's recipe (``experiments/mnist1d_benchmark.py``): Adam, learning rate
  1e-2, batch 100, i.i.d. batches, no weight decay, schedule or augmentation. 4,000 steps are 400,000
  signals: 32 epochs of the rho = 100 subset, 20 of the rho = 10 one. Measured on the project's 2-core
  CPU machine (``results/mnist1d_lt/run/meta.json``): 1,846 s inside the command while other jobs loaded the
  machine (load average 8-13); generating the pool the first time adds about half a minute.
* ``cao``: Cao et al.'s CIFAR-10-LT recipe (the official ``cifar_train.py`` of kaidic/LDAM-DRW, as
  transcribed in ``experiments/cao2019_ldam.py``), with its epochs as fractions of the 4,000 steps (41
  epochs of the rho = 100 subset, 25 of the rho = 10 one, against their 200) and MNIST-1D's own
  augmentation for the crop and flip of images:

  ====================  ==========================================================  =================================
  setting               value here                                                  source
  ====================  ==========================================================  =================================
  optimizer             ``optimizer='sgd'`` (momentum 0.9)                          ``cifar_train.py`` (--momentum)
  learning rate         ``learning_rates=(0.1,)``                                   ``cifar_train.py`` (--lr)
  weight decay          ``weight_decays=(0.0002,)``, coupled (PyTorch SGD)          ``cifar_train.py`` (--wd)
  batch                 ``batch_size=128``                                          ``cifar_train.py`` (-b)
  length                ``num_steps=4000`` (41 epochs at rho 100)                   imbjax's CPU budget (theirs: 200)
  schedule              ``lr_schedule='step'``                                      ``adjust_learning_rate``
  warm-up               ``lr_warmup_fraction=0.025`` (5 of 200 epochs)              ``adjust_learning_rate``
  decay                 ``lr_decay_fractions=(0.8, 0.9)`` (epochs 160, 180)         ``adjust_learning_rate``
  decay factor          ``lr_decay_factor=0.01``                                    ``adjust_learning_rate``
  DRW                   from 80% of the steps (``ldam_drw``'s default)              ``cifar_train.py`` (epoch 160)
  batches               ``batch_sampling='epoch'``: shuffled passes                 ``DataLoader(shuffle=True)``
  augmentation          ``augment='shift_noise'``, ``augment_kwargs={'max_shift':   imbjax's choice: no published
                        4, 'noise_std': 0.1}`` (a roll of up to 4 of 40 samples,    augmentation for MNIST-1D; the
                        Gaussian noise of std 0.1 on standardised signals)          shift matches crop padding 4/32
  model                 the MNIST-1D CNN (no BatchNorm)                             the MNIST-1D paper (theirs:
                                                                                    ResNet-32)
  ====================  ==========================================================  =================================

  Measured: see ``results/mnist1d_lt/run_cao_recipe/meta.json``.

``results/mnist1d_lt/FINDINGS.md`` compares the ordering with Cao et al.'s Table 2 under both recipes.
"""
from imbjax.config import base_config, cao_sgd, environment_choice, mnist1d_augmentation

#: The methods of Cao et al.'s Table 2 (and their deferred re-sampling) that the ``cao`` recipe adds: LDAM
#: without DRW, CB RW (class-balanced weights, beta 0.9999), CB RS (class-balanced epochs) and DRS.
CAO_TABLE_2_MORE = ("ldam", "cb_ce", "ros", "drs")

#: ``benchmark``: the MNIST-1D benchmark's recipe (the committed ``run/``); ``cao``: Cao et al.'s CIFAR-10-LT
#: recipe (the committed ``run_cao_recipe/``). Chosen by ``get_config(recipe)`` or ``IMBJAX_RECIPE``.
RECIPES = ("benchmark", "cao")

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/mnist1d_lt/run",
     "--out", "results/mnist1d_lt/report", "--baseline", "baseline", "--metric", "accuracy", "--metric", "min_class_recall"],
    ["results/mnist1d_lt/run_cao_recipe",
     "--out", "results/mnist1d_lt/report_cao_recipe", "--baseline", "baseline", "--metric", "accuracy", "--metric", "min_class_recall"],
]


def get_config(recipe: str | None = None):
    recipe = environment_choice("recipe", recipe, "IMBJAX_RECIPE", RECIPES, "benchmark")
    config = base_config()
    config.name = "mnist1d_lt" if recipe == "benchmark" else f"mnist1d_lt_{recipe}_recipe"
    config.datasets = ("mnist1d",)
    config.dataset_kwargs = {"mnist1d": {"num_samples": 60_000, "train_split": 5 / 6, "stratified": True}}
    config.profiles = ("exp",)
    config.rhos = (10.0, 100.0)
    config.mus = (0.5,)
    config.minority = "last"
    config.n_max = 5000
    config.seeds = 10
    config.methods = ("baseline", "focal", "cb_focal", "ldam_drw", "logit_adjusted", "logit_adjust_posthoc",
                      "balanced_softmax")
    config.hparams = {"focal": {"gamma": (1.0,), "alpha": (1.0,)}}
    config.model = "mnist1d_cnn"
    config.model_kwargs = {}
    config.num_steps = 4000
    config.figure_metrics = ("accuracy", "balanced_accuracy", "min_class_recall")
    if recipe == "benchmark":
        config.optimizer = "adam"
        config.learning_rates = (1e-2,)
        config.batch_size = 100
    else:  # Cao et al.'s CIFAR-10-LT recipe: the table in the module docstring
        config.methods = (*config.methods, *CAO_TABLE_2_MORE)
        cao_sgd(config)
        config.batch_sampling = "epoch"
        mnist1d_augmentation(config)
    return config
