"""Cao et al. (2019): LDAM loss with deferred re-weighting (LDAM-DRW) on long-tailed data.

    imbjax run experiments/cao2019_ldam.py --workdir runs/cao2019_ldam
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/cao2019_ldam.py \
        --workdir runs/cao2019_ldam_paper
    imbjax report results/cao2019_ldam/run --out results/cao2019_ldam/report --baseline baseline --metric accuracy --metric balanced_accuracy
    imbjax report results/cao2019_ldam/run --out results/cao2019_ldam/report/seeds --baseline baseline --metric accuracy --metric balanced_accuracy --blocks seeds

What it reproduces (Cao et al. 2019, Table 2, in direction): on exponentially imbalanced
(long-tailed) data with a balanced test set, top-1 accuracy ranks cross-entropy ~ focal <
class-balanced focal < LDAM < LDAM-DRW; the published CIFAR-10-LT errors at rho = 100 with a
ResNet-32 are CE 29.64%, focal 29.62%, CB focal 25.43%, LDAM-DRW 22.97%. Comparators from the
later long-tail work: class-balanced CE (Cui et al. 2019) and balanced softmax (Ren et al.
2020). Methods: ``baseline`` (CE), ``focal`` (gamma 1 from Cui et al.'s grid, alpha 1: no class
weighting, as Cao et al.'s focal baseline), ``cb_ce`` and ``cb_focal`` (beta = 0.9999), ``balanced_softmax``,
``ldam`` and ``ldam_drw`` (margin 0.5, scale 30, re-weighting from 80% of the steps, i.e. epoch
160 of 200). Profiles: exponential (CIFAR-10-LT) and step with half the classes minority, both
at rho in {10, 100}, as in the paper. The test set is balanced, so accuracy is their metric.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 122; at rho = 100 the smallest class keeps one example),
  an MLP 64-128-128-10, 300 Adam steps of batch 64, 10 seeds: 280 runs in 2 compiled programs (one
  per profile; every method shares the standard training loop). Expected runtime on the project's
  2-core CPU machine: about 1.5 minutes (estimate from hensman2015_ros.py, measured: ~17 s per
  compile and ~0.1 s per MLP run with other jobs running; not measured).
* ``paper``: ``tfds:cifar10`` (n_max = 5,000: CIFAR-10-LT exactly at rho = 10, 100), a ResNet-32
  (GroupNorm in place of BatchNorm), SGD (lr 0.1, momentum 0.9) of batch 128 for 16,000 steps
  (~200 epochs of CIFAR-10-LT at rho = 100; their warm-up and step decay are not implemented),
  3 seeds: 84 runs, for an accelerator.
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"cao2019_ldam_{scale}"
    config.profiles = ("exp", "step")
    config.rhos = (10.0, 100.0)
    config.mus = (0.5,)
    config.minority = "last"
    config.methods = ("baseline", "focal", "cb_ce", "cb_focal", "balanced_softmax", "ldam", "ldam_drw")
    config.hparams = {"focal": {"gamma": (1.0,), "alpha": (1.0,)}}
    config.figure_metrics = ("accuracy", "balanced_accuracy", "min_class_recall")
    if scale == "small":
        small_scale(config)
    else:
        paper_scale(config, datasets=("tfds:cifar10",), num_steps=16000)
    return config
