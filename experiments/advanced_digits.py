"""Advanced methods (learned costs, DOS, LMLE, CRL) against baseline, ROS and focal on digits.

    imbjax run experiments/advanced_digits.py --workdir results/advanced_digits/run
    imbjax report results/advanced_digits/run --out results/advanced_digits/report --baseline baseline \
        --metric balanced_accuracy --metric macro_f1 --metric g_mean --metric min_class_recall \
        --metric ovr_roc_auc

What it compares: the methods of the survey's "advanced" group that imbjax implements, each with
its defaults (``imbjax methods``): CoSen with the cost-sensitive CE (``cosen``) and hinge loss
(``cosen_hinge``), Khan et al. 2018; CSDBN-DE costs by differential evolution (``de_costs``),
Zhang et al.; deep over-sampling (``dos``), Ando & Huang 2017; large margin local embedding
(``lmle``), Huang et al. 2016; class rectification loss with class- and instance-level hard mining
(``crl``, ``crl_instance``), Dong et al. 2017; against plain cross-entropy (``baseline``), random
over-sampling (``ros``) and the focal loss (``focal``, gamma 2, alpha 1: no class weighting, so it
does not work against re-balancing; the committed results used alpha = 0.25 on the minority classes
and 0.75 on the others, which weighted the minority classes a third as much).

Data and grid: scikit-learn digits (1,257 in the training pool, n_max = 122), step imbalance with
half the classes minority (mu = 0.5, the last five classes), rho in {10, 20, 50} (a minority class
keeps 12, 6 and 2 examples), 10 seeds: 300 runs in 5 compiled programs (standard, CoSen, DE costs,
DOS, LMLE). A seed's subset and initial network are shared by every method, so comparisons are
paired. An MLP 64-128-128-10, Adam (lr 1e-3, batch 64), 300 steps for every method (CoSen and
CSDBN-DE hold out 20% of each class for validation and train on the rest; CSDBN-DE trains a
population of 4 cost matrices, so it does 4x the network updates of the others).

Expected runtime on the project's 2-core CPU machine: about 15 minutes (measured 14 min 18 s with
other jobs running: 191 s compiling the 5 programs, 652 s training, see
``results/advanced_digits/run/meta.json``). Most of it is the standard program: under ``vmap`` a
group evaluates every method's loss for every run, so CRL's batch-wise hard mining is paid by all
150 runs of it (453 s). The report takes about 25 s.
``results/advanced_digits/FINDINGS.md`` says where each method helps on this data.
"""
from imbjax.config import base_config, small_scale

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
