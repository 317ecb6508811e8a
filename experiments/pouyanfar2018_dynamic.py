"""Pouyanfar et al. (2018): dynamic sampling driven by last round's class-wise F1 (survey Eq. 11).

    imbjax run experiments/pouyanfar2018_dynamic.py --workdir runs/pouyanfar2018_dynamic
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/pouyanfar2018_dynamic.py \
        --workdir runs/pouyanfar2018_dynamic_paper
    imbjax report results/pouyanfar2018_dynamic/run --out results/pouyanfar2018_dynamic/report --baseline baseline --metric macro_f1 --metric weighted_f1 --metric accuracy
    imbjax report results/pouyanfar2018_dynamic/run --out results/pouyanfar2018_dynamic/report/seeds --baseline baseline --metric macro_f1 --metric weighted_f1 --metric accuracy --blocks seeds

What it reproduces (survey Table 6, in direction): dynamic sampling (over-sample the classes with
low validation F1, under-sample the learnt ones, and average with a second model trained without
sampling) beats the plain network on average F1 (``macro_f1``), weighted average F1
(``weighted_f1``) and accuracy under heavy imbalance (their data reaches rho = 500). The survey
notes that dynamic sampling was never compared with plain ROS and RUS: both are included.
Methods: ``baseline``, ``ros``, ``rus``, and ``dynamic_sampling`` with ``ensemble_weight`` 0.5
(the two models' probabilities averaged, the paper's set-up as far as the survey describes it)
and 1.0 (the dynamically sampled model alone), one round per epoch of the training subset, the
rounds' F1 measured on the shared validation part. Pouyanfar et al.'s transfer learning (Inception-V3) and
real-time augmentation are not part of it.

Imbalance: exponential (long-tailed; their 19 concepts have no stated profile), minority
classes last. Every method of a seed trains on the same imbalanced subset; 15% of every pool class is
held out first as the shared validation part (``validation_fraction = 0.15``; Pouyanfar et al. held
out 20% of their data), which the F1 rounds read and on which every run reports ``val_*`` metrics.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 100), rho in {10, 50, 100} (the smallest class keeps 10, 2
  and 1 training examples; every class has 18-19 validation examples), an MLP 64-128-128-10, 300 Adam
  steps of batch 64, 10 seeds: 150 runs in 2 compiled programs. Runtime on the project's 2-core CPU
  machine at load average 5-8: 216 s inside the command cold (113 s compiling, 101 s training, 74 s of
  it the dynamic-sampling runs, which train two networks and score the pool once per round).
* ``paper``: ``tfds:cifar10`` (n_max = 4,000 after the validation part) at rho in {10, 100, 500} (the
  smallest class keeps 400, 40 and 8 images), a ResNet-32, 8,000 SGD steps (lr 0.1, momentum 0.9) of
  batch 128, 3 seeds: 45 runs, for an accelerator.

  Recipe (the survey is the source consulted for this paper; its training details were not available
  here, so a row marked "imbjax's choice" is a choice, not a transcription):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:cifar10',)``                              stand-in: their network-camera
                                                                                    images are not public (survey)
  profile               ``profiles=('exp',)``                                       imbjax's choice: long-tailed
                                                                                    (their profile not stated in the
                                                                                    survey)
  imbalance             ``rhos=(10.0, 100.0, 500.0)``                               survey: their data reach rho = 500
  validation part       ``validation_fraction=0.15``                                their 20% held out (survey); 15%
                                                                                    per class here (imbjax's)
  seeds                 ``seeds=3``                                                 not in the survey; imbjax's budget
  model                 ``model='resnet'``                                          imbjax's choice (not in the
                                                                                    survey): CIFAR ResNet
  model arguments       ``model_kwargs={'depth': 32}``                              imbjax's choice (not in the
                                                                                    survey): ResNet-32, GroupNorm
                                                                                    (dynamic sampling trains no
                                                                                    BatchNorm); they fine-tuned
                                                                                    Inception-V3
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
  method settings       ``hparams={'dynamic_sampling': {'ensemble_weight': (0.5,    ensemble weight 0.5: the survey's
                        1.0)}}``                                                    account; 1.0 the sampled model
                                                                                    alone
  ====================  ==========================================================  ==================================
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/pouyanfar2018_dynamic/run",
     "--out", "results/pouyanfar2018_dynamic/report", "--baseline", "baseline", "--metric", "macro_f1",
     "--metric", "weighted_f1", "--metric", "accuracy"],
    ["results/pouyanfar2018_dynamic/run",
     "--out", "results/pouyanfar2018_dynamic/report/seeds", "--baseline", "baseline", "--metric", "macro_f1",
     "--metric", "weighted_f1", "--metric", "accuracy", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"pouyanfar2018_dynamic_{scale}"
    config.profiles = ("exp",)
    config.minority = "last"
    config.validation_fraction = 0.15
    config.methods = ("baseline", "ros", "rus", "dynamic_sampling")
    config.hparams = {"dynamic_sampling": {"ensemble_weight": (0.5, 1.0)}}
    config.figure_metrics = ("macro_f1", "weighted_f1", "accuracy")
    if scale == "small":
        small_scale(config)
        config.rhos = (10.0, 50.0, 100.0)
    else:
        paper_scale(config, datasets=("tfds:cifar10",))
        config.rhos = (10.0, 100.0, 500.0)
    return config
