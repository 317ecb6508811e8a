"""The long-tail methods of the 2020s (issue 18) side by side with the earlier long-tail losses, on digits.

    imbjax run experiments/long_tail_2020s.py --workdir results/long_tail_2020s/run
    imbjax run experiments/long_tail_2020s.py --workdir results/long_tail_2020s/run --dry-run
    imbjax report results/long_tail_2020s/run --out results/long_tail_2020s/report --baseline baseline --metric balanced_accuracy --metric accuracy
    imbjax report results/long_tail_2020s/run --out results/long_tail_2020s/report/selected --baseline baseline --metric balanced_accuracy --select-by val_balanced_accuracy
    imbjax report results/long_tail_2020s/run --out results/long_tail_2020s/report/selected_vs_ldam_drw --baseline ldam_drw --metric balanced_accuracy --select-by val_balanced_accuracy
    imbjax report results/long_tail_2020s/run --out results/long_tail_2020s/report/selected_vs_mixup --baseline mixup --metric balanced_accuracy --select-by val_balanced_accuracy

Methods: the comparators CE (``baseline``), class-balanced focal (``cb_focal``), LDAM-DRW (``ldam_drw``),
logit adjustment (``logit_adjusted``) and balanced softmax (``balanced_softmax``); the loss-only methods
of the 2020s, VS (``vs``), IB (``ib``), LADE (``lade``) and GCL (``gcl``, its stage-1 variant)
(:mod:`imbjax.methods.loss_methods`); and the stage-wise ones, decoupling's cRT, tau-normalisation and
LWS, deferred re-sampling, weight balancing (:mod:`imbjax.methods.decoupling`), mixup, manifold
mixup, Remix and MiSLAS (:mod:`imbjax.methods.mixup`), each at its paper defaults, with the papers'
epoch splits as fractions of the 300 steps (cRT re-trains the classifier for the last 30 steps, LWS 16,
MiSLAS 14, weight balancing 9; DRS re-samples from step 240). tau-normalisation is swept over tau in
{0.5, 1, 1.5}.

The ablation of a short classifier stage: a re-initialised classifier does not converge in 30 Adam steps
at lr 1e-3 (the papers re-train for 10 epochs with SGD at lr 0.1-0.2). So each classifier-retraining
method (cRT, LWS, weight balancing, MiSLAS) also runs with half of the steps for its classifier stage
(``stage1_fraction = 0.5``), and each split at its default classifier learning rate and at 10 times it
(``classifier_lr_factor``: 1 and 10; MiSLAS's paper factor 0.5 and 5). Select a method's setting per run
block on the validation part (``imbjax report ... --select-by val_balanced_accuracy``), as Kang et al.'s
official script scans tau.

Design: scikit-learn digits (a fixed 70/30 split, the test set balanced and untouched), a stratified
validation part of 15% of every class carved from the training pool first (the same examples for every
method of a seed), the exponential (CIFAR-10-LT) profile at rho in {10, 100} with n_max = 100, so every
ratio is exact (at rho = 100 the smallest class keeps one example), an MLP 64-128-128-10, 300 Adam steps
(lr 1e-3) of batch 64, 10 seeds. Weight decay is an axis, {0, 5e-3} (coupled, PyTorch's Adam
``weight_decay``) for every method: weight balancing's first stage is CE with a tuned weight decay, and
its claim is against CE without one, so both CE settings are in the table. 2 ratios x 2 weight decays x
10 seeds x 32 method settings = 1,280 runs in 4 compiled programs (the standard loop, the standard loop with
the cosine classifier of LDAM-DRW and GCL, the decoupling family, the mixup family).

Runtime on the project's 2-core CPU machine (``results/long_tail_2020s/run/meta.json``): 258 s inside
the command, 65 s of it compiling the 4 programs (the two standard-loop programs from the saved-program
cache) and 189 s training, while other jobs loaded the machine (load average 4-6).

Headline findings to check (the papers' direction; whether they hold here goes in FINDINGS.md): cRT /
tau-norm / LWS beat joint CE training (Kang et al.); DRS beats CE (Cao et al.); weight balancing beats CE
(Alshammari et al.); mixup and Remix beat CE, Remix beats mixup (Chou et al.); MiSLAS beats its mixup
stage (Zhong et al.); VS, IB, LADE and GCL beat CE and LDAM-DRW.
"""
from imbjax.config import base_config, small_scale

#: The ``imbjax report`` argument lists that make the reports under results/ (the docstring's commands on
#: results/); scripts/make_figures.py runs them.
REPORTS = [
    ["results/long_tail_2020s/run",
     "--out", "results/long_tail_2020s/report", "--baseline", "baseline", "--metric", "balanced_accuracy", "--metric", "accuracy"],
    ["results/long_tail_2020s/run",
     "--out", "results/long_tail_2020s/report/selected", "--baseline", "baseline", "--metric", "balanced_accuracy", "--select-by", "val_balanced_accuracy"],
    ["results/long_tail_2020s/run",
     "--out", "results/long_tail_2020s/report/selected_vs_ldam_drw", "--baseline", "ldam_drw", "--metric", "balanced_accuracy", "--select-by", "val_balanced_accuracy"],
    ["results/long_tail_2020s/run",
     "--out", "results/long_tail_2020s/report/selected_vs_mixup", "--baseline", "mixup", "--metric", "balanced_accuracy", "--select-by", "val_balanced_accuracy"],
]

COMPARATORS = ("baseline", "cb_focal", "ldam_drw", "logit_adjusted", "balanced_softmax")
LOSSES_2020S = ("vs", "ib", "lade", "gcl")
STAGEWISE = ("crt", "tau_norm", "lws", "drs", "weight_balancing", "mixup", "manifold_mixup", "remix", "mislas")


def get_config():
    config = base_config()
    config.name = "long_tail_2020s"
    small_scale(config)
    config.profiles = ("exp",)
    config.rhos = (10.0, 100.0)
    config.validation_fraction = 0.15
    config.weight_decays = (0.0, 5e-3)
    config.methods = (*COMPARATORS, *LOSSES_2020S, *STAGEWISE)
    config.hparams = {
        "tau_norm": {"tau": (0.5, 1.0, 1.5)},
        # the paper's split and half of the steps for the classifier stage, each at the run's learning rate
        # and at 10 times it (module docstring: the ablation of a short classifier stage)
        "crt": {"stage1_fraction": (0.9, 0.5), "classifier_lr_factor": (1.0, 10.0)},
        "lws": {"stage1_fraction": (90 / 95, 0.5), "classifier_lr_factor": (1.0, 10.0)},
        "weight_balancing": {"stage1_fraction": (320 / 330, 0.5), "classifier_lr_factor": (1.0, 10.0)},
        "mislas": {"stage1_fraction": (200 / 210, 0.5), "classifier_lr_factor": (0.5, 5.0)},
    }
    config.figure_metrics = ("balanced_accuracy", "accuracy", "min_class_recall")
    return config
