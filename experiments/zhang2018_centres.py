"""Zhang et al. (2018): category centres, nearest class centroid in deep-feature space.

    imbjax run experiments/zhang2018_centres.py --workdir runs/zhang2018_centres
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/zhang2018_centres.py \
        --workdir runs/zhang2018_centres_paper
    imbjax report results/zhang2018_centres/run --out results/zhang2018_centres/report --baseline baseline --metric macro_precision --metric ovr_average_precision
    imbjax report results/zhang2018_centres/run --out results/zhang2018_centres/report/seeds --baseline baseline --metric macro_precision --metric ovr_average_precision --blocks seeds

What it reproduces (survey Table 11, in direction): classifying by the nearest class centre of
the trained network's penultimate features (CC) scores a higher mean precision than the
network's own output layer, with and without over-sampling, on their three distributions: Dist.
A, half of the classes reduced to rho = 10 (step, mu = 0.5); Dist. B, the same at rho = 20;
Dist. C, sizes falling linearly to rho = 20 (and here also linear at rho = 10). Methods:
``baseline`` (A), ``category_centres`` (C, last hidden layer), ``ros`` (D) and
``ros_category_centres`` (F). Their "mean precision" is reported as ``macro_precision`` and,
since Table 11 is labelled AP, ``ovr_average_precision``. Zhang et al. fine-tuned an
ImageNet-pretrained VGG-16; there is no pre-training here.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 120: minority classes of 12 / 6 examples at rho 10 / 20,
  exactly), an MLP 64-128-128-10, 300 Adam steps of batch 64, 10 seeds: 160 runs in 4 compiled
  programs ({standard, category centres} x {step, linear}). Measured on the project's 2-core CPU
  machine shared with other jobs: 156 s inside the command (125 s compiling with a cold cache, 30 s
  training), 174 s wall.
* ``paper``: ``tfds:cifar10`` (n_max = 5,000) and ``tfds:cifar100`` (n_max = 500; Dist. C there
  goes from 500 down to 25 images, as theirs), a ResNet-32, 8,000 SGD steps (lr 0.1, momentum
  0.9) of batch 128, 3 seeds: 96 runs, for an accelerator.

  Recipe (the survey is the source consulted for this paper; its training details were not available
  here, so a row marked "imbjax's choice" is a choice, not a transcription):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:cifar10', 'tfds:cifar100')``              survey: CIFAR-10 and CIFAR-100
  profile               ``profiles=('step', 'linear')``                             survey Table 11: Dist. A, B (step)
                                                                                    and C (linear)
  imbalance             ``rhos=(10.0, 20.0)``                                       survey Table 11: rho 10 and 20
  seeds                 ``seeds=3``                                                 not in the survey; imbjax's budget
  model                 ``model='resnet'``                                          imbjax's choice (not in the
                                                                                    survey): CIFAR ResNet
  model arguments       ``model_kwargs={'depth': 32}``                              imbjax's choice (not in the
                                                                                    survey): ResNet-32 from scratch
                                                                                    (they fine-tuned a pre-trained
                                                                                    VGG-16)
  optimizer             ``optimizer='sgd'``                                         imbjax's choice (not in the
                                                                                    survey): the ResNet default of
                                                                                    ``paper_scale``
  learning rate         ``learning_rates=(0.1,)``                                   imbjax's choice (not in the
                                                                                    survey): the CIFAR ResNet rate
  weight decay          ``weight_decays=(0.0,)``                                    imbjax's choice (not in the
                                                                                    survey): none
  batch                 ``batch_size=128``                                          imbjax's choice (not in the
                                                                                    survey)
  length                ``num_steps=8000``                                          imbjax's choice (not in the
                                                                                    survey): the shared accelerator
                                                                                    budget
  schedule              ``lr_schedule='constant'``                                  imbjax's choice (not in the
                                                                                    survey): constant
  batches               ``batch_sampling='iid'``                                    imbjax's choice (not in the
                                                                                    survey): i.i.d. draws
  augmentation          ``augment='none'``                                          imbjax's choice (not in the
                                                                                    survey): none
  ====================  ==========================================================  ==================================
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/zhang2018_centres/run",
     "--out", "results/zhang2018_centres/report", "--baseline", "baseline", "--metric", "macro_precision",
     "--metric", "ovr_average_precision"],
    ["results/zhang2018_centres/run",
     "--out", "results/zhang2018_centres/report/seeds", "--baseline", "baseline", "--metric", "macro_precision",
     "--metric", "ovr_average_precision", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"zhang2018_centres_{scale}"
    config.profiles = ("step", "linear")
    config.rhos = (10.0, 20.0)
    config.mus = (0.5,)
    config.minority = "last"
    config.methods = ("baseline", "category_centres", "ros", "ros_category_centres")
    config.figure_metrics = ("macro_precision", "ovr_average_precision", "balanced_accuracy")
    if scale == "small":
        small_scale(config)
    else:
        paper_scale(config, datasets=("tfds:cifar10", "tfds:cifar100"))
    return config
