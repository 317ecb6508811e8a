"""The long-tail methods of the 2020s on MNIST-1D-LT (issue 18): the long-tailed MNIST-1D of
``experiments/mnist1d_lt.py``, with the paper's CNN, at rho = 100.

    imbjax run experiments/long_tail_2020s_mnist1d.py --workdir results/long_tail_2020s_mnist1d/run
    imbjax report results/long_tail_2020s_mnist1d/run --out results/long_tail_2020s_mnist1d/report --baseline baseline --metric accuracy --metric balanced_accuracy
    imbjax report results/long_tail_2020s_mnist1d/run --out results/long_tail_2020s_mnist1d/report/selected --baseline baseline --metric accuracy --metric balanced_accuracy --select-by val_balanced_accuracy
    imbjax report results/long_tail_2020s_mnist1d/run --out results/long_tail_2020s_mnist1d/report/selected_vs_ldam_drw --baseline ldam_drw --metric accuracy --select-by val_balanced_accuracy
    imbjax report results/long_tail_2020s_mnist1d/run --out results/long_tail_2020s_mnist1d/report/selected_vs_mixup --baseline mixup --metric accuracy --select-by val_balanced_accuracy

Methods: the comparators CE (``baseline``), class-balanced focal (``cb_focal``), LDAM-DRW
(``ldam_drw``), logit adjustment (``logit_adjusted``) and balanced softmax (``balanced_softmax``); VS,
IB, LADE and GCL; cRT, tau-normalisation (tau in {1, 1.5}), LWS, DRS, weight balancing, mixup, manifold
mixup, Remix and MiSLAS, each at its paper defaults (the papers' epoch
splits as fractions of the steps: cRT's classifier stage is the last 200 of 2,000 steps, LWS 105,
MiSLAS 95, weight balancing 61; DRS and DRW switch at step 1,600). ``experiments/long_tail_2020s.py``
has the same methods on digits, with the ablations of the classifier stage's length and learning rate.
Two ablations here: weight balancing's classifier weight decay, the paper's 0.1 (meant for SGD) and the run's
5e-4 (``classifier_weight_decay``), and VS's multiplicative term, the paper's ``gamma = 0.2`` and ``gamma =
0`` (the logit-adjusted loss). A method's setting is selected per seed on the validation part
(``--select-by val_balanced_accuracy``; the validation part is balanced, so that is its accuracy).

Design: MNIST-1D generated offline, 6,000 training and 1,000 test signals per class (``num_samples =
70,000, train_split = 6/7, stratified``); a validation part of 1,000 signals per class carved first
(``validation_fraction = 1/6``, the same signals for every method of a seed), leaving a pool of 5,000
per class, from which the exponential profile at rho = 100 and n_max = 5,000 keeps CIFAR-10-LT's exact
counts (5,000 ... 50; 12,406 signals), minority classes last; the test set is balanced, so accuracy is
the long-tail literature's metric. The paper CNN (:class:`imbjax.models.Mnist1dCNN`), Adam at lr 1e-2,
batch 100 (the MNIST-1D benchmark's recipe), coupled weight decay 5e-4 for every method (weight
balancing's first stage is CE with weight decay; here CE has the same decay, so the claim tested is
that its second stage adds to CE with weight decay; the digits study has the decay as an axis), 2,000
steps (16 epochs of the subset), 10 seeds. The stage-wise families draw their own i.i.d. batches, so
no method uses epoch sampling or augmentation. 21 method settings x 10 seeds = 210 runs in 4 compiled
programs.

Runtime on the project's 2-core CPU machine, loaded by other jobs (load average 8-12): 1,205 s inside the
command for the first 190 runs (compiling the 4 programs about 180 s), and 69 s for the 20 runs the two
ablation settings added to the same work directory.
"""
from imbjax.config import base_config

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/long_tail_2020s_mnist1d/run",
     "--out", "results/long_tail_2020s_mnist1d/report", "--baseline", "baseline", "--metric", "accuracy", "--metric", "balanced_accuracy"],
    ["results/long_tail_2020s_mnist1d/run",
     "--out", "results/long_tail_2020s_mnist1d/report/selected", "--baseline", "baseline", "--metric", "accuracy", "--metric", "balanced_accuracy", "--select-by", "val_balanced_accuracy"],
    ["results/long_tail_2020s_mnist1d/run",
     "--out", "results/long_tail_2020s_mnist1d/report/selected_vs_ldam_drw", "--baseline", "ldam_drw", "--metric", "accuracy", "--select-by", "val_balanced_accuracy"],
    ["results/long_tail_2020s_mnist1d/run",
     "--out", "results/long_tail_2020s_mnist1d/report/selected_vs_mixup", "--baseline", "mixup", "--metric", "accuracy", "--select-by", "val_balanced_accuracy"],
]

COMPARATORS = ("baseline", "cb_focal", "ldam_drw", "logit_adjusted", "balanced_softmax")
LOSSES_2020S = ("vs", "ib", "lade", "gcl")
STAGEWISE = ("crt", "tau_norm", "lws", "drs", "weight_balancing", "mixup", "manifold_mixup", "remix", "mislas")


def get_config():
    config = base_config()
    config.name = "long_tail_2020s_mnist1d"
    config.datasets = ("mnist1d",)
    config.dataset_kwargs = {"mnist1d": {"num_samples": 70_000, "train_split": 6 / 7, "stratified": True}}
    config.validation_fraction = 1 / 6
    config.profiles = ("exp",)
    config.rhos = (100.0,)
    config.mus = (0.5,)
    config.minority = "last"
    config.n_max = 5000
    config.seeds = 10
    config.methods = (*COMPARATORS, *LOSSES_2020S, *STAGEWISE)
    config.hparams = {
        "tau_norm": {"tau": (1.0, 1.5)},
        # ablations (module docstring): weight balancing's classifier decay under Adam, VS's multiplicative term
        "weight_balancing": {"classifier_weight_decay": (0.1, 5e-4)},
        "vs": {"gamma": (0.2, 0.0)},
    }
    config.model = "mnist1d_cnn"
    config.model_kwargs = {}
    config.optimizer = "adam"
    config.learning_rates = (1e-2,)
    config.weight_decays = (5e-4,)
    config.batch_size = 100
    config.num_steps = 2000
    config.figure_metrics = ("accuracy", "balanced_accuracy", "min_class_recall")
    return config
