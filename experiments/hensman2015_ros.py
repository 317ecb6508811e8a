"""Hensman & Masko (2015): slight class imbalance hurts a CNN, and ROS to balance restores it.

    imbjax run experiments/hensman2015_ros.py --workdir runs/hensman2015_ros
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/hensman2015_ros.py \
        --workdir runs/hensman2015_ros_paper
    imbjax report results/hensman2015_ros/run --out results/hensman2015_ros/report --baseline baseline --metric balanced_accuracy --metric accuracy
    imbjax report results/hensman2015_ros/run --out results/hensman2015_ros/report/seeds --baseline baseline --metric balanced_accuracy --metric accuracy --blocks seeds

What it reproduces (survey Tables 3 and 4, in direction): on CIFAR-10 distributions with
rho <= 2.3 a CNN trained on the imbalanced data loses per-class accuracy (badly on some
distributions), and random over-sampling (ROS) to balance brings every distribution back to the
balanced model's level. Hensman & Masko's score, the mean of the per-class accuracies ("Total"),
is ``balanced_accuracy``; ``recall_per_class_<c>`` are their per-class columns.

The eleven distributions (their exact class shares are not in the survey; these have the same
kinds and the same maximum rho = 2.3): the balanced pool (their Dist. 1, rho = 1) and ten
imbalanced ones, rho in {1.5, 2.3} x {step with one minority class (mu = 0.1: a single
under-represented class), step with half the classes minority (mu = 0.5: their "major 50-50
split", Dist. 3), step with nine minority classes (mu = 0.9: a single over-represented class 0,
airplane on CIFAR-10, their Dist. 5), linear, exponential}. The grid is profiles x rho x mu, so
rho = 1 appears once per profile and mu: those five cells are the same balanced subset (a check
that they agree, not extra information). Methods: baseline and ROS, 10 seeds (Hensman & Masko: 3).

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (1,257 training images of 8x8), n_max = 69 per class, the largest
  at which rho 1.5 and 2.3 are both exact (smallest class 46 / 30 examples), an MLP 64-128-128-10,
  300 Adam steps of batch 64. 300 runs in 3 compiled programs (one per profile). Measured on the
  project's 2-core CPU machine with other jobs running: 184 s inside the command (116 s compiling
  the 3 programs with a cold cache, 66 s training, 2 CPU devices), 207 s wall.
* ``paper``: ``tfds:cifar10`` (5,000 training images per class; prepare it offline, see
  :mod:`imbjax.data.tfds_loader`), All-CNN-C (the AlexNet variant they used is not in
  :mod:`imbjax.models`), batch 128, 4,000 Adam steps (about 10 epochs of the balanced pool, as
  they trained), 3 seeds: 90 runs of a CIFAR CNN, for an accelerator (days on 2 CPU cores).

  Recipe (the survey is the source consulted for this paper; its training details were not available
  here, so a row marked "imbjax's choice" is a choice, not a transcription):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:cifar10',)``                              survey: CIFAR-10
  profile               ``profiles=('step', 'linear', 'exp')``                      imbjax's choice of kinds (their
                                                                                    shares not in the survey)
  imbalance             ``rhos=(1.0, 1.5, 2.3)``                                    survey Table 3: rho up to 2.3
  minority share        ``mus=(0.1, 0.5, 0.9)``                                     imbjax's choice: one, half or nine
                                                                                    of ten classes minority
  seeds                 ``seeds=3``                                                 survey: three runs per experiment,
                                                                                    averaged
  model                 ``model='all_cnn'``                                         stand-in: their AlexNet variant
                                                                                    (survey) is not in
                                                                                    ``imbjax.models``
  model arguments       ``model_kwargs={}``                                         All-CNN-C's defaults
  optimizer             ``optimizer='adam'``                                        imbjax's choice (not in the
                                                                                    survey): Adam
  learning rate         ``learning_rates=(0.001,)``                                 imbjax's choice (not in the
                                                                                    survey)
  weight decay          ``weight_decays=(0.0,)``                                    imbjax's choice (not in the
                                                                                    survey): none
  batch                 ``batch_size=128``                                          imbjax's choice (not in the
                                                                                    survey)
  length                ``num_steps=4000``                                          survey: 10 epochs; 4,000 x 128 =
                                                                                    10.2 epochs of the 50,000 pool
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
    ["results/hensman2015_ros/run",
     "--out", "results/hensman2015_ros/report", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "accuracy"],
    ["results/hensman2015_ros/run",
     "--out", "results/hensman2015_ros/report/seeds", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "accuracy", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"hensman2015_ros_{scale}"
    config.profiles = ("step", "linear", "exp")
    config.rhos = (1.0, 1.5, 2.3)
    config.mus = (0.1, 0.5, 0.9)
    config.minority = "last"
    config.methods = ("baseline", "ros")
    config.figure_metrics = ("balanced_accuracy", "accuracy", "min_class_recall")
    if scale == "small":
        small_scale(config)
    else:
        paper_scale(config, datasets=("tfds:cifar10",), model="all_cnn", model_kwargs={}, optimizer="adam",
                    learning_rate=1e-3, num_steps=4000)
    return config
