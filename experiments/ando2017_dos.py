"""Ando & Huang (2017), deep over-sampling (DOS): minority classes over-sampled in the feature space.

    imbjax run experiments/ando2017_dos.py --workdir runs/ando2017_dos
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/ando2017_dos.py --workdir runs/ando2017_dos_paper
    imbjax report runs/ando2017_dos --baseline baseline --metric balanced_accuracy --metric macro_f1

The committed results (``results/ando2017_dos/``) were made and analysed by::

    imbjax run experiments/ando2017_dos.py --workdir results/ando2017_dos/run --set name=ando2017_dos
    imbjax report results/ando2017_dos/run --out results/ando2017_dos/report --baseline baseline --metric balanced_accuracy --metric macro_f1 --metric min_class_recall
    imbjax report results/ando2017_dos/run --out results/ando2017_dos/report/seeds --baseline baseline --metric balanced_accuracy --metric macro_f1 --metric min_class_recall --blocks seeds

What it reproduces (in direction): DOS presents every minority example with its k in-class
nearest neighbours in the deep feature space, trains the output layer on them and pulls the
example's embedding towards their mean (micro-cluster loss), re-finding the neighbours every
epoch (:mod:`imbjax.method_library.dos`). Ando & Huang report DOS above plain training and above
input-space over-sampling on MNIST, MNIST-back-rot and SVHN made imbalanced at rho = 100 (MNIST
minority classes of 50 against 5,000; survey Table 18). Methods: ``baseline``, ``ros``,
``smote`` (to balance, k = 5) and ``dos`` with imbjax's defaults (k = 5 neighbours for minority
classes, 0 for the majority, both loss weights 1). Expected in direction: DOS at or above ROS
and SMOTE in macro F1 and balanced accuracy.

Imbalance: step with half the classes minority (mu = 0.5, the last ones; the survey does not say
how many of their classes were reduced).

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 122) at rho in {10, 50}: minority classes of 12 and 2
  examples (their rho = 100 would leave one, with no neighbour for DOS or SMOTE), an MLP
  64-128-128-10, 300 Adam steps of batch 64, 10 seeds: 80 runs in 3 compiled programs (standard,
  resampling, DOS). Expected runtime on the project's 2-core CPU machine: about 2-3 minutes
  (measured 149 s with other jobs running: 85 s compiling, 45 s training, most of it DOS).
* ``paper``: ``tfds:mnist`` (n_max = 5,421: minority classes of 54) and ``tfds:svhn_cropped``
  (n_max = the smallest SVHN class) at rho = 100 as theirs, LeNet-5 (our choice; the survey does
  not give their networks), 5,000 Adam steps of batch 128, 3 seeds: 24 runs, for an accelerator.
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"ando2017_dos_{scale}"
    config.profiles = ("step",)
    config.mus = (0.5,)
    config.minority = "last"
    config.methods = ("baseline", "ros", "smote", "dos")
    config.figure_metrics = ("balanced_accuracy", "macro_f1", "min_class_recall")
    if scale == "small":
        small_scale(config)
        config.rhos = (10.0, 50.0)
    else:
        paper_scale(config, datasets=("tfds:mnist", "tfds:svhn_cropped"), model="lenet5", model_kwargs={},
                    optimizer="adam", learning_rate=1e-3, num_steps=5000)
        config.rhos = (100.0,)
    return config
