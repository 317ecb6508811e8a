"""Dynamic sampling (Pouyanfar et al. 2018, MIPR; survey Eq. 11).

The class sizes of each round's sample follow the previous round's class-wise F1 on a validation
part held out of the training subset (survey Eq. 11)::

    size_j = (1 - f1_j) / sum_k (1 - f1_k) * N*          (N*: mean class size of the training part)

so classes the network gets wrong are over-sampled and classes it has learnt are under-sampled.
With a fixed step budget the sizes act as proportions: a round draws its batches with per-example
weights ``size_{y_i} / n_{y_i}`` over the training part, i.e. class j is drawn with probability
``size_j / N*`` (Eq. 11's sizes sum to N*). Before the first round no F1 exists; every f1 is taken
as 0, which gives equal sizes (class-balanced draws). When every class has F1 = 1 the sizes are
equal as well (Eq. 11 is 0 / 0 there).

Rounds, validation, second model (all inside the run's one ``lax.scan``):

* The validation part: ``floor(validation_fraction * n_c)`` random examples of every class c, at
  most ``n_c - 1`` so that every class keeps a training example (Pouyanfar et al. split 70 / 20 /
  10 into train / validation / test; ``validation_fraction = 0.2`` by default). Both models train
  on the rest; ``train_examples`` etc. in the results count the rest. A class without validation
  examples (``n_c = 1``) scores F1 = 0 and is sampled most.
* A round is ``round_steps`` optimizer steps; ``round_steps = 0`` (default) is one epoch of the
  training part, ``ceil(n_train / batch_size)`` steps (the paper updates after every iteration over
  the data). At steps R, 2R, ... the sampled model predicts the validation part, and Eq. 11 of its
  class-wise F1 (one-vs-rest, ``2 TP / (2 TP + FP + FN)``, 0 when undefined) sets the weights.
* Pouyanfar et al. also train "a second model ... without sampling" against over-fitting of the
  minority classes and compute the output "as a function of both models" (survey); the function is
  not specified there. Here the second model (same initial parameters, uniform batches from the
  training part) trains in the same program, and the prediction is the weighted average of the two
  models' probabilities, ``w * p_sampled + (1 - w) * p_plain`` with ``w = ensemble_weight``
  (default 0.5, the plain average; 1 is the dynamically sampled model alone, 0 the plain one).
  ``train_loss`` is the sum of the two models' losses.

The F1 evaluation passes the whole pool through the network, which would cost a pool pass at
*every* step once ``lax.cond`` is vmapped over runs (its batched predicate turns it into a
``select``). :func:`imbjax.train.round_update` therefore batches its condition itself: the vmapped update runs
only at steps where at least one run ends a round (one all-reduce of a boolean per step when the run
axis is sharded).

Hyper-parameters (sweepable; ``Method.bounds`` refuses other values before compiling):
``validation_fraction`` in [0, 0.9], ``round_steps`` >= 0 (rounded to an integer), ``ensemble_weight``
in [0, 1]. A program given values outside (``make_train`` does not check bounds) clips them.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from imbjax import models
from imbjax.imbalance import split_holdout
from imbjax.method_library.data_level import draw_batch_with, method_loss, method_probabilities
from imbjax.methods import Method, register
from imbjax.sampling import class_size_weights, dynamic_sample_sizes
from imbjax.train import (
    Program, ProgramSpec, apply_in_batches, branches, gradient_step, initial_state, optimizer_for,
    refresh_interval, register_family, round_update, test_metrics,
)

Array = jax.Array

POUYANFAR = "Pouyanfar et al. 2018 (MIPR), dynamic sampling, survey Eq. 11"
FAMILY = "dynamic_sampling"
# The random stream of the validation split, folded into the run's seed key (independent of the
# subset, initialisation and batch streams, so those stay paired with the other methods' runs).
VALIDATION_STREAM = 11


# --- Kernels ----------------------------------------------------------------------------------

def eq11_sizes(f1: Array, class_counts: Array) -> Array:
    """Survey Eq. 11 sizes ``float32[C]`` for the training part's ``class_counts: [C]``, with
    ``N* = mean(class_counts)`` (:func:`imbjax.sampling.dynamic_sample_sizes`)."""
    return dynamic_sample_sizes(f1, jnp.mean(jnp.asarray(class_counts, jnp.float32)))


def classwise_f1(labels: Array, predictions: Array, mask: Array, num_classes: int) -> Array:
    """One-vs-rest F1 of every class over the examples of ``mask``: ``2 TP / (2 TP + FP + FN)``,
    0 where undefined (no example of the class and none predicted), ``float32[C]``.
    Equals ``sklearn.metrics.f1_score(average=None, zero_division=0)`` on the masked examples."""
    weight = mask.astype(jnp.float32)[:, None]
    true = jax.nn.one_hot(labels, num_classes) * weight
    predicted = jax.nn.one_hot(predictions, num_classes) * weight
    true_positives = jnp.sum(true * predicted, axis=0)
    denominator = jnp.sum(true, axis=0) + jnp.sum(predicted, axis=0)
    return jnp.where(denominator > 0, 2.0 * true_positives / jnp.where(denominator > 0, denominator, 1.0), 0.0)


# --- The training program -------------------------------------------------------------------

class DynamicState(NamedTuple):
    """The method state of a dynamic-sampling run.

    Attributes:
      train_mask: ``bool[N]`` the training part (the subset less the validation part).
      validation_mask: ``bool[N]`` the validation part.
      round_steps: ``int32`` steps per round (the epoch length resolved when ``round_steps = 0``).
      f1: ``float32[C]`` class-wise validation F1 of the last round (0 before the first).
      sizes: ``float32[C]`` Eq. 11 class sizes in force (``state.weights`` are their per-example form).
    """

    train_mask: Array
    validation_mask: Array
    round_steps: Array
    f1: Array
    sizes: Array


SAMPLED, PLAIN = "sampled", "plain"


@register_family(FAMILY)
def dynamic_sampling_program(spec: ProgramSpec) -> Program:
    """Two models in one state (``params = {"sampled": ..., "plain": ...}``): the first on batches
    drawn by the Eq. 11 weights, re-computed every round, the second on uniform batches; the
    prediction averages their probabilities (see the module docstring)."""
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    loss_fns = branches(spec.methods, "loss")
    postprocessors = branches(spec.methods, "postprocess")
    samplers = branches(spec.methods, "sampler")

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        train_mask, validation, counts = split_holdout(jax.random.fold_in(key, VALIDATION_STREAM), data.y_train,
                                                       mask, spec.num_classes, hparams["validation_fraction"],
                                                       rounding="floor")
        round_steps = refresh_interval(hparams["round_steps"], jnp.sum(counts), spec.batch_size)
        f1 = jnp.zeros(spec.num_classes, jnp.float32)
        sizes = eq11_sizes(f1, counts)
        params = {SAMPLED: state.params, PLAIN: state.params}
        return state._replace(
            params=params, opt_state=optimizer_for(spec, hparams).init(params), class_counts=counts,
            weights=class_size_weights(data.y_train, train_mask, sizes),
            extra=DynamicState(train_mask, validation, round_steps, f1, sizes))

    def new_round(carry, inputs):
        """Eq. 11 weights from the sampled model's validation F1: ``carry = (weights, f1, sizes)``."""
        del carry
        params, x, labels, extra, counts = inputs
        logits, _ = apply_in_batches(model, params, x, spec.eval_batch_size)
        f1 = classwise_f1(labels, jnp.argmax(logits, axis=-1), extra.validation_mask, spec.num_classes)
        sizes = eq11_sizes(f1, counts)
        return class_size_weights(labels, extra.train_mask, sizes), f1, sizes

    maybe_new_round = round_update(new_round)

    def train_step(data, hparams, state):
        extra = state.extra
        ends_round = (state.step > 0) & (state.step % extra.round_steps == 0)
        weights, f1, sizes = maybe_new_round(
            ends_round, (state.weights, extra.f1, extra.sizes),
            (state.params[SAMPLED], data.x_train, data.y_train, extra, state.class_counts))
        state = state._replace(weights=weights, extra=extra._replace(f1=f1, sizes=sizes))
        state, x_sampled, y_sampled = draw_batch_with(spec, data, state, weights)
        state, x_plain, y_plain = draw_batch_with(spec, data, state, extra.train_mask.astype(jnp.float32))

        def both_losses(params):
            return (method_loss(spec, model, loss_fns, state, hparams, params[SAMPLED], x_sampled, y_sampled)
                    + method_loss(spec, model, loss_fns, state, hparams, params[PLAIN], x_plain, y_plain))

        return gradient_step(spec, state, hparams, both_losses)

    def advance(data, state, hparams, num_steps):
        return jax.lax.scan(lambda s, _: (train_step(data, hparams, s), None), state, length=num_steps)[0]

    def evaluate(data, state, hparams):
        weight = jnp.clip(hparams["ensemble_weight"], 0.0, 1.0)
        probs = [method_probabilities(spec, postprocessors, state, hparams,
                                      apply_in_batches(model, state.params[name], data.x_test, spec.eval_batch_size)[0])
                 for name in (SAMPLED, PLAIN)]
        return test_metrics(spec, data, state, weight * probs[0] + (1.0 - weight) * probs[1])

    return Program(init, advance, evaluate)


register(Method("dynamic_sampling", family=FAMILY,
                hparams={"validation_fraction": 0.2, "round_steps": 0.0, "ensemble_weight": 0.5},
                bounds={"validation_fraction": (0.0, 0.9), "round_steps": (0.0, math.inf), "ensemble_weight": (0.0, 1.0)},
                reference=f"{POUYANFAR}; second model without sampling, probabilities averaged"))
