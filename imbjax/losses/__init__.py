"""Loss kernels for class imbalance.

optax style: ``loss(logits, labels, *, hyper-parameters)`` with keyword-only hyper-parameters that may
be traced arrays (sweep axes). Per-example losses return ``float[batch]``; the batch losses of Wang et
al. (:func:`mfe_loss`, :func:`msfe_loss`) and LADE (:func:`lade_loss`, :func:`lade_regularizer`) return a
scalar. The long-tail kernels of the 2020s (VS, IB, LADE, GCL, label-aware smoothing, tau-normalisation,
MaxNorm) are in :mod:`imbjax.losses.long_tail_2020s`; the cost-sensitive ones in
:mod:`imbjax.losses.cost_sensitive`; the class rectification loss (CRL) in
:mod:`imbjax.losses.class_rectification`.

**One cost-matrix convention for the whole package**: ``costs[t, q]`` is the cost of predicting class
``q`` for an example of **true class** ``t`` (row = true class, column = predicted class), the layout of
:func:`imbjax.metrics.confusion.confusion_matrix`, so ``sum(costs * confusion)`` is a total cost. The
survey's Table 2 (Elkan 2001) writes the transpose. Kernels take a cost matrix as the keyword ``costs``.
"""
from imbjax.losses.class_rectification import crl_loss
from imbjax.losses.classification import cross_entropy, focal_loss, minority_classes, sigmoid_focal_loss
from imbjax.losses.cost_sensitive import (
    cost_sensitive_ce,
    cost_sensitive_hinge,
    cost_sensitive_softmax_ce,
    cost_threshold,
    mean_misclassification_costs,
    minority_cost_matrix,
)
from imbjax.losses.long_tail import (
    balanced_softmax_loss,
    class_balanced_ce,
    class_balanced_focal,
    class_balanced_weights,
    drw_weights,
    ldam_loss,
    ldam_margins,
    log_class_prior,
    logit_adjust_posthoc,
    logit_adjusted_loss,
)
from imbjax.losses.long_tail_2020s import (
    class_norms,
    gaussian_cloud_sizes,
    gcl_loss,
    ib_loss,
    inverse_frequency_weights,
    label_aware_epsilons,
    label_aware_smoothing,
    lade_loss,
    lade_regularizer,
    maxnorm,
    maxnorm_threshold,
    tau_normalize,
    vs_loss,
)
from imbjax.losses.mfe import group_mean_errors, mfe_loss, mse_loss, msfe_loss

__all__ = [
    "balanced_softmax_loss",
    "class_balanced_ce",
    "class_balanced_focal",
    "class_balanced_weights",
    "class_norms",
    "cost_sensitive_ce",
    "cost_sensitive_hinge",
    "cost_sensitive_softmax_ce",
    "cost_threshold",
    "crl_loss",
    "cross_entropy",
    "drw_weights",
    "focal_loss",
    "gaussian_cloud_sizes",
    "gcl_loss",
    "group_mean_errors",
    "ib_loss",
    "inverse_frequency_weights",
    "label_aware_epsilons",
    "label_aware_smoothing",
    "lade_loss",
    "lade_regularizer",
    "ldam_loss",
    "ldam_margins",
    "log_class_prior",
    "logit_adjust_posthoc",
    "logit_adjusted_loss",
    "maxnorm",
    "maxnorm_threshold",
    "mean_misclassification_costs",
    "mfe_loss",
    "minority_classes",
    "minority_cost_matrix",
    "mse_loss",
    "msfe_loss",
    "sigmoid_focal_loss",
    "tau_normalize",
    "vs_loss",
]
