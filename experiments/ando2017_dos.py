"""Ando & Huang (2017), deep over-sampling (DOS): minority classes over-sampled in the feature space, with its ablation.

    imbjax run experiments/ando2017_dos.py --workdir runs/ando2017_dos
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/ando2017_dos.py --workdir runs/ando2017_dos_paper
    imbjax report runs/ando2017_dos --baseline baseline --metric balanced_accuracy --metric macro_f1

The committed results (``results/ando2017_dos/``) were made and analysed by::

    imbjax run experiments/ando2017_dos.py --workdir results/ando2017_dos/run --set name=ando2017_dos
    imbjax report results/ando2017_dos/run --out results/ando2017_dos/report --baseline baseline --metric balanced_accuracy --metric macro_f1 --metric min_class_recall
    imbjax report results/ando2017_dos/run --out results/ando2017_dos/report/seeds --baseline baseline --metric balanced_accuracy --metric macro_f1 --metric min_class_recall --blocks seeds
    imbjax report results/ando2017_dos/run --out results/ando2017_dos/report/ablation --baseline "dos (micro_cluster_weight=1, normalise=0, oversampling_rate=0, target_weight=1)" --metric balanced_accuracy --metric macro_f1 --metric min_class_recall --blocks seeds

The third report tests every method, and every DOS variant of the ablation, against DOS with the
defaults (Wilcoxon signed-rank over the seeds of each rho, Holm).

What it reproduces (in direction): DOS (:mod:`imbjax.methods.dos`) overloads every minority
example ``r`` times, each time with its ``k`` in-class nearest neighbours in the deep feature space
and a random weight vector over them; the output layer is trained on the neighbours' features
(CE weighted by ``rho``), the lower layers pull the example's features towards the weighted
neighbours (micro-cluster loss); neighbours are re-found as the network trains. Ando & Huang report
DOS above plain training and above input-space over-sampling on MNIST, MNIST-back-rot and SVHN made
imbalanced at rho = 100 (MNIST minority classes of 50 against 5,000; survey Table 18). Methods:
``baseline``, ``ros``, ``smote`` (to balance, k = 5) and ``dos`` (k = 5 neighbours for minority
classes, 0 for the majority) in a full factorial ablation of its four parts, 16 settings:

* ``oversampling_rate`` 0 (r-fold overloading at the class-balancing rate ``r = n_max / n_c``, the
  default) or 1 (no replication);
* ``micro_cluster_weight`` 1 (the micro-cluster loss, the default) or 0;
* ``target_weight`` 1 (the neighbours' CE, the default) or 0;
* ``normalise`` 0 (raw features, the default) or 1 (distances between L2-normalised features).

DOS with ``oversampling_rate = 1``, ``micro_cluster_weight = target_weight = 0`` is the baseline
(same runs up to float rounding); with only the replication on it is ROS as a loss weight. Expected
in direction: DOS at or above ROS and SMOTE in macro F1 and balanced accuracy.

Imbalance: step with half the classes minority (mu = 0.5, the last ones; the survey does not say
how many of their classes were reduced).

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 100, exact ratios) at rho in {10, 50}: minority classes of
  10 and 2 examples (their rho = 100 would leave one, with no neighbour for DOS or SMOTE), an MLP
  64-128-128-10, 300 Adam steps of batch 64, 10 seeds: 380 runs (320 DOS) in 3 compiled programs
  (standard, resampling, DOS). Runtime on the project's 2-core CPU machine: measured 212 s inside the
  command (3 min 40 s wall) with other jobs running: 24 s compiling, 186 s training, 181 s of it DOS.
  DOS refreshes its targets every 8 steps (one epoch at rho 50, 0.9 of
  one at rho 10), so the runs of both ratios refresh at the same steps of their shared program
  (with one epoch each they would refresh at the union of both schedules).
* ``paper``: ``tfds:mnist`` and ``tfds:svhn_cropped`` at rho = 100 as theirs (n_max the largest class
  size at which rho = 100 is exact: MNIST minority classes of about 54), LeNet-5 (our choice; the survey does
  not give their networks), 5,000 Adam steps of batch 128, 3 seeds, DOS refreshing every epoch:
  114 runs, for an accelerator.

  Recipe (the survey is the source consulted for this paper; its training details were not available
  here, so a row marked "imbjax's choice" is a choice, not a transcription):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:mnist', 'tfds:svhn_cropped')``            survey: MNIST, MNIST-back-rot,
                                                                                    SVHN, CIFAR-10, STL-10 (two of
                                                                                    them here)
  profile               ``profiles=('step',)``                                      not in the survey; imbjax's
                                                                                    choice: step
  imbalance             ``rhos=(100.0,)``                                           this module's account (rho = 100);
                                                                                    not checked against the paper
  seeds                 ``seeds=3``                                                 not in the survey; imbjax's budget
  model                 ``model='lenet5'``                                          imbjax's choice (not in the
                                                                                    survey): LeNet-5
  model arguments       ``model_kwargs={}``                                         imbjax's choice (not in the
                                                                                    survey)
  optimizer             ``optimizer='adam'``                                        imbjax's choice (not in the
                                                                                    survey): Adam
  learning rate         ``learning_rates=(0.001,)``                                 imbjax's choice (not in the
                                                                                    survey)
  weight decay          ``weight_decays=(0.0,)``                                    imbjax's choice (not in the
                                                                                    survey): none
  batch                 ``batch_size=128``                                          imbjax's choice (not in the
                                                                                    survey)
  length                ``num_steps=5000``                                          imbjax's choice (not in the
                                                                                    survey)
  schedule              ``lr_schedule='constant'``                                  imbjax's choice (not in the
                                                                                    survey): constant
  batches               ``batch_sampling='iid'``                                    imbjax's choice (not in the
                                                                                    survey): i.i.d. draws
  augmentation          ``augment='none'``                                          imbjax's choice (not in the
                                                                                    survey): none
  method settings       ``hparams={'dos': {'micro_cluster_weight': (1.0, 0.0),      imbjax's ablation (``ABLATION``):
                        'normalise': (0.0, 1.0), 'oversampling_rate': (0.0, 1.0),   every DOS part on and off
                        'target_weight': (1.0, 0.0)}}``
  ====================  ==========================================================  ==================================
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/ando2017_dos/run",
     "--out", "results/ando2017_dos/report", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "macro_f1", "--metric", "min_class_recall"],
    ["results/ando2017_dos/run",
     "--out", "results/ando2017_dos/report/seeds", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "macro_f1", "--metric", "min_class_recall", "--blocks", "seeds"],
    ["results/ando2017_dos/run",
     "--out", "results/ando2017_dos/report/ablation",
     "--baseline", "dos (micro_cluster_weight=1, normalise=0, oversampling_rate=0, target_weight=1)",
     "--metric", "balanced_accuracy", "--metric", "macro_f1", "--metric", "min_class_recall", "--blocks", "seeds"],
]

#: The ablation: every combination of DOS's four parts on and off (module docstring).
ABLATION = {"oversampling_rate": (0.0, 1.0), "micro_cluster_weight": (1.0, 0.0), "target_weight": (1.0, 0.0),
            "normalise": (0.0, 1.0)}


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
        config.hparams = {"dos": {**ABLATION, "refresh_steps": 8.0}}
    else:
        paper_scale(config, datasets=("tfds:mnist", "tfds:svhn_cropped"), model="lenet5", model_kwargs={},
                    optimizer="adam", learning_rate=1e-3, num_steps=5000)
        config.rhos = (100.0,)
        config.hparams = {"dos": dict(ABLATION)}
    return config
