"""Zhang et al., CSDBN-DE: misclassification costs on the network's outputs, evolved by differential evolution.

    imbjax run experiments/zhang_de_costs.py --workdir runs/zhang_de_costs
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/zhang_de_costs.py --workdir runs/zhang_de_costs_paper
    imbjax report runs/zhang_de_costs --baseline baseline --metric balanced_accuracy --metric g_mean

The committed results (``results/zhang_de_costs/``) were made and analysed by::

    imbjax run experiments/zhang_de_costs.py --workdir results/zhang_de_costs/run --set name=zhang_de_costs
    imbjax report results/zhang_de_costs/run --out results/zhang_de_costs/report --baseline baseline --metric balanced_accuracy --metric g_mean --metric min_class_recall
    imbjax report results/zhang_de_costs/run --out results/zhang_de_costs/report/seeds --baseline baseline --metric balanced_accuracy --metric g_mean --metric min_class_recall --blocks seeds

What it reproduces (in direction): Zhang et al.'s CSDBN-DE (survey "CSDBN-DE"; the journal version
ECS-DBN, IEEE TNNLS 2018) builds misclassification costs into the output layer's softmax, evolves them
by differential evolution on training-set scores (G-mean in ECS-DBN) and applies the best costs to the
output layer of the final network for inference; the survey reports it above the cost-insensitive
network on 42 binary KEEL data sets (rho up to 128, survey Table 18). Here
(:mod:`imbjax.methods.costs`): ``de_costs`` (a per-class cost vector in the softmax; every 30
steps DE runs 10 generations of 40 cost vectors scored on forward passes of the fixed network, fitness
the training-set G-mean of the cost-adjusted predictions; the final costs applied at inference as the
minimum-expected-cost class) against ``baseline`` (plain cross-entropy), ``cs_ce`` with a hand-set cost
(minority misclassification 2x, the fixed-cost alternative) and ``threshold`` (Buda et al.'s threshold
moving, a fixed cost vector 1 / prior applied at inference only). Ablations that rule the implementation
in or out: ``de_costs`` with ``inference_costs = 0`` (the evolved costs in training only, plain argmax
at inference), ``de_costs_validation`` (the same DE with its fitness on the held-out validation part,
since a network that fits its training set leaves the training-set G-mean flat at 1) and
``de_costs_matrix`` (a full 10 x 10 cost matrix, 90 evolved numbers, instead of the vector). Expected
in direction: de_costs at or above the baseline and cs_ce in balanced accuracy and G-mean.

Imbalance: step with half the classes minority (mu = 0.5, the last ones) at rho in {10, 50}. Every
method of a seed trains on the same imbalanced subset; 15% of every pool class is held out first as the
shared validation part (``validation_fraction = 0.15``; only ``de_costs_validation`` reads it, every
run reports ``val_*`` metrics on it).

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 100: minority classes of 10 and 2 training examples; the
  validation part holds 18-19 examples per class), an MLP 64-128-128-10, 300 Adam steps of batch 64,
  10 seeds: 140 runs in 3 compiled programs (standard, DE vector, DE matrix). Runtime on the project's
  2-core CPU machine at load average 5-8: 191 s inside the command cold (136 s compiling, 53 s
  training), 66 s with the compilation cache warm.
* ``paper``: the KEEL data are tabular files, not tfds; the same comparison on ``tfds:mnist``
  (n_max = 4,600 after the validation part) at rho in {10, 100}, an MLP with two hidden layers of 500
  (the size of a small DBN), 3,000 Adam steps of batch 128, 3 seeds: 42 runs, for an accelerator.

  Recipe (the survey is the source consulted for this paper; its training details were not available
  here, so a row marked "imbjax's choice" is a choice, not a transcription):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:mnist',)``                                stand-in: their KEEL tables are
                                                                                    not tfds
  profile               ``profiles=('step',)``                                      imbjax's choice: step
  imbalance             ``rhos=(10.0, 100.0)``                                      imbjax's choice
  validation part       ``validation_fraction=0.15``                                imbjax's choice: 15% per class,
                                                                                    read by ``de_costs_validation``
  seeds                 ``seeds=3``                                                 not in the survey; imbjax's budget
  model arguments       ``model_kwargs={'hidden': (500, 500)}``                     imbjax's choice (not in the
                                                                                    survey): an MLP 500-500 for their
                                                                                    DBN
  optimizer             ``optimizer='adam'``                                        imbjax's choice (not in the
                                                                                    survey): Adam
  learning rate         ``learning_rates=(0.001,)``                                 imbjax's choice (not in the
                                                                                    survey)
  weight decay          ``weight_decays=(0.0,)``                                    imbjax's choice (not in the
                                                                                    survey): none
  batch                 ``batch_size=128``                                          imbjax's choice (not in the
                                                                                    survey)
  length                ``num_steps=3000``                                          imbjax's choice (not in the
                                                                                    survey)
  schedule              ``lr_schedule='constant'``                                  imbjax's choice (not in the
                                                                                    survey): constant
  batches               ``batch_sampling='iid'``                                    imbjax's choice (not in the
                                                                                    survey): i.i.d. draws
  augmentation          ``augment='none'``                                          imbjax's choice (not in the
                                                                                    survey): none
  method settings       ``hparams={'de_costs': {'inference_costs': (1.0, 0.0)}}``   imbjax's ablation: the evolved
                                                                                    costs at inference or not
  ====================  ==========================================================  ==================================
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/zhang_de_costs/run",
     "--out", "results/zhang_de_costs/report", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "g_mean", "--metric", "min_class_recall"],
    ["results/zhang_de_costs/run",
     "--out", "results/zhang_de_costs/report/seeds", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "g_mean", "--metric", "min_class_recall", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"zhang_de_costs_{scale}"
    config.profiles = ("step",)
    config.mus = (0.5,)
    config.minority = "last"
    config.validation_fraction = 0.15
    config.methods = ("baseline", "cs_ce", "threshold", "de_costs", "de_costs_validation", "de_costs_matrix")
    config.hparams = {"de_costs": {"inference_costs": (1.0, 0.0)}}
    config.figure_metrics = ("balanced_accuracy", "g_mean", "min_class_recall")
    if scale == "small":
        small_scale(config)
        config.rhos = (10.0, 50.0)
    else:
        paper_scale(config, datasets=("tfds:mnist",), model="mlp", model_kwargs={"hidden": (500, 500)},
                    optimizer="adam", learning_rate=1e-3, num_steps=3000)
        config.rhos = (10.0, 100.0)
    return config
