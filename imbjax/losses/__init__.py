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

Each kernel module's ``__all__`` lists its public kernels and this package exports them all, so a new kernel
in one of these modules is public API by being added to its module's ``__all__``.
"""
from imbjax.losses import class_rectification, classification, cost_sensitive, long_tail, long_tail_2020s, mfe
from imbjax.losses.class_rectification import *
from imbjax.losses.classification import *
from imbjax.losses.cost_sensitive import *
from imbjax.losses.long_tail import *
from imbjax.losses.long_tail_2020s import *
from imbjax.losses.mfe import *

__all__ = (class_rectification.__all__ + classification.__all__ + cost_sensitive.__all__ + long_tail.__all__
           + long_tail_2020s.__all__ + mfe.__all__)
