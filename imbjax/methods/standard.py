"""The standard training loop (family ``"standard"``) and its core methods: the baseline, random over- and
under-sampling (ROS, RUS), threshold moving and its combinations with ROS/RUS (Buda et al. 2018, methods
A-F), and cost-sensitive CE (CSDNN, Wang et al. 2018).

The standard loop samples a batch by the run's weights (the method's sampler), takes a step on the
method's loss, and predicts with the method's post-processing; every method of the family shares one
compiled program. The samplers and threshold moving here are pieces other families reuse.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from imbjax import losses, sampling
from imbjax.engine.blocks import (
    apply_in_batches,
    context,
    draw_training_batch,
    forward,
    gradient_step,
    initial_state,
    model_of,
    test_outputs,
)
from imbjax.engine.method import Method, full_learning_rate
from imbjax.engine.program import Family, Program, ProgramSpec, branches, choose

BUDA = "Buda, Maki & Mazurowski 2018, Neural Networks 106"


def ros_sampler(key, labels, mask, ctx):
    """Random over-sampling to balance (class-balanced draws)."""
    del key
    return sampling.ros_weights(labels, mask, ctx.class_counts.shape[0])


def rus_sampler(key, labels, mask, ctx):
    """Random under-sampling to balance (a fixed random balanced subset)."""
    return sampling.rus_weights(key, labels, mask, ctx.class_counts.shape[0])


def threshold_moving(logits, ctx):
    """Threshold moving (Buda et al. 2018): ``p_c / prior_c``, renormalised to sum to one.

    The priors are the class frequencies of the run's (imbalanced) training subset, also when
    the network was trained on re-sampled data (ROS/RUS + thresholding, Buda et al.'s E/F).
    Dividing by the prior in log space keeps it finite for classes with one example.
    """
    log_prior = jnp.log(jnp.maximum(ctx.priors, jnp.finfo(jnp.float32).tiny))
    return jax.nn.softmax(jax.nn.log_softmax(logits, axis=-1) - log_prior, axis=-1)


def cost_sensitive_mean_ce(logits, labels, ctx):
    """CSDNN cost-sensitive CE (Wang et al. 2018) with minority-class misclassification cost
    ``hparams["cost_ratio"]`` (cost 1 elsewhere); see :func:`imbjax.losses.cost_sensitive_ce`."""
    costs = losses.minority_cost_matrix(ctx.class_counts, cost_ratio=ctx.hparams["cost_ratio"])
    return jnp.mean(losses.cost_sensitive_ce(logits, labels, costs=costs))


def standard_program(spec: ProgramSpec) -> Program:
    """Sample a batch by the run's weights, take a step on its method's loss; predict with its
    post-processing. Every method of the family shares this one compiled program."""
    model = model_of(spec)
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")
    postprocessors = branches(spec.methods, "postprocess")
    learning_rate_factors = branches(spec.methods, "learning_rate_factor")
    rates_vary = learning_rate_factors.pieces != (full_learning_rate,)

    def init(data, key, hparams):
        return initial_state(spec, model, data, key, hparams, samplers)[0]

    def step(data, hparams, state):
        state, x, y = draw_training_batch(spec, data, state)

        def batch_loss(variables):
            logits, features, variables = forward(model, variables, x)
            ctx = context(spec, state, hparams, features)
            return choose(loss_fns, hparams["method_index"], logits, y, ctx), variables

        factor = (choose(learning_rate_factors, hparams["method_index"], context(spec, state, hparams))
                  if rates_vary else None)
        return gradient_step(spec, state, hparams, batch_loss, learning_rate_factor=factor)

    def predict(state, hparams, x):
        logits, _ = apply_in_batches(model, state.params, x, spec.eval_batch_size)
        return choose(postprocessors, hparams["method_index"], logits, context(spec, state, hparams))

    def evaluate(data, state, hparams):
        return test_outputs(spec, data, state, predict(state, hparams, data.x_test),
                            functools.partial(predict, state, hparams))

    return Program(init, step, evaluate)


FAMILIES = (Family("standard", standard_program, method_learning_rates=True),)

METHODS = (
    Method("baseline", reference="plain cross-entropy on the imbalanced subset"),
    Method("ros", sampler=ros_sampler, reference=f"{BUDA}; Hensman & Masko 2015"),
    Method("rus", sampler=rus_sampler, reference=BUDA),
    Method("threshold", postprocess=threshold_moving, reference=BUDA),
    Method("ros_threshold", sampler=ros_sampler, postprocess=threshold_moving, reference=BUDA),
    Method("rus_threshold", sampler=rus_sampler, postprocess=threshold_moving, reference=BUDA),
    Method("cs_ce", loss=cost_sensitive_mean_ce, hparams={"cost_ratio": 2.0}, bounds={"cost_ratio": (1e-6, math.inf)},
           reference="Wang et al. 2018 (CSDNN), survey Table 2; false-negative cost 2x"),
)
