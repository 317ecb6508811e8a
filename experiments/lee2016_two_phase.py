"""Lee et al. (2016): two-phase learning on a long-tailed class distribution (plankton images).

    imbjax run experiments/lee2016_two_phase.py --workdir runs/lee2016_two_phase
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/lee2016_two_phase.py \
        --workdir runs/lee2016_two_phase_paper
    imbjax report results/lee2016_two_phase/run --out results/lee2016_two_phase/report --baseline baseline --metric macro_f1 --metric ovr_roc_auc --blocks settings
    imbjax report results/lee2016_two_phase/run --out results/lee2016_two_phase/report/seeds --baseline baseline --metric macro_f1 --metric ovr_roc_auc --blocks seeds

What it reproduces (survey Table 5, in direction): pre-training on *thresholded* data (every class
with more than N examples randomly under-sampled to N) and then fine-tuning the whole network on
all the data, Lee et al.'s (G) "Thresh + full", beats plain training (A) "Full" on the unweighted
mean F1 (``macro_f1``), mostly through the small classes, while keeping the large classes'
F1 that thresholded training alone, (D) "Thresh", loses. Methods and variants:

* ``baseline`` (A); ``ros`` and ``rus`` (balanced one-phase references);
* ``two_phase_threshold_n`` with ``phase1_fraction`` 0.5 (G) and 1.0 (D: thresholded training
  only, no fine-tuning), whole-network fine-tuning at 0.1x the learning rate;
* ``two_phase_ros`` and ``two_phase_rus`` (Buda et al.'s methods C and D) with fine-tuning of the
  output layer only (``finetune_head_only = 1``, Buda et al.) and of the whole network (0, Lee et
  al.), at 0.1x the learning rate.

Lee et al.'s noise-injection and augmentation variants (B, C, E, F) are not implemented. Their
data (WHOI-Plankton, 103 classes, rho > 650, 90% of the images in five classes) is long-tailed,
so the profile here is exponential (Cao et al.'s long tail), minority classes last, and
N is set relative to the largest class (Lee et al.: N = 5000, far below their head classes).

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 100, so every ratio is exact), exponential imbalance at
  rho in {10, 50, 100} (at rho = 100 the class sizes are 100, 59, 35, 21, 12, 7, 4, 2, 1, 1), N = 25
  (the six / four / three largest classes are thresholded at rho = 10 / 50 / 100), an MLP
  64-128-128-10, 300 Adam steps of batch 64, 10 seeds: 270 runs in 2 compiled programs (standard,
  two-phase). Measured for the committed results on the project's 2-core CPU machine with other jobs
  running: 145 s inside the command (71 s compiling, 72 s training), 165 s wall.
* ``paper``: ``tfds:cifar100`` as CIFAR-100-LT (n_max = 500, rho in {10, 50, 100}; 100 classes,
  the closest tfds stand-in for 103 plankton classes), N = 100, a ResNet-32, 8,000 SGD steps
  (lr 0.1, momentum 0.9) of batch 128, 3 seeds: 81 runs, for an accelerator.

  Recipe (the survey is the source consulted for this paper; its training details were not available
  here, so a row marked "imbjax's choice" is a choice, not a transcription):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:cifar100',)``                             stand-in: WHOI-Plankton (103
                                                                                    classes, survey) is not in tfds
  profile               ``profiles=('exp',)``                                       imbjax's choice: long-tailed, as
                                                                                    plankton counts
  imbalance             ``rhos=(10.0, 50.0, 100.0)``                                imbjax's choice
  seeds                 ``seeds=3``                                                 not in the survey; imbjax's budget
  model                 ``model='resnet'``                                          imbjax's choice (not in the
                                                                                    survey): CIFAR ResNet
  model arguments       ``model_kwargs={'depth': 32}``                              imbjax's choice (not in the
                                                                                    survey): ResNet-32 with GroupNorm
                                                                                    (the default)
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
  method settings       ``hparams={'two_phase_ros': {'finetune_head_only': (0.0,    survey: N = 5,000 on 3.4 million
                        1.0)}, 'two_phase_rus': {'finetune_head_only': (0.0,        images; here N = 100 of n_max 500
                        1.0)}, 'two_phase_threshold_n': {'finetune_head_only':      (imbjax's)
                        (0.0,), 'phase1_fraction': (0.5, 1.0), 'threshold_n':
                        (100.0,)}}``
  ====================  ==========================================================  ==================================
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/lee2016_two_phase/run",
     "--out", "results/lee2016_two_phase/report", "--baseline", "baseline", "--metric", "macro_f1",
     "--metric", "ovr_roc_auc", "--blocks", "settings"],
    ["results/lee2016_two_phase/run",
     "--out", "results/lee2016_two_phase/report/seeds", "--baseline", "baseline", "--metric", "macro_f1",
     "--metric", "ovr_roc_auc", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"lee2016_two_phase_{scale}"
    config.profiles = ("exp",)
    config.rhos = (10.0, 50.0, 100.0)
    config.minority = "last"
    config.methods = ("baseline", "ros", "rus", "two_phase_threshold_n", "two_phase_ros", "two_phase_rus")
    threshold_n = 25.0 if scale == "small" else 100.0
    config.hparams = {
        "two_phase_threshold_n": {"phase1_fraction": (0.5, 1.0), "threshold_n": (threshold_n,),
                                  "finetune_head_only": (0.0,)},
        "two_phase_ros": {"finetune_head_only": (0.0, 1.0)},
        "two_phase_rus": {"finetune_head_only": (0.0, 1.0)},
    }
    config.figure_metrics = ("macro_f1", "ovr_roc_auc", "min_class_recall")
    if scale == "small":
        small_scale(config)
    else:
        paper_scale(config, datasets=("tfds:cifar100",))
    return config
