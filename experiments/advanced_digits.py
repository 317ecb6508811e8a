"""Advanced methods (learned costs, DOS, LMLE, CRL) against baseline, ROS and focal on digits.

    imbjax run experiments/advanced_digits.py --workdir results/advanced_digits/run
    imbjax report results/advanced_digits/run --out results/advanced_digits/report --baseline baseline \
        --metric balanced_accuracy --metric macro_f1 --metric g_mean --metric min_class_recall \
        --metric ovr_roc_auc --blocks settings

What it compares: the methods of the survey's "advanced" group that imbjax implements, each with
its defaults (``imbjax methods``): CoSen with the cost-sensitive CE (``cosen``) and hinge loss
(``cosen_hinge``), Khan et al. 2018; CSDBN-DE costs by differential evolution (``de_costs``),
Zhang et al.; deep over-sampling (``dos``), Ando & Huang 2017; large margin local embedding
(``lmle``), Huang et al. 2016; class rectification loss with class- and instance-level hard mining
(``crl``, ``crl_instance``), Dong et al. 2017; against plain cross-entropy (``baseline``), random
over-sampling (``ros``) and the focal loss (``focal``, gamma 2, alpha 1: no class weighting, so it
does not work against re-balancing).

Data and grid: scikit-learn digits (1,257 in the training pool, 122-128 per class). A stratified
validation part of 15% of every class (18-19 examples per class, balanced) is carved from the pool
first; CoSen reads it to set its costs, and no method trains on it. The imbalanced training subset
is chosen from the rest with n_max = 100, so every ratio is exact: step imbalance with half the
classes minority (mu = 0.5, the last five classes), rho in {10, 20, 50} (a minority class keeps 10,
5 and 2 examples), 10 seeds: 300 runs in 6 compiled programs (standard, CoSen, DE costs, DOS, LMLE,
CRL). A seed's subset, validation part and initial network are shared by every method, so
comparisons are paired and every method trains on the same examples. An MLP 64-128-128-10, Adam (lr
1e-3, batch 64), 300 steps for every method.

Measured on the project's 2-core CPU machine with other jobs running (load average 8-15): 724 s
inside ``imbjax run`` (334 s compiling the 6 programs, 380 s training; CRL's and LMLE's programs
train slowest, 128 s and 102 s), 12.5 minutes wall; ``python scripts/make_figures.py --study
advanced_digits`` (report and ``analyse.py``) about 1.5 minutes.
``results/advanced_digits/FINDINGS.md`` says where each method helps on this data.
"""
from imbjax.config import base_config, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/advanced_digits/run",
     "--out", "results/advanced_digits/report", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "macro_f1", "--metric", "g_mean", "--metric", "min_class_recall", "--metric", "ovr_roc_auc",
     "--blocks", "settings"],
]

ADVANCED_METHODS = ("cosen", "cosen_hinge", "de_costs", "dos", "lmle", "crl", "crl_instance")
REFERENCE_METHODS = ("baseline", "ros", "focal")


def get_config():
    config = base_config()
    config.name = "advanced_digits"
    small_scale(config)
    config.profiles = ("step",)
    config.rhos = (10.0, 20.0, 50.0)
    config.mus = (0.5,)
    config.minority = "last"
    config.methods = REFERENCE_METHODS + ADVANCED_METHODS
    config.hparams = {"focal": {"gamma": (2.0,), "alpha": (1.0,)}}
    config.figure_metrics = ("balanced_accuracy", "min_class_recall", "ovr_roc_auc")
    config.validation_fraction = 0.15  # CoSen and CSDBN-DE tune on it; every method trains without it
    return config
