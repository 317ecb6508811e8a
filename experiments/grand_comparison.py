"""Every registered method on every built-in data set, from mild imbalance to class rarity.

    imbjax run experiments/grand_comparison.py --workdir runs/grand_comparison
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/grand_comparison.py \
        --workdir runs/grand_comparison_paper
    imbjax report results/grand_comparison/run --out results/grand_comparison/report --baseline baseline --metric balanced_accuracy --metric ovr_roc_auc --metric macro_f1 --metric min_class_recall --blocks settings
    imbjax report results/grand_comparison/run --out results/grand_comparison/report/seeds --baseline baseline --metric balanced_accuracy --metric ovr_roc_auc --metric macro_f1 --metric min_class_recall --blocks seeds

What it is for: the survey's call for future work (Johnson & Khoshgoftaar 2019, Conclusion):
the methods compared on the same data sets and imbalance levels, with several complementary
metrics and statistical evidence, including class rarity (very few minority examples), which the
surveyed studies left open. The method list is ``imbjax.methods.available()`` read when the config
is loaded, so a newly registered method joins the comparison without editing this file; each
method runs with its registered (paper) hyper-parameters (focal: gamma 2 and alpha 1, no class
weighting, which does not work against re-balancing). Every method of a seed sees the same
imbalanced subset and initial parameters, so ``imbjax report``'s Wilcoxon signed-rank tests
(Holm-corrected) against ``baseline`` are paired.

Imbalance: step, half the classes minority (mu = 0.5; one of two classes for breast cancer, two
of three for wine), minority classes last, rho in {1, 10, 30}. A stratified validation part of 10%
of every class is carved from the pool first (shared by every method of a seed; CoSen,
``de_costs_validation`` and dynamic sampling read it, no method trains on it); n_max is then the
largest class size that trains every rho exactly, and the minority classes keep these many
training examples:

    data set        classes  n_max   rho = 1   rho = 10   rho = 30
    digits             10      90       90         9          3
    breast_cancer       2     120      120        12          4
    wine                3      30       30         3          1
    synthetic          10     120      120        12          4

so rho = 30 is class rarity (1-4 examples) on every data set, and rho = 10 already is on wine.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: digits, breast_cancer, wine and ten-class synthetic data, an MLP with hidden layers
  128-128, 300 Adam steps of batch 64, 10 seeds: 120 runs per method and data set (6,360 runs with
  the 53 methods registered at commit 31a1527), one compiled program per method family, model
  override and data set (56 compiles). Measured on the project's 2-core CPU machine (2 CPU
  devices) with other jobs running (load average 4-12): 2,853 s inside ``imbjax run``, of which
  1,283 s compiling the 56 programs and 1,372 s training (48 minutes wall). Narrow it with e.g.
  ``--set "datasets=('wine',)" --set seeds=3``.
* ``paper``: ``tfds:mnist`` and ``tfds:cifar10`` (n_max = 4,000 on both after the validation part,
  so every rho is exact) at rho in {1, 100, 1000} (the minority classes keep 40 and 4 images at the
  two larger rho), a ResNet-20, 8,000 SGD steps (lr 0.1, momentum 0.9) of batch 128, 3 seeds, for
  an accelerator.

  Recipe (no paper: every row is imbjax's choice, the same for every method so that they stay paired):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:mnist', 'tfds:cifar10')``                 imbjax's choice: a digit and an
                                                                                    object set
  profile               ``profiles=('step',)``                                      imbjax's choice: step, as Buda et
                                                                                    al.
  imbalance             ``rhos=(1.0, 100.0, 1000.0)``                               imbjax's choice: balanced, heavy,
                                                                                    rarity (4 images)
  validation part       ``validation_fraction=0.1``                                 imbjax's choice: 10% per class,
                                                                                    read by the tuning methods
  seeds                 ``seeds=3``                                                 imbjax's budget
  model                 ``model='resnet'``                                          imbjax's choice: CIFAR ResNet
  model arguments       ``model_kwargs={'depth': 20}``                              imbjax's choice: ResNet-20,
                                                                                    GroupNorm (every family trains it)
  optimizer             ``optimizer='sgd'``                                         imbjax's choice
  learning rate         ``learning_rates=(0.1,)``                                   imbjax's choice
  weight decay          ``weight_decays=(0.0,)``                                    imbjax's choice: none
  batch                 ``batch_size=128``                                          imbjax's choice
  length                ``num_steps=8000``                                          imbjax's choice: the shared
                                                                                    accelerator budget
  schedule              ``lr_schedule='constant'``                                  imbjax's choice: constant
  batches               ``batch_sampling='iid'``                                    imbjax's choice: i.i.d. (every
                                                                                    family draws so)
  augmentation          ``augment='none'``                                          imbjax's choice: none (every
                                                                                    family allows it)
  method settings       ``hparams={'two_phase_threshold_n': {'threshold_n':         Lee et al.'s N is absolute (5,000
                        (1000.0,)}}``                                               of their plankton); here below
                                                                                    every n_max
  ====================  ==========================================================  ==================================
"""
from imbjax import methods
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/grand_comparison/run",
     "--out", "results/grand_comparison/report", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "ovr_roc_auc", "--metric", "macro_f1", "--metric", "min_class_recall", "--blocks", "settings"],
    ["results/grand_comparison/run",
     "--out", "results/grand_comparison/report/seeds", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "ovr_roc_auc", "--metric", "macro_f1", "--metric", "min_class_recall", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"grand_comparison_{scale}"
    config.methods = methods.available()
    config.profiles = ("step",)
    config.mus = (0.5,)
    config.minority = "last"
    config.figure_metrics = ("balanced_accuracy", "ovr_roc_auc", "macro_f1", "min_class_recall")
    config.validation_fraction = 0.1  # CoSen, de_costs_validation and dynamic sampling tune on it; shared by all
    if scale == "small":
        small_scale(config, datasets=("digits", "breast_cancer", "wine", "synthetic"))
        config.rhos = (1.0, 10.0, 30.0)
    else:
        paper_scale(config, datasets=("tfds:mnist", "tfds:cifar10"), model_kwargs={"depth": 20})
        config.rhos = (1.0, 100.0, 1000.0)
    # Lee et al.'s N (5,000 on their plankton data) is an absolute class size: here one below every
    # data set's n_max (30 on wine), so that thresholding acts at every rho.
    config.hparams = {"two_phase_threshold_n": {"threshold_n": (10.0 if scale == "small" else 1000.0,)}}
    return config
