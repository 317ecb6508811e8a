"""Zhang et al., CSDBN-DE: a cost matrix on the network's outputs, evolved by differential evolution.

    imbjax run experiments/zhang_de_costs.py --workdir runs/zhang_de_costs
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/zhang_de_costs.py --workdir runs/zhang_de_costs_paper
    imbjax report runs/zhang_de_costs --baseline baseline --metric balanced_accuracy --metric g_mean

The committed results (``results/zhang_de_costs/``) were made and analysed by::

    imbjax run experiments/zhang_de_costs.py --workdir results/zhang_de_costs/run --set name=zhang_de_costs
    imbjax report results/zhang_de_costs/run --out results/zhang_de_costs/report --baseline baseline --metric balanced_accuracy --metric g_mean --metric min_class_recall
    imbjax report results/zhang_de_costs/run --out results/zhang_de_costs/report/seeds --baseline baseline --metric balanced_accuracy --metric g_mean --metric min_class_recall --blocks seeds

What it reproduces (in direction): Zhang et al.'s CSDBN-DE (survey "CSDBN-DE") searches the
misclassification costs of a deep belief network by differential evolution, scoring each cost
matrix by the network's validation performance, instead of fixing the costs by hand; the survey
reports it above the cost-insensitive network on 42 binary KEEL data sets (rho up to 128, survey
Table 18). Here (:mod:`imbjax.method_library.costs`): ``de_costs`` (a population of 4 cost
matrices trained in parallel for 3 generations, fitness the validation balanced accuracy, DE rates
evosax's defaults, an MLP trained by backpropagation instead of a pre-trained DBN) against
``baseline`` (plain cross-entropy) and ``cs_ce`` with a hand-set cost (minority misclassification
2x, the fixed-cost alternative). Expected in direction: de_costs at or above both in balanced
accuracy and G-mean. Note that de_costs trains 4 networks per run (the population), so it spends
4x the network updates of the other two.

Imbalance: step with half the classes minority (mu = 0.5, the last ones) at rho in {10, 50}.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 122: minority classes of 12 and 2 examples), an MLP
  64-128-128-10, 300 Adam steps of batch 64, 10 seeds: 60 runs in 2 compiled programs
  (standard, DE costs). Expected runtime on the project's 2-core CPU machine: about 1-2 minutes
  (measured 93 s with other jobs running: 65 s compiling, 13 s training).
* ``paper``: the KEEL data are tabular files, not tfds; the same comparison on ``tfds:mnist``
  (n_max = 5,421) at rho in {10, 100}, an MLP with two hidden layers of 500 (the size of a small
  DBN), 3,000 Adam steps of batch 128, 3 seeds: 18 runs, for an accelerator.
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"zhang_de_costs_{scale}"
    config.profiles = ("step",)
    config.mus = (0.5,)
    config.minority = "last"
    config.methods = ("baseline", "cs_ce", "de_costs")
    config.figure_metrics = ("balanced_accuracy", "g_mean", "min_class_recall")
    if scale == "small":
        small_scale(config)
        config.rhos = (10.0, 50.0)
    else:
        paper_scale(config, datasets=("tfds:mnist",), model="mlp", model_kwargs={"hidden": (500, 500)},
                    optimizer="adam", learning_rate=1e-3, num_steps=3000)
        config.rhos = (10.0, 100.0)
    return config
