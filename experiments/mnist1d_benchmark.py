"""MNIST-1D's published benchmark (Greydanus & Kobak, ICML 2024): logistic regression, MLP and CNN
on the balanced data set, reproduced in imbjax.

    imbjax run experiments/mnist1d_benchmark.py --workdir results/mnist1d_benchmark/run

What it reproduces: the test accuracies of the paper's README table for MNIST-1D, logistic
regression 32%, MLP 68%, CNN 94% (greydanus/mnist1d README.md), with the paper's data (the
``mnist1d`` package's default arguments: 4,000 training and 1,000 test examples of length 40,
generator seed 42), its three models (:class:`imbjax.models.Mnist1dLogistic`,
:class:`~imbjax.models.Mnist1dMLP`, :class:`~imbjax.models.Mnist1dCNN`, from its
notebooks/models.py) and its recipe (notebooks/train.py): Adam, learning rate 1e-2, no weight
decay, batch 100, 8,000 steps, cross-entropy, the test accuracy of the final parameters.

Differences from the paper's loop, which are the engine's: batches are drawn uniformly with
replacement from the training subset (the paper walks through the data in order, 40 batches per
epoch, 200 epochs), and the training subset is step imbalance at rho 1 from n_max = the smallest
class of the pool (394 of every class, 3,940 of the 4,000 examples; the package's split is not
exactly stratified). 10 seeds vary the subset, the initialisation and the batches, never the data.

Runtime, measured on the project's 2-core CPU machine while other engineers' tests were running
(load average 4.5-7, so inflated): 30 runs in 174 s inside the command (60 s compiling 3 programs;
training 4 s for the logistic runs, 37 s for the MLP runs, 71 s for the CNN runs, which train one
run per device per call), 183 s wall. Results, ``table.md`` and ``figure.png`` (by
``results/mnist1d_benchmark/analyse.py``) are in ``results/mnist1d_benchmark/``.
"""
from imbjax.config import base_config

#: The ``imbjax report`` argument lists that make the reports under results/ (scripts/make_figures.py): none.
REPORTS = []


def get_config():
    config = base_config()
    config.name = "mnist1d_benchmark"
    config.datasets = ("mnist1d",)
    config.profiles = ("step",)
    config.rhos = (1.0,)
    config.mus = (0.5,)
    config.seeds = 10
    config.methods = ("baseline",)
    config.models = (("logistic", {"model": "mnist1d_logistic"}),
                     ("mlp", {"model": "mnist1d_mlp"}),
                     ("cnn", {"model": "mnist1d_cnn"}))
    config.optimizer = "adam"
    config.learning_rates = (1e-2,)
    config.batch_size = 100
    config.num_steps = 8000
    config.figure_metrics = ("accuracy", "balanced_accuracy")
    return config
