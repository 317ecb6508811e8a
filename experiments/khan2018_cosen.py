"""Khan et al. (2018), CoSen: class-to-class misclassification costs learned jointly with the network.

    imbjax run experiments/khan2018_cosen.py --workdir runs/khan2018_cosen
    IMBJAX_SCALE=paper TFDS_DATA_DIR=DIR imbjax run experiments/khan2018_cosen.py --workdir runs/khan2018_cosen_paper
    imbjax report results/khan2018_cosen/run --out results/khan2018_cosen/report --baseline baseline --metric balanced_accuracy --metric min_class_recall
    imbjax report results/khan2018_cosen/run --out results/khan2018_cosen/report/seeds --baseline baseline --metric balanced_accuracy --metric min_class_recall --blocks seeds

What it reproduces (in direction): Khan, Hayat, Bennamoun, Sohel & Togneri (IEEE TNNLS 2018)
train a CNN with a cost matrix applied to its outputs and update the costs, by alternating
steps, from the class histogram, the validation errors and confusions and the class-to-class
separability (:mod:`imbjax.methods.costs`). They report CoSen above plain training, above
data sampling (ROS, SMOTE, RUS) and above fixed-cost classifiers on six imbalanced image data
sets, among them MNIST with minority classes of 600 against 6,000 images and CIFAR-100 with 60
against 600 (rho = 10; survey Table 18). Methods: ``baseline``; ``cs_ce`` (a fixed cost, minority
misclassification 2x); ``ros``; ``cosen`` (cost-sensitive cross-entropy) and ``cosen_hinge``
(cost-sensitive multi-class hinge loss), both with imbjax's defaults (cost learning rate 0.5, one
cost update per epoch of the training subset, the confusion and error terms measured on the shared
validation part). Expected in direction: CoSen at or above the baseline and cs_ce in balanced accuracy
and minority recall.

Imbalance: step with half the classes minority (mu = 0.5, the last ones; which MNIST digits Khan
et al. reduced is not in the survey), rho = 10 as theirs, and 50. Every method of a seed trains on the
same imbalanced subset; 15% of every pool class is held out first as the shared validation part
(``validation_fraction = 0.15``), which CoSen's cost updates read and on which every run reports
``val_*`` metrics.

Scale (``get_config(scale)``, default from the environment variable ``IMBJAX_SCALE``, else
``"small"``):

* ``small``: scikit-learn digits (n_max = 100: minority classes of 10 and 2 training examples; the
  validation part holds 18-19 examples per class), an MLP 64-128-128-10, 300 Adam steps of batch 64,
  10 seeds: 100 runs in 2 compiled programs (standard, CoSen). Runtime on the project's 2-core CPU
  machine at load average 5-8: 109 s inside the command cold (71 s compiling, 37 s training).
* ``paper``: ``tfds:mnist`` (n_max = 4,600 after the validation part, minority classes of 460 at
  rho = 10, close to their 600 of 6,000) and ``tfds:cifar100`` (n_max = 400, minority classes of 40),
  a ResNet-32 trained
  from scratch (Khan et al. fine-tuned a pre-trained CNN), 8,000 SGD steps (lr 0.1, momentum
  0.9) of batch 128, 3 seeds: 60 runs, for an accelerator.

  Recipe (the survey is the source consulted for this paper; its training details were not available
  here, so a row marked "imbjax's choice" is a choice, not a transcription):

  ====================  ==========================================================  ==================================
  setting               value here                                                  source
  ====================  ==========================================================  ==================================
  data                  ``datasets=('tfds:mnist', 'tfds:cifar100')``                survey: MNIST and CIFAR-100 among
                                                                                    their six sets
  profile               ``profiles=('step',)``                                      imbjax's choice: step, half the
                                                                                    classes minority
  imbalance             ``rhos=(10.0, 50.0)``                                       imbjax's choice (this module:
                                                                                    their MNIST minority 600 of 6,000)
  validation part       ``validation_fraction=0.15``                                imbjax's choice: CoSen reads
                                                                                    held-out errors; 15% per class
  seeds                 ``seeds=3``                                                 not in the survey; imbjax's budget
  model                 ``model='resnet'``                                          imbjax's choice (not in the
                                                                                    survey): CIFAR ResNet
  model arguments       ``model_kwargs={'depth': 32}``                              imbjax's choice (not in the
                                                                                    survey): ResNet-32 from scratch
                                                                                    (they fine-tuned a pre-trained
                                                                                    CNN)
  optimizer             ``optimizer='sgd'``                                         imbjax's choice (not in the
                                                                                    survey): the ResNet default of
                                                                                    ``paper_scale``
  learning rate         ``learning_rates=(0.1,)``                                   imbjax's choice (not in the
                                                                                    survey): the CIFAR ResNet rate
  weight decay          ``weight_decays=(0.0,)``                                    imbjax's choice (not in the
                                                                                    survey): none
  batch                 ``batch_size=128``                                          imbjax's choice (not in the
                                                                                    survey)
  length                ``num_steps=8000``                                          imbjax's choice (not in the
                                                                                    survey): the shared accelerator
                                                                                    budget
  schedule              ``lr_schedule='constant'``                                  imbjax's choice (not in the
                                                                                    survey): constant
  batches               ``batch_sampling='iid'``                                    imbjax's choice (not in the
                                                                                    survey): i.i.d. draws
  augmentation          ``augment='none'``                                          imbjax's choice (not in the
                                                                                    survey): none
  ====================  ==========================================================  ==================================
"""
from imbjax.config import base_config, experiment_scale, paper_scale, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/khan2018_cosen/run",
     "--out", "results/khan2018_cosen/report", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "min_class_recall"],
    ["results/khan2018_cosen/run",
     "--out", "results/khan2018_cosen/report/seeds", "--baseline", "baseline", "--metric", "balanced_accuracy",
     "--metric", "min_class_recall", "--blocks", "seeds"],
]


def get_config(scale: str | None = None):
    scale = experiment_scale(scale)
    config = base_config()
    config.name = f"khan2018_cosen_{scale}"
    config.profiles = ("step",)
    config.rhos = (10.0, 50.0)
    config.mus = (0.5,)
    config.minority = "last"
    config.validation_fraction = 0.15
    config.methods = ("baseline", "cs_ce", "ros", "cosen", "cosen_hinge")
    config.figure_metrics = ("balanced_accuracy", "min_class_recall", "ovr_roc_auc")
    if scale == "small":
        small_scale(config)
    else:
        paper_scale(config, datasets=("tfds:mnist", "tfds:cifar100"))
    return config
