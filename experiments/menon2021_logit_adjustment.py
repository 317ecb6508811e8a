"""Menon et al. (2021): logit adjustment, as a loss and post hoc, against plain cross-entropy.

    imbjax run experiments/menon2021_logit_adjustment.py --workdir runs/menon2021_logit_adjustment
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/menon2021_logit_adjustment.py \
        --workdir runs/menon2021_paper
    imbjax report results/menon2021_logit_adjustment/run --out results/menon2021_logit_adjustment/report --baseline baseline --metric balanced_accuracy
    imbjax report results/menon2021_logit_adjustment/run --out results/menon2021_logit_adjustment/report/seeds --baseline baseline --metric balanced_accuracy --blocks seeds

What it reproduces (Menon et al. 2021, Table 2, in direction): adding tau log(prior) to the
logits, either inside the softmax cross-entropy during training (the logit-adjusted loss) or
subtracting it from a cross-entropy network's logits at test time (post-hoc adjustment), raises
balanced accuracy on long-tailed data well above plain cross-entropy; tau = 1 is the
Bayes-consistent choice and the loss form is a little better than post hoc (CIFAR-10-LT,
rho = 100, ResNet-32: logit-adjusted loss 22.33% balanced error). Methods: ``baseline`` (CE),
``logit_adjusted`` and ``logit_adjust_posthoc`` with tau in {0.5, 1, 1.5, 2}, and
``balanced_softmax`` (Ren et al. 2020). Two built-in checks: balanced softmax is the tau = 1
logit-adjusted loss (log counts and log priors differ by a constant the softmax ignores, and both
predict with the plain softmax), so its rows equal ``logit_adjusted`` at tau = 1; and the post-hoc
runs share the baseline's training (same seed, subset and batches, equal ``train_loss``) and
differ only at test time.

Imbalance: exponential (CIFAR-10-LT) at rho in {10, 100}, minority classes last.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits and ten-class synthetic Gaussian clusters, both with n_max = 100 so
  both ratios are exact (smallest class 10 / 1 examples at rho 10 / 100), an MLP with hidden layers
  128-128, 300 Adam steps of batch 64, 10 seeds: 400 runs in 2 compiled programs. Measured on the
  project's 2-core CPU machine with other jobs running: 113 s inside the command (56 s compiling
  with a cold cache, 56 s training), 131 s wall.
* ``paper``: ``tfds:cifar10`` (CIFAR-10-LT, n_max = 5,000), a ResNet-32, 16,000 SGD steps
  (lr 0.1, momentum 0.9) of batch 128, 3 seeds: 60 runs, for an accelerator.
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/menon2021_logit_adjustment/run",
     "--out", "results/menon2021_logit_adjustment/report", "--baseline", "baseline", "--metric", "balanced_accuracy"],
    ["results/menon2021_logit_adjustment/run",
     "--out", "results/menon2021_logit_adjustment/report/seeds", "--baseline", "baseline",
     "--metric", "balanced_accuracy", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"menon2021_logit_adjustment_{scale}"
    config.profiles = ("exp",)
    config.rhos = (10.0, 100.0)
    config.minority = "last"
    config.methods = ("baseline", "logit_adjusted", "logit_adjust_posthoc", "balanced_softmax")
    taus = (0.5, 1.0, 1.5, 2.0)
    config.hparams = {"logit_adjusted": {"tau": taus}, "logit_adjust_posthoc": {"tau": taus}}
    config.figure_metrics = ("balanced_accuracy", "accuracy", "min_class_recall")
    if scale == "small":
        small_scale(config, datasets=("digits", "synthetic"))
    else:
        paper_scale(config, datasets=("tfds:cifar10",), num_steps=16000)
    return config
