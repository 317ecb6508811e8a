"""The long-tail methods of the 2020s on MNIST-1D-LT (issue 18): the long-tailed MNIST-1D of
``experiments/mnist1d_lt.py``, with the paper's CNN, at rho = 100.

    imbjax run experiments/long_tail_2020s_mnist1d.py --workdir results/long_tail_2020s_mnist1d/run
    imbjax report results/long_tail_2020s_mnist1d/run --out results/long_tail_2020s_mnist1d/report --baseline baseline --metric accuracy --metric balanced_accuracy
    imbjax report results/long_tail_2020s_mnist1d/run --out results/long_tail_2020s_mnist1d/report/selected --baseline baseline --metric accuracy --metric balanced_accuracy --select-by val_balanced_accuracy
    imbjax report results/long_tail_2020s_mnist1d/run --out results/long_tail_2020s_mnist1d/report/selected_vs_ldam_drw --baseline ldam_drw --metric accuracy --select-by val_balanced_accuracy
    imbjax report results/long_tail_2020s_mnist1d/run --out results/long_tail_2020s_mnist1d/report/selected_vs_mixup --baseline mixup --metric accuracy --select-by val_balanced_accuracy
    IMBJAX_ABLATION=long_mixup imbjax run experiments/long_tail_2020s_mnist1d.py --workdir results/long_tail_2020s_mnist1d/run_long_mixup
    imbjax report results/long_tail_2020s_mnist1d/run_long_mixup --out results/long_tail_2020s_mnist1d/report_long_mixup --baseline baseline --metric accuracy
    IMBJAX_ABLATION=sgd_ib imbjax run experiments/long_tail_2020s_mnist1d.py --workdir results/long_tail_2020s_mnist1d/run_sgd_ib
    imbjax report results/long_tail_2020s_mnist1d/run_sgd_ib --out results/long_tail_2020s_mnist1d/report_sgd_ib --baseline baseline --metric accuracy
    IMBJAX_ABLATION=mixup_200_epochs imbjax run experiments/long_tail_2020s_mnist1d.py --workdir results/long_tail_2020s_mnist1d/run_mixup_200_epochs
    imbjax report results/long_tail_2020s_mnist1d/run_mixup_200_epochs --out results/long_tail_2020s_mnist1d/report_mixup_200_epochs --baseline baseline --metric accuracy
    IMBJAX_ABLATION=sgd_ib_200_epochs imbjax run experiments/long_tail_2020s_mnist1d.py --workdir results/long_tail_2020s_mnist1d/run_sgd_ib_200_epochs
    imbjax report results/long_tail_2020s_mnist1d/run_sgd_ib_200_epochs --out results/long_tail_2020s_mnist1d/report_sgd_ib_200_epochs --baseline baseline --metric accuracy
    IMBJAX_ABLATION=sgd_mixup_200_epochs imbjax run experiments/long_tail_2020s_mnist1d.py --workdir results/long_tail_2020s_mnist1d/run_sgd_mixup_200_epochs
    imbjax report results/long_tail_2020s_mnist1d/run_sgd_mixup_200_epochs --out results/long_tail_2020s_mnist1d/report_sgd_mixup_200_epochs --baseline baseline --metric accuracy
    IMBJAX_ABLATION=sgd_mixup_200_epochs_augmented imbjax run experiments/long_tail_2020s_mnist1d.py --workdir results/long_tail_2020s_mnist1d/run_sgd_mixup_200_epochs_augmented
    imbjax report results/long_tail_2020s_mnist1d/run_sgd_mixup_200_epochs_augmented --out results/long_tail_2020s_mnist1d/report_sgd_mixup_200_epochs_augmented --baseline baseline --metric accuracy

Methods: the comparators CE (``baseline``), class-balanced focal (``cb_focal``), LDAM-DRW
(``ldam_drw``), logit adjustment (``logit_adjusted``) and balanced softmax (``balanced_softmax``); VS,
IB, LADE and GCL; cRT, tau-normalisation (tau in {1, 1.5}), LWS, DRS, weight balancing, mixup, manifold
mixup, Remix and MiSLAS, each at its paper defaults (the papers' epoch
splits as fractions of the steps: cRT's classifier stage is the last 200 of 2,000 steps, LWS 105,
MiSLAS 95, weight balancing 61; DRS and DRW switch at step 1,600). ``experiments/long_tail_2020s.py``
has the same methods on digits, with the ablations of the classifier stage's length and learning rate.
Two ablations here: weight balancing's classifier weight decay, the paper's 0.1 (meant for SGD) and the run's
5e-4 (``classifier_weight_decay``), and VS's multiplicative term, the paper's ``gamma = 0.2`` and ``gamma =
0`` (the logit-adjusted loss). A method's setting is selected per seed on the validation part
(``--select-by val_balanced_accuracy``; the validation part is balanced, so that is its accuracy).

Six more ablations, each a work directory of its own (``get_config(ablation)``, default from the
environment variable ``IMBJAX_ABLATION``, else ``"main"``, the 210 runs above), test the two reversals the
main run cannot explain:

* ``long_mixup``: CE, mixup and manifold mixup at 8,000 steps (64 epochs of the subset, 4x the main run),
  everything else as above: mixup's gain is reported after 200 epochs or more (Zhang et al. 2018; Chou
  et al. 2020), so a reversal at 16 epochs may be the training length. 30 runs in 2 programs.
* ``sgd_ib``: CE, LDAM-DRW and IB under the optimiser and schedule of IB's paper, which follows Cao et
  al.'s CIFAR recipe (SGD with momentum 0.9, lr 0.1, coupled weight decay 2e-4, batch 128, linear warm-up
  over 2.5% of the steps, x0.01 at 80% and at 90%; IB from 50%, DRW from 80%), 2,000 steps of i.i.d.
  batches as above: IB's weights ``1 / (||p - y||_1 ||h||_1)`` are inverse gradient norms, whose scale an
  adaptive optimiser such as Adam divides out. 30 runs in 2 programs (LDAM-DRW's cosine head).
* ``mixup_200_epochs`` and ``sgd_ib_200_epochs``: ``long_mixup`` and ``sgd_ib`` at the papers' length, 200
  epochs of the 12,406-signal subset (:data:`PAPER_EPOCHS`, :func:`steps_for_epochs`): 24,812 steps of 100
  and 19,385 steps of 128; the schedule's fractions put IB's phase and DRW at the papers' epochs 100 and 160.
  Everything else as in the shorter ablation, whose only untested factor was this length.
* ``sgd_mixup_200_epochs``: ``mixup_200_epochs`` under ``sgd_ib``'s SGD recipe (Cao et al.'s, which Remix
  trains with; mixup's own CIFAR recipe is also SGD at lr 0.1 with momentum 0.9): CE, mixup and manifold
  mixup, 19,385 steps of 128.
* ``sgd_mixup_200_epochs_augmented``: ``sgd_mixup_200_epochs`` with augmented batches, the last factor of the
  papers' recipe (their CIFAR runs mix randomly cropped and flipped images; here
  :func:`imbjax.config.mnist1d_augmentation`, the stand-in ``experiments/mnist1d_lt.py``'s Cao recipe uses:
  a roll by up to 4 of 40 samples and noise of std 0.1). CE, mixup and manifold mixup see the same augmented
  examples on one seed (the mixup family augments through the standard loop's key stream).

Design: MNIST-1D generated offline, 6,000 training and 1,000 test signals per class (``num_samples =
70,000, train_split = 6/7, stratified``); a validation part of 1,000 signals per class carved first
(``validation_fraction = 1/6``, the same signals for every method of a seed), leaving a pool of 5,000
per class, from which the exponential profile at rho = 100 and n_max = 5,000 keeps CIFAR-10-LT's exact
counts (5,000 ... 50; 12,406 signals), minority classes last; the test set is balanced, so accuracy is
the long-tail literature's metric. The paper CNN (:class:`imbjax.models.Mnist1dCNN`), Adam at lr 1e-2,
batch 100 (the MNIST-1D benchmark's recipe), coupled weight decay 5e-4 for every method (weight
balancing's first stage is CE with weight decay; here CE has the same decay, so the claim tested is
that its second stage adds to CE with weight decay; the digits study has the decay as an axis), 2,000
steps (16 epochs of the subset), 10 seeds. Every method draws i.i.d. batches (the MNIST-1D benchmark's
recipe, kept in every ablation); no batch is augmented but in ``sgd_mixup_200_epochs_augmented``. 21 method settings x 10 seeds = 210 runs in
4 compiled programs.

Runtime on the project's 2-core CPU machine with nothing else running (``meta.json``): 169 s inside the
command for the 210 runs, with the programs saved by an earlier start (compiling the 4 programs took about
180 s on the machine loaded by other jobs); the ablations 118 s (``long_mixup``), 34 s (``sgd_ib``), 293 s
(``mixup_200_epochs``), 187 s (``sgd_ib_200_epochs``) and 275 s (``sgd_mixup_200_epochs``).
"""
from imbjax.config import base_config, cao_sgd, environment_choice, mnist1d_augmentation

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/long_tail_2020s_mnist1d/run",
     "--out", "results/long_tail_2020s_mnist1d/report", "--baseline", "baseline", "--metric", "accuracy", "--metric", "balanced_accuracy"],
    ["results/long_tail_2020s_mnist1d/run",
     "--out", "results/long_tail_2020s_mnist1d/report/selected", "--baseline", "baseline", "--metric", "accuracy", "--metric", "balanced_accuracy", "--select-by", "val_balanced_accuracy"],
    ["results/long_tail_2020s_mnist1d/run",
     "--out", "results/long_tail_2020s_mnist1d/report/selected_vs_ldam_drw", "--baseline", "ldam_drw", "--metric", "accuracy", "--select-by", "val_balanced_accuracy"],
    ["results/long_tail_2020s_mnist1d/run",
     "--out", "results/long_tail_2020s_mnist1d/report/selected_vs_mixup", "--baseline", "mixup", "--metric", "accuracy", "--select-by", "val_balanced_accuracy"],
    ["results/long_tail_2020s_mnist1d/run_long_mixup",
     "--out", "results/long_tail_2020s_mnist1d/report_long_mixup", "--baseline", "baseline", "--metric", "accuracy"],
    ["results/long_tail_2020s_mnist1d/run_sgd_ib",
     "--out", "results/long_tail_2020s_mnist1d/report_sgd_ib", "--baseline", "baseline", "--metric", "accuracy"],
    ["results/long_tail_2020s_mnist1d/run_mixup_200_epochs",
     "--out", "results/long_tail_2020s_mnist1d/report_mixup_200_epochs", "--baseline", "baseline", "--metric", "accuracy"],
    ["results/long_tail_2020s_mnist1d/run_sgd_ib_200_epochs",
     "--out", "results/long_tail_2020s_mnist1d/report_sgd_ib_200_epochs", "--baseline", "baseline", "--metric", "accuracy"],
    ["results/long_tail_2020s_mnist1d/run_sgd_mixup_200_epochs",
     "--out", "results/long_tail_2020s_mnist1d/report_sgd_mixup_200_epochs", "--baseline", "baseline", "--metric", "accuracy"],
    ["results/long_tail_2020s_mnist1d/run_sgd_mixup_200_epochs_augmented",
     "--out", "results/long_tail_2020s_mnist1d/report_sgd_mixup_200_epochs_augmented", "--baseline", "baseline", "--metric", "accuracy"],
]

#: The methods of the two reversals' ablations: the mixup family, and IB beside LDAM-DRW, each with CE.
MIXUP_FAMILY = ("baseline", "mixup", "manifold_mixup")
IB_AND_LDAM_DRW = ("baseline", "ldam_drw", "ib")
#: Each ablation of the module docstring: its methods, whether it trains under IB's paper's SGD recipe
#: (:func:`imbjax.config.cao_sgd`), its length in steps (``None``: the main run's 2,000; ``"papers"``:
#: :data:`PAPER_EPOCHS` epochs of the subset at the recipe's batch size), and whether its batches are
#: augmented (:func:`imbjax.config.mnist1d_augmentation`).
ABLATION_SETTINGS = {
    "long_mixup": (MIXUP_FAMILY, False, 8000, False),
    "sgd_ib": (IB_AND_LDAM_DRW, True, None, False),
    "mixup_200_epochs": (MIXUP_FAMILY, False, "papers", False),
    "sgd_ib_200_epochs": (IB_AND_LDAM_DRW, True, "papers", False),
    "sgd_mixup_200_epochs": (MIXUP_FAMILY, True, "papers", False),
    "sgd_mixup_200_epochs_augmented": (MIXUP_FAMILY, True, "papers", True),
}
#: The work directories of this experiment: the main run and the six ablations of the module docstring.
#: Chosen by ``get_config(ablation)`` or the environment variable ``IMBJAX_ABLATION``.
ABLATIONS = ("main", *ABLATION_SETTINGS)

#: Signals in the training subset: CIFAR-10-LT's counts at rho = 100 and n_max = 5,000 (the docstring's design).
SUBSET_SIZE = 12_406
#: The papers' training length in epochs (mixup: Zhang et al. 2018; IB and LDAM-DRW: Cao et al.'s recipe).
PAPER_EPOCHS = 200


def steps_for_epochs(epochs: int, batch_size: int) -> int:
    """Steps of ``batch_size`` signals that see the training subset ``epochs`` times (rounded up)."""
    return -(-epochs * SUBSET_SIZE // batch_size)

COMPARATORS = ("baseline", "cb_focal", "ldam_drw", "logit_adjusted", "balanced_softmax")
LOSSES_2020S = ("vs", "ib", "lade", "gcl")
STAGEWISE = ("crt", "tau_norm", "lws", "drs", "weight_balancing", "mixup", "manifold_mixup", "remix", "mislas")


def get_config(ablation: str | None = None):
    ablation = environment_choice("ablation", ablation, "IMBJAX_ABLATION", ABLATIONS, "main")
    config = base_config()
    config.name = "long_tail_2020s_mnist1d" if ablation == "main" else f"long_tail_2020s_mnist1d_{ablation}"
    config.datasets = ("mnist1d",)
    config.dataset_kwargs = {"mnist1d": {"num_samples": 70_000, "train_split": 6 / 7, "stratified": True}}
    config.validation_fraction = 1 / 6
    config.profiles = ("exp",)
    config.rhos = (100.0,)
    config.mus = (0.5,)
    config.minority = "last"
    config.n_max = 5000
    config.seeds = 10
    config.methods = (*COMPARATORS, *LOSSES_2020S, *STAGEWISE)
    config.hparams = {
        "tau_norm": {"tau": (1.0, 1.5)},
        # ablations (module docstring): weight balancing's classifier decay under Adam, VS's multiplicative term
        "weight_balancing": {"classifier_weight_decay": (0.1, 5e-4)},
        "vs": {"gamma": (0.2, 0.0)},
    }
    config.model = "mnist1d_cnn"
    config.model_kwargs = {}
    config.optimizer = "adam"
    config.learning_rates = (1e-2,)
    config.weight_decays = (5e-4,)
    config.batch_size = 100
    config.num_steps = 2000
    config.figure_metrics = ("accuracy", "balanced_accuracy", "min_class_recall")
    if ablation != "main":
        config.methods, sgd, num_steps, augmented = ABLATION_SETTINGS[ablation]
        config.hparams = {}
        if sgd:
            cao_sgd(config)
        if augmented:
            mnist1d_augmentation(config)
        if num_steps == "papers":
            config.num_steps = steps_for_epochs(PAPER_EPOCHS, config.batch_size)
        elif num_steps is not None:
            config.num_steps = num_steps
    return config
