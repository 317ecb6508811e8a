"""Quickstart: five methods on imbalanced digits, 10 seeds, in one command.

    imbjax run experiments/quickstart.py --workdir runs/quickstart

scikit-learn's digits (1,797 real 8x8 handwritten digits; 1,257 in the training pool), step
imbalance with half the classes minority (mu = 0.5) at rho in {1, 10, 20, 50}, 10 seeds, an MLP
64-128-128-10 trained for 300 Adam steps of batch 64. n_max = 100, so every rho trains exactly:
majority classes of 100 examples, minority classes of 100 / 10 / 5 / 2. Methods: baseline, ROS,
RUS, cost-sensitive CE (minority cost 2x) and threshold moving (Buda et al. 2018). 200 runs in
one compiled program (all five methods share a training program), sharded over the CPU cores.
Measured in a fresh clone on the project's 2-core CPU machine with nothing else running: 9.9 s inside
the command on a cold start (4.6 s compiling, 4.7 s training; README "What the quickstart does").
Writes runs.csv, meta.json and figure.png (balanced accuracy and one-vs-rest ROC AUC against rho).
"""
from imbjax.config import base_config, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (scripts/make_figures.py): none.
REPORTS = []


def get_config():
    config = base_config()
    config.name = "quickstart"
    small_scale(config)
    config.profiles = ("step",)
    config.rhos = (1.0, 10.0, 20.0, 50.0)
    config.mus = (0.5,)
    config.methods = ("baseline", "ros", "rus", "cs_ce", "threshold")
    return config
