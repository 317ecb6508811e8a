"""Buda, Maki & Mazurowski (2018)'s comparison of imbalance methods, on scikit-learn's digits.

    imbjax run experiments/buda2018_digits.py --workdir results/buda2018_digits
    imbjax report results/buda2018_digits --out results/buda2018_digits/report \
        --metric ovr_roc_auc --metric accuracy --metric balanced_accuracy --metric macro_f1 \
        --metric min_class_recall

What it reproduces (in direction, at a much smaller scale): Buda et al.'s MNIST study of
eight methods under step and linear imbalance, scored by multi-class ROC AUC (mean of the
one-vs-rest AUCs) on a balanced test set. Methods: baseline, ROS, RUS, two-phase training with ROS
and with RUS (pre-training on balanced data for half of the steps, then fine-tuning the output
layer on the imbalanced data at 0.1x the learning rate), thresholding (probabilities divided by the
training priors), ROS + thresholding and RUS + thresholding.

Data and grid: digits (8x8 images, 1,257 in the training pool; n_max = 100, the largest at which
every rho below is exact). Step imbalance with a fraction mu in {0.2, 0.5, 0.8} of the classes
minority and rho in {10, 25, 50, 100} (minority classes of 10, 4, 2 and 1 examples), and linear
imbalance at the same rho; 10 seeds; minority classes are the last ones (``minority = "last"``, Buda et al.
drew them at random on MNIST). 1,280 runs.

Model and budget: an MLP 64-128-128-10 with Adam (lr 1e-3, batch 64) for 300 steps (Buda et al.
trained LeNet-5 to convergence with early stopping on MNIST; digits is too small for a CNN to
matter and a CPU sweep wants an MLP). All runs share the seed's imbalanced subset and initial
parameters across methods, so comparisons are paired.

Runtime: measured 5 min on the project's 2-core CPU machine with other jobs running (285 s inside
the command: 94 s compiling 4 programs, {standard, two-phase} x {step, linear}, with a cold cache,
and 189 s training; see ``meta.json``); the report about 45 s. Expected result (Buda et al.): AUC falls as rho
and mu grow; ROS is never below the baseline; RUS is below ROS except with most classes minority;
thresholding raises accuracy. ``results/buda2018_digits/FINDINGS.md`` says which hold here.
"""
from imbjax.config import base_config, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/buda2018_digits",
     "--out", "results/buda2018_digits/report", "--metric", "ovr_roc_auc", "--metric", "accuracy",
     "--metric", "balanced_accuracy", "--metric", "macro_f1", "--metric", "min_class_recall"],
]

BUDA_METHODS = ("baseline", "ros", "rus", "two_phase_ros", "two_phase_rus", "threshold", "ros_threshold",
                "rus_threshold")


def get_config():
    config = base_config()
    config.name = "buda2018_digits"
    small_scale(config)
    config.profiles = ("step", "linear")
    config.rhos = (10.0, 25.0, 50.0, 100.0)
    config.mus = (0.2, 0.5, 0.8)
    config.minority = "last"
    config.methods = BUDA_METHODS
    config.figure_metrics = ("ovr_roc_auc", "accuracy", "balanced_accuracy")
    return config
