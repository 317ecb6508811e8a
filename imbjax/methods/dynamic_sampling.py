"""Dynamic sampling (Pouyanfar et al. 2018, MIPR; survey Eq. 11).

The class sizes of each round's sample follow the previous round's class-wise F1 on the run's
validation part (survey Eq. 11)::

    size_j = (1 - f1_j) / sum_k (1 - f1_k) * N*          (N*: mean class size of the training subset)

so classes the network gets wrong are over-sampled and classes it has learnt are under-sampled.
With a fixed step budget the sizes act as proportions: a round draws its batches with per-example
weights ``size_{y_i} / n_{y_i}`` over the training subset, i.e. class j is drawn with probability
``size_j / N*`` (Eq. 11's sizes sum to N*). Before the first round no F1 exists; every f1 is taken
as 0, which gives equal sizes (class-balanced draws). When every class has F1 = 1 the sizes are
equal as well (Eq. 11 is 0 / 0 there).

Rounds, validation, second model (all inside the run's one ``lax.scan``):

* Both models train on the run's whole training subset (``state.subset``, as every other method) and
  the F1 of a round is measured on the run's validation part (``state.validation``): the engine's
  stratified split, carved from the pool before the subset is chosen and shared by every method of a
  seed (``config.validation_fraction``; Pouyanfar et al. split 70 / 20 / 10 into train / validation /
  test, so 0.2 is the paper's set-up). ``class_counts`` and ``N*`` are the subset's. A class absent
  from the validation part (a pool class of fewer than ``1 / validation_fraction`` examples) has no
  true positive, so its F1 is 0 (scikit-learn's ``zero_division=0``) and it is sampled the most.
* A round is ``round_steps`` optimizer steps; ``round_steps = 0`` (default) is one epoch of the
  training subset, ``ceil(n_train / batch_size)`` steps (the paper updates after every iteration over
  the data). At steps R, 2R, ... the sampled model predicts the validation part, and Eq. 11 of its
  class-wise F1 (one-vs-rest, ``2 TP / (2 TP + FP + FN)``, 0 when undefined;
  :func:`imbjax.metrics.confusion.f_beta_from_counts`) sets the weights.
* Pouyanfar et al. also train "a second model ... without sampling" against over-fitting of the
  minority classes and compute the output "as a function of both models" (survey); the function is
  not specified there. Here the second model (same initial parameters, uniform batches from the
  training subset) trains in the same program, and the prediction is the weighted average of the two
  models' probabilities, ``w * p_sampled + (1 - w) * p_plain`` with ``w = ensemble_weight``
  (default 0.5, the plain average; 1 is the dynamically sampled model alone, 0 the plain one).
  ``train_loss`` is the sum of the two models' losses.

The F1 evaluation passes the whole pool through the network, which would cost a pool pass at
*every* step once ``lax.cond`` is vmapped over runs (its batched predicate turns it into a
``select``). :func:`imbjax.engine.blocks.round_update` therefore batches its condition itself: the vmapped update runs
only at steps where at least one run ends a round (one all-reduce of a boolean per step when the run
axis is sharded).

Hyper-parameters (sweepable; ``Method.bounds`` refuses other values before compiling):
``round_steps`` >= 0 (rounded to an integer), ``ensemble_weight``
in [0, 1]. A program given values outside (``make_train`` does not check bounds) clips them.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax.engine.blocks import (
    apply_in_batches,
    draw_batch_with,
    gradient_step,
    init_optimizer,
    initial_state,
    method_loss,
    method_probabilities,
    model_of,
    refresh_interval,
    round_update,
    test_outputs,
)
from imbjax.engine.method import Method
from imbjax.engine.program import Family, Program, ProgramSpec, branches
from imbjax.metrics import confusion
from imbjax.sampling import class_size_weights, dynamic_sample_sizes

Array = jax.Array

POUYANFAR = "Pouyanfar et al. 2018 (MIPR), dynamic sampling, survey Eq. 11"
FAMILY = "dynamic_sampling"


# --- Kernels ----------------------------------------------------------------------------------

def eq11_sizes(f1: Array, class_counts: Array) -> Array:
    """Survey Eq. 11 sizes ``float32[C]`` for the training subset's ``class_counts: [C]``, with
    ``N* = mean(class_counts)`` (:func:`imbjax.sampling.dynamic_sample_sizes`)."""
    return dynamic_sample_sizes(f1, jnp.mean(jnp.asarray(class_counts, jnp.float32)))


def validation_f1(labels: Array, predictions: Array, validation: Array, num_classes: int) -> Array:
    """One-vs-rest F1 ``float32[C]`` of every class over the examples of ``validation: bool[N]``
    (``sklearn.metrics.f1_score(average=None, zero_division=0)`` on them)."""
    counts = confusion.class_counts(labels, predictions, num_classes=num_classes, where=validation)
    return confusion.f_beta_from_counts(counts, 1.0, average=None)


# --- The training program -------------------------------------------------------------------

class DynamicState(NamedTuple):
    """The method state of a dynamic-sampling run.

    Attributes:
      round_steps: ``int32`` steps per round (the epoch length resolved when ``round_steps = 0``).
      f1: ``float32[C]`` class-wise validation F1 of the last round (0 before the first).
      sizes: ``float32[C]`` Eq. 11 class sizes in force (``state.weights`` are their per-example form).
    """

    round_steps: Array
    f1: Array
    sizes: Array


SAMPLED, PLAIN = "sampled", "plain"


def dynamic_sampling_program(spec: ProgramSpec) -> Program:
    """Two models in one state (``params = {"sampled": ..., "plain": ...}``): the first on batches
    drawn by the Eq. 11 weights, re-computed every round, the second on uniform batches; the
    prediction averages their probabilities (see the module docstring)."""
    model = model_of(spec)
    loss_fns = branches(spec.methods, "loss")
    postprocessors = branches(spec.methods, "postprocess")
    samplers = branches(spec.methods, "sampler")

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        round_steps = refresh_interval(hparams["round_steps"], jnp.sum(state.class_counts), spec.batch_size)
        f1 = jnp.zeros(spec.num_classes, jnp.float32)
        sizes = eq11_sizes(f1, state.class_counts)
        params = {SAMPLED: state.params, PLAIN: state.params}
        return state._replace(
            params=params, opt_state=init_optimizer(spec, hparams, params),
            weights=class_size_weights(data.y_train, mask, sizes), extra=DynamicState(round_steps, f1, sizes))

    def new_round(carry, inputs):
        """Eq. 11 weights from the sampled model's validation F1: ``carry = (weights, f1, sizes)``."""
        del carry
        params, x, labels, subset, validation, counts = inputs
        logits, _ = apply_in_batches(model, params, x, spec.eval_batch_size)
        f1 = validation_f1(labels, jnp.argmax(logits, axis=-1), validation, spec.num_classes)
        sizes = eq11_sizes(f1, counts)
        return class_size_weights(labels, subset, sizes), f1, sizes

    maybe_new_round = round_update(new_round)

    def train_step(data, hparams, state):
        extra = state.extra
        ends_round = (state.step > 0) & (state.step % extra.round_steps == 0)
        weights, f1, sizes = maybe_new_round(
            ends_round, (state.weights, extra.f1, extra.sizes),
            (state.params[SAMPLED], data.x_train, data.y_train, state.subset, state.validation, state.class_counts))
        state = state._replace(weights=weights, extra=extra._replace(f1=f1, sizes=sizes))
        state, x_sampled, y_sampled = draw_batch_with(spec, data, state, weights)
        state, x_plain, y_plain = draw_batch_with(spec, data, state, state.subset.astype(jnp.float32))

        def both_losses(params):
            sampled, sampled_after = method_loss(spec, model, loss_fns, state, hparams, params[SAMPLED],
                                                 x_sampled, y_sampled)
            plain, plain_after = method_loss(spec, model, loss_fns, state, hparams, params[PLAIN], x_plain, y_plain)
            return sampled + plain, {SAMPLED: sampled_after, PLAIN: plain_after}

        return gradient_step(spec, state, hparams, both_losses)

    def predict(state, hparams, x):
        """``w * p_sampled + (1 - w) * p_plain`` on ``x``, ``w = ensemble_weight`` (clipped to [0, 1])."""
        weight = jnp.clip(hparams["ensemble_weight"], 0.0, 1.0)
        sampled, plain = (method_probabilities(spec, postprocessors, state, hparams,
                                               apply_in_batches(model, state.params[name], x, spec.eval_batch_size)[0])
                          for name in (SAMPLED, PLAIN))
        return weight * sampled + (1.0 - weight) * plain

    def evaluate(data, state, hparams):
        return test_outputs(spec, data, state, predict(state, hparams, data.x_test),
                            functools.partial(predict, state, hparams))

    return Program(init, train_step, evaluate)


FAMILIES = (Family(FAMILY, dynamic_sampling_program, epoch_sampling=False, batch_norm=False),)

METHODS = (
    Method("dynamic_sampling", family=FAMILY, needs_validation=True,
           hparams={"round_steps": 0.0, "ensemble_weight": 0.5},
           bounds={"round_steps": (0.0, math.inf), "ensemble_weight": (0.0, 1.0)},
           reference=f"{POUYANFAR}; second model without sampling, probabilities averaged"),
)
