"""Two-phase learning (Lee et al. 2016; Buda et al. 2018): pre-train on re-sampled data, then
fine-tune on all (imbalanced) data, optionally only the output layer and at a lower learning rate.

One training program (family ``"two_phase"``) runs both phases inside one ``lax.scan``; the phase
is a function of the step::

    T1 = round(clip(phase1_fraction, 0, 1) * num_steps)
    steps t <  T1: batches drawn by the method's sampler (ROS, RUS, or threshold-N), learning rate lr;
    steps t >= T1: batches drawn uniformly from the training subset, learning rate
                   lr * finetune_lr_factor; if finetune_head_only > 0.5 only the output layer
                   (:data:`imbjax.models.HEAD`) moves, every other parameter keeps its value.

At step T1 the optimizer state is re-initialised (fine-tuning starts a new optimisation from the
pre-trained weights); under epoch sampling the epoch's order is redrawn there from the fine-tuning
weights, so they take effect at T1 even inside an epoch. Up to T1 a run is step for step the same as the one-phase run of its sampler
(same subset, initial parameters and batches): ``two_phase_ros`` with ``phase1_fraction = 1`` is
exactly ``ros``. Prediction is the plain softmax.

Methods (hyper-parameters are sweepable scalars):

* ``two_phase_ros``, ``two_phase_rus`` (Buda et al.'s methods C and D): pre-training on data
  balanced by ROS / RUS; defaults ``phase1_fraction = 0.5``, ``finetune_lr_factor = 0.1`` and
  output-layer-only fine-tuning, Buda et al.'s set-up. Buda et al. trained each phase to
  convergence; a fixed step budget splits it by ``phase1_fraction`` instead.
* ``two_phase_threshold_n`` (Lee et al.'s "Thresh + full", method G): pre-training on thresholded
  data, every class with more than ``threshold_n`` examples randomly under-sampled to
  ``threshold_n`` (Lee et al.: N = 5000); classes at or below N keep all their examples. An N at or
  above the largest class (``n_max``, the largest class of every run) would threshold no class and
  make pre-training plain training, so a sweep with one is refused before compiling
  (:func:`check_threshold_n`, the method's ``check_setting``): Lee et al.'s N = 5000 fits data with
  classes larger than 5000, e.g. MNIST; set ``threshold_n`` below ``n_max`` elsewhere. Lee et al.
  report no pre-training length or fine-tuning details; the whole network is fine-tuned here at
  ``0.1 lr``.

Valid ranges (``Method.bounds``, checked for every swept value before compiling): ``phase1_fraction``
in [0, 1], ``finetune_lr_factor`` > 0, ``finetune_head_only`` in [0, 1] (read as a switch: > 0.5
is output layer only), ``threshold_n`` >= 1. A program given other values (e.g. through
:func:`imbjax.config.make_train`, which does not check bounds) clips ``phase1_fraction`` to [0, 1]
and ``threshold_n`` to at least 1.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax.engine.blocks import (
    draw_batch_switching,
    gradient_step,
    init_optimizer,
    initial_state,
    method_loss,
    model_of,
    output_layer_mask,
)
from imbjax.engine.method import Method
from imbjax.engine.program import Family, Program, ProgramSpec, branches
from imbjax.imbalance import subset_mask
from imbjax.methods.standard import BUDA, ros_sampler, rus_sampler, standard_program
from imbjax.sampling import threshold_n_counts, uniform_weights

Array = jax.Array

LEE = "Lee et al. 2016 (ICIP, plankton two-phase learning)"
FAMILY = "two_phase"


class TwoPhaseState(NamedTuple):
    """The method state of a two-phase run: ``finetune_weights: float32[N]``, uniform over the
    run's training subset (the "all data" of the fine-tuning phase)."""

    finetune_weights: Array


def phase1_steps(phase1_fraction, num_steps: int) -> Array:
    """``T1 = round(clip(phase1_fraction, 0, 1) * num_steps)``: the first fine-tuning step, ``int32``."""
    return jnp.round(jnp.clip(phase1_fraction, 0.0, 1.0) * num_steps).astype(jnp.int32)


def effective_threshold(threshold_n: float) -> int:
    """The N :func:`threshold_n_sampler` applies: ``threshold_n`` floored, at least 1."""
    return max(math.floor(threshold_n), 1)


def check_threshold_n(values, n_max: int) -> None:
    """Refuse a swept ``threshold_n`` that thresholds no class (``N >= n_max``, the largest class of
    every run): its pre-training would be plain training on the imbalanced subset."""
    for threshold_n in values["threshold_n"]:
        if effective_threshold(threshold_n) >= n_max:
            raise ValueError(f"two_phase_threshold_n: threshold_n={threshold_n!r} thresholds no class (the largest "
                             f"class has n_max={n_max} examples); choose threshold_n < {n_max}")


def threshold_n_sampler(key, labels, mask, ctx):
    """Lee et al.'s thresholded data: every class with more than ``N = hparams["threshold_n"]``
    examples is randomly under-sampled to N, smaller classes are kept whole; uniform weights over
    the kept examples, ``float32[N_pool]``. ``N`` is floored and at least 1."""
    counts = threshold_n_counts(ctx.class_counts, jnp.maximum(jnp.floor(ctx.hparams["threshold_n"]), 1.0))
    return subset_mask(key, labels, counts, pool=mask).astype(jnp.float32)


def two_phase_program(spec: ProgramSpec) -> Program:
    """Pre-train on the method's sampler, fine-tune on all data from step T1 (see the module docstring).
    Evaluation is the standard one (the method's post-processing of the test logits)."""
    model = model_of(spec)
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        return state._replace(extra=TwoPhaseState(uniform_weights(data.y_train, mask)))

    def train_step(data, hparams, state):
        switch = phase1_steps(hparams["phase1_fraction"], spec.num_steps)
        finetuning = state.step >= switch
        fresh = init_optimizer(spec, hparams, state.params)
        opt_state = jax.tree.map(lambda new, old: jnp.where(state.step == switch, new, old), fresh, state.opt_state)
        drawn, x, y = draw_batch_switching(spec, data, state._replace(opt_state=opt_state),
                                           state.extra.finetune_weights, switch)
        stepped = gradient_step(spec, drawn, hparams,
                                lambda params: method_loss(spec, model, loss_fns, drawn, hparams, params, x, y),
                                learning_rate_factor=jnp.where(finetuning, hparams["finetune_lr_factor"], 1.0))
        frozen = finetuning & (hparams["finetune_head_only"] > 0.5)
        params = jax.tree.map(lambda is_head, old, new: new if is_head else jnp.where(frozen, old, new),
                              output_layer_mask(state.params), state.params, stepped.params)
        return stepped._replace(params=params)

    return Program(init, train_step, standard_program(spec).evaluate)


BOUNDS = {"phase1_fraction": (0.0, 1.0), "finetune_lr_factor": (1e-6, math.inf), "finetune_head_only": (0.0, 1.0),
          "threshold_n": (1.0, math.inf)}


def two_phase_method(name: str, sampler, hparams: dict[str, float], reference: str, check_setting=None) -> Method:
    """A two-phase method with its hyper-parameters' :data:`BOUNDS`."""
    return Method(name, sampler=sampler, hparams=hparams, bounds={k: BOUNDS[k] for k in hparams}, family=FAMILY,
                  reference=reference, check_setting=check_setting)


BUDA_DEFAULTS = {"phase1_fraction": 0.5, "finetune_lr_factor": 0.1, "finetune_head_only": 1.0}


FAMILIES = (Family(FAMILY, two_phase_program),)

METHODS = (
    two_phase_method("two_phase_ros", ros_sampler, dict(BUDA_DEFAULTS),
                     f"{BUDA} (method C): ROS pre-training, output-layer fine-tuning at 0.1x lr"),
    two_phase_method("two_phase_rus", rus_sampler, dict(BUDA_DEFAULTS),
                     f"{BUDA} (method D): RUS pre-training, output-layer fine-tuning at 0.1x lr"),
    two_phase_method("two_phase_threshold_n", threshold_n_sampler,
                     {"phase1_fraction": 0.5, "threshold_n": 5000.0, "finetune_lr_factor": 0.1,
                      "finetune_head_only": 0.0},
                     f"{LEE}: pre-training on classes under-sampled to at most N = 5000, "
                     "whole-network fine-tuning on all data", check_setting=check_threshold_n),
)
