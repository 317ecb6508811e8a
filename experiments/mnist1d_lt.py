"""MNIST-1D-LT: CIFAR-10-LT's long-tail design at CPU scale, on MNIST-1D with the paper's CNN.

    imbjax run experiments/mnist1d_lt.py --workdir results/mnist1d_lt/run
    imbjax report results/mnist1d_lt/run --out results/mnist1d_lt/report --baseline baseline --metric accuracy --metric min_class_recall

Design (Cao et al. 2019's CIFAR-10-LT, Cui et al. 2019's exponential profile): a balanced MNIST-1D
pool of 5,000 training signals per class and a balanced test set of 1,000 per class (60,000 signals
generated offline, split stratified: ``num_samples=60_000, train_split=5/6, stratified=True``), the
exponential profile from n_max = 5,000 at rho 10 and 100, i.e. exactly CIFAR-10-LT's class counts
(rho 100: 5,000, 2,997, 1,796, 1,077, 645, 387, 232, 139, 83, 50; 12,406 signals), minority classes
last. Model and recipe of the MNIST-1D benchmark (``experiments/mnist1d_benchmark.py``): the paper's
CNN (:class:`imbjax.models.Mnist1dCNN`), Adam, learning rate 1e-2, batch 100. Methods: ``baseline``
(cross-entropy), ``focal`` (gamma 1, alpha 1: no class weighting, as Cao et al.'s focal
baseline), ``cb_focal`` (beta 0.9999, gamma 1), ``ldam_drw`` (margin 0.5, scale 30, cosine head,
class-balanced re-weighting from 80% of the steps), ``logit_adjusted`` (the loss, tau 1),
``logit_adjust_posthoc`` (CE training, tau 1 at prediction) and ``balanced_softmax``. The test set
is balanced, so accuracy is the long-tail literature's metric.

Budget: 7 methods x 2 rhos x 10 seeds = 140 runs in 2 compiled programs (``ldam_drw``'s cosine head
is a model of its own) of 4,000 steps each (400,000 signals: 32 epochs of the rho = 100 subset, 20 of
the rho = 10 one, far fewer than CIFAR-10-LT's 200), sized to run in under 30 minutes here.
Runtime measured on the project's 2-core CPU machine (``results/mnist1d_lt/run/meta.json``): 1,846 s
inside the command (about 31 minutes; 34 s and a few seconds compiling the 2 programs, the rest
training, one run per device per call) while other jobs loaded the machine (load average 8-13), so
less on a quiet machine; generating the pool the first time adds about half a minute (cached
afterwards). ``results/mnist1d_lt/FINDINGS.md`` compares the ordering with Cao et al.'s Table 2.
"""
from imbjax.config import base_config

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/mnist1d_lt/run",
     "--out", "results/mnist1d_lt/report", "--baseline", "baseline", "--metric", "accuracy",
     "--metric", "min_class_recall"],
]


def get_config():
    config = base_config()
    config.name = "mnist1d_lt"
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
    config.optimizer = "adam"
    config.learning_rates = (1e-2,)
    config.batch_size = 100
    config.num_steps = 4000
    config.figure_metrics = ("accuracy", "balanced_accuracy", "min_class_recall")
    return config
