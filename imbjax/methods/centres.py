"""Category centres (Zhang, Shuai, Ren & Chen 2018, YAC; survey "Category centers", ref. [91]).

The network is trained as usual (cross-entropy, with or without over-sampling); at test time
every example is assigned to the class whose *centre* is nearest in deep-feature space::

    mu_c = (1 / n_c) sum_{i in training subset, y_i = c} f(x_i)        (f: penultimate features)
    y_hat(x) = argmin_c || f(x) - mu_c ||_2

Centres are the means over the run's (imbalanced) training subset of the penultimate features of
the trained network (:func:`imbjax.engine.blocks.apply_in_batches` over the pool, restricted by the run's
mask). With ROS the subset is re-drawn, not changed, and duplicating every example of a class
equally often leaves its mean unchanged, so the same centres serve both methods.

Probabilities (for the ranking metrics): the nearest-centre rule predicts hard labels, so the
scores are ``p_c(x) = softmax_c(-||f(x) - mu_c||^2 / 2)``, the class posterior of a Gaussian
model with the centres as class means, identity covariance and equal priors. Its arg-max is the
nearest centre, so accuracy-type metrics are those of the nearest-centre rule; ROC AUC and
average precision rank examples by this posterior. A class without training examples has no
centre and probability 0.

Methods (family ``"category_centres"``, one compiled program):

* ``category_centres``: plain training (the paper's "CC", methods B/C);
* ``ros_category_centres``: training with ROS to balance (the paper's "CC + over-sampling", E/F).

Zhang et al. fine-tuned an ImageNet VGG-16 and tried the last convolutional and the last fully
connected layer as features; here the features are the model's penultimate layer (the input of
:data:`imbjax.models.HEAD`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from imbjax.engine.blocks import (
    apply_in_batches,
    initial_state,
    method_probabilities,
    model_of,
    test_outputs,
)
from imbjax.engine.method import Method
from imbjax.engine.program import Family, Program, ProgramSpec, branches
from imbjax.methods.standard import ros_sampler, standard_program

Array = jax.Array

ZHANG = "Zhang, Shuai, Ren & Chen 2018 (YAC), category centres"
FAMILY = "category_centres"


def class_centres(features: Array, labels: Array, mask: Array, num_classes: int) -> tuple[Array, Array]:
    """``(centres float32[C, D], counts float32[C])``: the mean feature of every class over the
    examples of ``mask: bool[N]`` (``features: [N, D]``, ``labels: int[N]``). A class without
    examples has a zero centre and count 0: ``mu_c = sum_{i: mask_i, y_i = c} f_i / n_c``."""
    members = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32) * mask[:, None]
    counts = jnp.sum(members, axis=0)
    sums = jnp.matmul(members.T, features.astype(jnp.float32), precision=jax.lax.Precision.HIGHEST)
    return sums / jnp.maximum(counts, 1.0)[:, None], counts


def nearest_centre_probabilities(features: Array, centres: Array, counts: Array) -> Array:
    """``softmax_c(-||f - mu_c||^2 / 2)`` over classes with a centre (``counts > 0``), ``float32[n, C]``.

    Args:
      features: ``[n, D]`` penultimate features of the examples to classify.
      centres: ``[C, D]`` class centres (see :func:`class_centres`).
      counts: ``[C]`` training examples per class; classes with 0 get probability 0.
    """
    cross = jnp.matmul(features, centres.T, precision=jax.lax.Precision.HIGHEST)
    squared = jnp.sum(features**2, axis=-1, keepdims=True) - 2.0 * cross + jnp.sum(centres**2, axis=-1)
    return jax.nn.softmax(jnp.where(counts > 0, -0.5 * squared, -jnp.inf), axis=-1)


def centre_postprocess(logits, ctx):
    """The nearest-centre posterior of the test examples: ``ctx.features`` are their features
    ``[n, D]`` and ``ctx.extra`` is ``(centres [C, D], counts [C])`` (set by the family's evaluate)."""
    del logits
    centres, counts = ctx.extra
    return nearest_centre_probabilities(ctx.features, centres, counts)


def category_centres_program(spec: ProgramSpec) -> Program:
    """The standard training loop; the run's training-subset mask is kept as the method state, and
    evaluation predicts with the nearest class centre (see the module docstring)."""
    model = model_of(spec)
    standard = standard_program(spec)
    samplers = branches(spec.methods, "sampler")
    postprocessors = branches(spec.methods, "postprocess")

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        return state._replace(extra=mask)

    def evaluate(data, state, hparams):
        _, pool_features = apply_in_batches(model, state.params, data.x_train, spec.eval_batch_size)
        centres = class_centres(pool_features, data.y_train, state.extra, spec.num_classes)

        def predict(x):
            logits, features = apply_in_batches(model, state.params, x, spec.eval_batch_size)
            return method_probabilities(spec, postprocessors, state._replace(extra=centres), hparams, logits,
                                        features=features)

        return test_outputs(spec, data, state, predict(data.x_test), predict)

    return Program(init, standard.step, evaluate)


FAMILIES = (Family(FAMILY, category_centres_program, method_learning_rates=True),)

METHODS = (
    Method("category_centres", postprocess=centre_postprocess, family=FAMILY,
           reference=f"{ZHANG}: nearest class centre of penultimate features, plain training"),
    Method("ros_category_centres", sampler=ros_sampler, postprocess=centre_postprocess, family=FAMILY,
           reference=f"{ZHANG}: nearest class centre, training with ROS to balance"),
)
