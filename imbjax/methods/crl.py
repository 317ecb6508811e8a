"""Class rectification loss (Dong, Gong & Zhu 2017, ICCV "Class rectification hard mining for
imbalanced deep learning"; survey Eq. 17): the methods. The kernel, batch-wise hard mining of minority
classes and the triplet ranking term, is :func:`imbjax.losses.crl_loss`
(:mod:`imbjax.losses.class_rectification`).

Methods (the standard training loop, uniform batches as in the paper, in a family of their own,
``"crl"``): ``crl`` (class-level mining) and ``crl_instance`` (instance-level mining). The family
is separate because methods of one family share a program in which, under ``vmap``, every run
evaluates every method's loss (``lax.switch``): the ``[B, B, B]`` triplet term slowed the
baseline, ROS and focal runs of a shared program about 30-fold (docs/performance.md).
Hyper-parameters: ``eta`` (0.01: with ``Omega_imb`` in percent, ``alpha`` is the fraction of the batch
out of balance), ``margin`` ``m`` (1.0) and ``top_k`` ``k`` (25).
"""
from __future__ import annotations

import math

from imbjax import losses
from imbjax.engine.method import Method
from imbjax.engine.program import Family
from imbjax.methods.standard import standard_program

DONG = "Dong, Gong & Zhu 2017 (ICCV), class rectification loss, survey Eq. 17"
FAMILY = "crl"


def _method_loss(level: str):
    def loss(logits, labels, ctx):
        return losses.crl_loss(logits, labels, features=ctx.features, eta=ctx.hparams["eta"],
                               margin=ctx.hparams["margin"], k=ctx.hparams["top_k"], level=level)

    loss.__name__ = f"crl_{level}_loss"
    return loss


HPARAMS = {"eta": 0.01, "margin": 1.0, "top_k": 25.0}
BOUNDS = {"eta": (0.0, math.inf), "margin": (0.0, math.inf), "top_k": (1.0, math.inf)}


FAMILIES = (Family(FAMILY, standard_program, method_learning_rates=True),)

METHODS = (
    Method("crl", loss=_method_loss("class"), hparams=HPARAMS, bounds=BOUNDS, family=FAMILY,
           reference=f"{DONG}; class-level hard mining, triplet ranking on penultimate features"),
    Method("crl_instance", loss=_method_loss("instance"), hparams=HPARAMS, bounds=BOUNDS, family=FAMILY,
           reference=f"{DONG}; instance-level hard mining, triplet ranking on penultimate features"),
)
