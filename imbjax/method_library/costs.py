"""Learned misclassification costs: CoSen (Khan et al. 2018) and CSDBN-DE (Zhang et al.).

Both methods train the network with a class-to-class cost matrix ``xi: float32[C, C]`` applied to the
output layer, ``xi[p, q]`` the cost of predicting class q for an example of class p (Khan et al.'s
convention: row = true class; the transpose of the survey's Table 2). Khan et al.'s cost-sensitive
softmax for the CE loss is::

    y_q = xi[p, q] exp(o_q) / sum_k xi[p, k] exp(o_k),      loss = -log y_p       (p: true class)

i.e. cross-entropy of the logits ``o + log xi[p]``. Only ratios within a row matter (scaling a row
leaves the loss unchanged), so ``xi[p, p] = 1`` and the off-diagonal ``xi[p, q] > 1`` asks the network
for a margin of ``log xi[p, q]`` between class p and class q on class-p examples. A row is chosen by
the true class, which is unknown at test time, so both methods predict with the plain softmax of ``o``
(Khan et al. use the costs in training only; the survey says Zhang et al. apply the best matrix to the
output layer of the final network, here through the network trained with it).

**CoSen** (family ``"cosen"``, methods ``cosen`` with the CE above and ``cosen_hinge`` with a
multi-class hinge loss of the same cost-modified outputs): the network and the costs are updated
alternately.
Network steps take the costs as fixed; every ``cost_update_steps`` steps (0: one epoch of the
training part) the network is fixed and the costs take one gradient step towards a target ``T``::

    xi <- xi - cost_learning_rate * E * d/dxi (1/2 ||xi - T||^2) = xi + cost_learning_rate * E * (T - xi)

where ``E = mean_p R[p]`` is the overall validation error, measured class-balanced (the mean of the
class-wise errors), since the plain error rate of imbalanced validation data hardly moves when a
minority class fails; the costs stop moving once every class is recognised. For ``p != q``
(``T[p, p] = 1``)::

    T[p, q] = H[p, q] * (1 + R[p]) * (1 + M[p, q]) * (2 - S[p, q])

* ``H[p, q] = max(h_p, h_q) / h_p = max(1, n_q / n_p)``: Khan et al.'s class-histogram matrix
  ``H[p, q] = max(h_p, h_q)``, ``H[p, p] = h_p``, divided by its diagonal (``h``: training class
  frequencies); a minority class needs a margin ``log(n_q / n_p)`` against a larger class;
* ``R[p] = 1 - recall_p``: the class-wise error of p (validation confusion matrix);
* ``M[p, q]``: the confusion rate, the fraction of validation examples of class p predicted as q;
* ``S[p, q]``: class-to-class separability in the penultimate feature space, the histogram mass
  below 1 of the ratio ``d(x, nearest other example of p) / d(x, nearest example of q)`` over
  examples x of class p (the fraction of class-p examples whose nearest own-class neighbour is
  closer than class q). It is estimated on ``SEPARABILITY_ANCHORS`` class-balanced draws x from the
  training part against every training-part example.

Khan et al. name these quantities (class representation, classification errors, class-to-class
separability, overall error) and minimise ``||T - xi||^2``; the text of the paper was not available
here beyond the survey, so the way ``T`` combines them above is this module's transcription, with
factors that equal 1 when the quantity shows no difficulty. With ``cost_learning_rate * E <= 1`` each
update is a convex combination of ``xi`` and ``T``, so costs stay in ``[1, max T]``; they start at 1
(plain cross-entropy). A class without validation examples (one training example) counts as always
wrong with its errors spread evenly (``R = 1``, ``M = 1 / (C - 1)``); a class without another training
example has no own-class neighbour (``S = 0``).

The validation part (both methods) is ``ceil(validation_fraction * n_c)`` random examples of every
class, at most ``n_c - 1`` (:func:`imbjax.imbalance.holdout_counts` rounding up): every class with
two examples or more is validated, and every class keeps a training example. The network trains on the rest, and
``train_examples`` etc. in the results count the rest. Khan et al. fine-tuned a pre-trained CNN
and updated costs once per epoch; here the model is the config's, trained from scratch.

**CSDBN-DE** (family ``"de_costs"``, method ``de_costs``, Zhang et al.; survey "CSDBN-DE"): the cost
matrix is evolved by differential evolution (evosax's ``DifferentialEvolution``, DE/best/1/bin with
greedy selection). A population of ``population_size`` matrices (log-costs off the diagonal,
``C (C - 1)`` numbers) is trained in parallel (``vmap`` over members, on the same batches) for one
generation of ``num_steps // generations`` steps (the last generation takes the remainder), every
member starting from the best network so far (the run's initial network in the first generation), so
that evolution and training interleave as in Zhang et al. and the kept network has trained for the
whole budget along its line of descent; the fitness of a member is minus the balanced accuracy of its
network on the validation part (a class with a single example, which has no validation example, is
scored on that training example, the only evidence there is). DE then proposes the next generation.
The run keeps the best matrix and the network trained with it (a tie goes to the newer, longer trained
network); greedy selection makes the population's best fitness and the kept best monotone, although
fitness values of different generations belong to networks trained for different lengths. Prediction
is the plain softmax of the kept network. Member 0 of the first generation is the all-ones matrix
(plain CE), the others draw log-costs uniformly in ``[-r, r]`` (``r = cost_init_range``).
Zhang et al. used a deep belief network with layer-wise pre-training; here it is the config's model
(an MLP by default) trained by backpropagation. The training budget of a run, ``num_steps``
optimizer steps of the whole population, is split into the generations; ``population_size`` (4) and
``generations`` (3) are static method constants (register an :class:`EvolvedCostMethod` to change
them), the DE rates ``crossover_rate`` (0.9) and ``differential_weight`` (0.8), evosax's defaults, are
sweepable.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from evosax.algorithms import DifferentialEvolution

from imbjax import losses, models
from imbjax.imbalance import masked_class_counts, split_holdout
from imbjax.method_library.data_level import method_loss, method_probabilities
from imbjax.methods import Method, register
from imbjax.sampling import draw_batch, ros_weights, uniform_weights
from imbjax.train import (
    Program, ProgramSpec, apply_in_batches, branches, draw_training_batch, gradient_step, initial_state,
    optimizer_for, refresh_interval, register_family, round_update, standard_program, test_metrics,
)

Array = jax.Array

KHAN = "Khan, Hayat, Bennamoun, Sohel & Togneri 2018 (IEEE TNNLS 29), CoSen"
ZHANG_DE = "Zhang et al. (CSDBN-DE), cost matrix by differential evolution"
COSEN_FAMILY = "cosen"
DE_FAMILY = "de_costs"
# Random streams folded into the run's seed key (the subset, initialisation and batch streams stay
# paired with the other methods' runs of the same seed).
VALIDATION_STREAM = 13
DE_STREAM = 17
SEPARABILITY_STREAM = 19
# Class-balanced examples whose nearest neighbours estimate the separability S (static: a shape).
SEPARABILITY_ANCHORS = 64


# --- The cost-sensitive loss -----------------------------------------------------------------------

def cost_sensitive_softmax_ce(logits: Array, labels: Array, costs: Array) -> Array:
    """Khan et al.'s cost-sensitive softmax CE, ``-log(xi[p, p] e^{o_p} / sum_k xi[p, k] e^{o_k})``.

    Args:
      logits: ``[batch, C]`` network outputs ``o``.
      labels: ``int[batch]`` true classes ``p``.
      costs: ``[C, C]`` positive costs, ``xi[p, q]`` for true class p and predicted class q.

    Returns:
      ``float32[batch]``.
    """
    return losses.cross_entropy(logits + jnp.log(costs)[labels], labels)


def cost_sensitive_hinge(logits: Array, labels: Array, costs: Array) -> Array:
    """Multi-class (Weston-Watkins) hinge loss of the cost-modified outputs ``o + log xi[p]``:
    ``sum_{q != p} max(0, 1 + o_q + log xi[p, q] - o_p - log xi[p, p])``, a margin ``1 + log(xi[p, q] /
    xi[p, p])`` between the true class p and class q.

    Khan et al. also give an SVM hinge variant, with costs scaling the outputs; here the costs enter
    the hinge the way they enter the CE (as log-margins), so one learned matrix means the same for both.
    Shapes as :func:`cost_sensitive_softmax_ce`; returns ``float32[batch]``.
    """
    adjusted = logits + jnp.log(costs)[labels]
    true_score = jnp.take_along_axis(adjusted, labels[:, None], axis=1)
    violations = jnp.maximum(0.0, 1.0 + adjusted - true_score)
    return jnp.sum(jnp.where(jax.nn.one_hot(labels, logits.shape[-1], dtype=bool), 0.0, violations), axis=1)


def learned_cost_ce(logits, labels, ctx):
    """Method loss: mean cost-sensitive CE with the run's current costs ``ctx.extra.costs``."""
    return jnp.mean(cost_sensitive_softmax_ce(logits, labels, ctx.extra.costs))


def learned_cost_hinge(logits, labels, ctx):
    """Method loss: mean cost-sensitive hinge loss with the run's current costs ``ctx.extra.costs``."""
    return jnp.mean(cost_sensitive_hinge(logits, labels, ctx.extra.costs))


# --- CoSen: the quantities of the cost update --------------------------------------------------------

def confusion_matrix(labels: Array, predictions: Array, mask: Array, num_classes: int) -> Array:
    """``float32[C, C]`` counts of the examples of ``mask``: row = true class, column = predicted."""
    weight = mask.astype(jnp.float32)[:, None]
    return jnp.matmul((jax.nn.one_hot(labels, num_classes) * weight).T, jax.nn.one_hot(predictions, num_classes),
                      precision=jax.lax.Precision.HIGHEST)


def confusion_rates(confusion: Array) -> Array:
    """Row-normalised confusion ``M[p, q]``, ``float32[C, C]``; a class without examples counts as
    always wrong, errors spread evenly: ``M[p, p] = 0``, ``M[p, q] = 1 / (C - 1)``."""
    num_classes = confusion.shape[0]
    totals = jnp.sum(confusion, axis=1, keepdims=True)
    unknown = (1.0 - jnp.eye(num_classes)) / (num_classes - 1)
    return jnp.where(totals > 0, confusion / jnp.maximum(totals, 1.0), unknown)


def balanced_error(rates: Array) -> Array:
    """Mean class-wise error ``E = mean_p (1 - M[p, p])`` of the confusion rates ``M: [C, C]``."""
    return 1.0 - jnp.mean(jnp.diagonal(rates))


def nearest_class_distances(anchor_features: Array, anchor_index: Array, features: Array, labels: Array,
                            mask: Array, num_classes: int) -> Array:
    """Squared distance from every anchor to its nearest example of every class among ``mask``
    (the anchor itself excluded), ``float32[A, C]``; ``inf`` for a class without such an example.

    Args:
      anchor_features: ``[A, D]``; anchor_index: ``int[A]`` their pool indices.
      features: ``[N, D]``; labels: ``int[N]``; mask: ``bool[N]`` the candidate neighbours.
    """
    cross = jnp.matmul(anchor_features, features.T, precision=jax.lax.Precision.HIGHEST)
    squared = (jnp.sum(anchor_features**2, axis=1, keepdims=True) - 2.0 * cross
               + jnp.sum(features**2, axis=1)[None, :])
    candidate = mask[None, :] & (jnp.arange(features.shape[0])[None, :] != anchor_index[:, None])
    squared = jnp.where(candidate, jnp.maximum(squared, 0.0), jnp.inf)
    return jax.ops.segment_min(squared.T, labels, num_segments=num_classes).T


def separability(nearest: Array, anchor_labels: Array, num_classes: int) -> Array:
    """C2C separability ``S[p, q]``: the fraction of the class-p anchors whose nearest own-class
    example is strictly closer than their nearest class-q example, ``float32[C, C]`` (0 for a class
    without anchors; ``nearest: [A, C]`` from :func:`nearest_class_distances`)."""
    own = jnp.take_along_axis(nearest, anchor_labels[:, None], axis=1)
    closer = (own < nearest).astype(jnp.float32)
    members = jax.nn.one_hot(anchor_labels, num_classes)
    anchors_per_class = jnp.sum(members, axis=0)
    counts = jnp.matmul(members.T, closer, precision=jax.lax.Precision.HIGHEST)
    return counts / jnp.maximum(anchors_per_class, 1.0)[:, None]


def cost_target(train_counts: Array, rates: Array, separation: Array) -> Array:
    """The target ``T`` of the CoSen cost update (module docstring), ``float32[C, C]``:
    ``T[p, q] = max(1, n_q / n_p) (1 + R[p]) (1 + M[p, q]) (2 - S[p, q])`` off the diagonal, 1 on it.

    Args:
      train_counts: ``[C]`` training examples per class ``n`` (a class with none is treated as 1).
      rates: ``[C, C]`` confusion rates ``M`` (:func:`confusion_rates`), ``R[p] = 1 - M[p, p]``.
      separation: ``[C, C]`` separability ``S`` (:func:`separability`).
    """
    counts = jnp.maximum(jnp.asarray(train_counts, jnp.float32), 1.0)
    histogram = jnp.maximum(1.0, counts[None, :] / counts[:, None])
    class_error = 1.0 - jnp.diagonal(rates)
    target = histogram * (1.0 + class_error)[:, None] * (1.0 + rates) * (2.0 - separation)
    return jnp.where(jnp.eye(counts.shape[0], dtype=bool), 1.0, target)


def cost_step(costs: Array, target: Array, error: Array, learning_rate) -> Array:
    """One gradient step on ``(1/2) ||xi - T||^2`` scaled by the balanced validation error ``E``:
    ``xi + learning_rate * E * (T - xi)``."""
    return costs + learning_rate * error * (target - costs)


def cost_update(costs: Array, train_counts: Array, labels: Array, predictions: Array, validation_mask: Array,
                features: Array, train_mask: Array, anchors: Array, learning_rate) -> tuple[Array, Array]:
    """The CoSen cost step with the network fixed: ``(new costs, target T)``, both ``float32[C, C]``.

    Args:
      costs: ``[C, C]`` current costs ``xi``; train_counts: ``[C]`` training-part class counts.
      labels: ``int[N]`` pool labels; predictions: ``int[N]`` the network's predicted classes.
      validation_mask: ``bool[N]`` the examples of the confusion matrix (and of ``E``).
      features: ``[N, D]`` penultimate features; train_mask: ``bool[N]`` the neighbours of ``S``.
      anchors: ``int[A]`` pool indices of the examples whose neighbours estimate ``S``.
      learning_rate: the cost learning rate (``E * learning_rate <= 1`` keeps costs between xi and T).
    """
    num_classes = costs.shape[0]
    nearest = nearest_class_distances(features[anchors], anchors, features, labels, train_mask, num_classes)
    rates = confusion_rates(confusion_matrix(labels, predictions, validation_mask, num_classes))
    target = cost_target(train_counts, rates, separability(nearest, labels[anchors], num_classes))
    return cost_step(costs, target, balanced_error(rates), learning_rate), target


# --- CoSen: the training program ---------------------------------------------------------------------

class CoSenState(NamedTuple):
    """The method state of a CoSen run.

    Attributes:
      train_mask: ``bool[N]`` the training part; validation_mask: ``bool[N]`` the validation part.
      update_steps: ``int32`` steps between cost updates (the epoch length when the hparam is 0).
      costs: ``float32[C, C]`` the current costs ``xi`` (ones before the first update).
      target: ``float32[C, C]`` the target ``T`` of the last update (ones before the first).
    """

    train_mask: Array
    validation_mask: Array
    update_steps: Array
    costs: Array
    target: Array


def split_validation(spec: ProgramSpec, data, key: Array, mask: Array, fraction) -> tuple[Array, Array, Array]:
    """``(train_mask, validation_mask, train_counts)``: the run's subset less its validation part
    (``ceil(fraction * n_c)`` examples per class, see the module docstring)."""
    return split_holdout(jax.random.fold_in(key, VALIDATION_STREAM), data.y_train, mask, spec.num_classes, fraction,
                         rounding="ceil")


@register_family(COSEN_FAMILY)
def cosen_program(spec: ProgramSpec) -> Program:
    """Alternating updates: network steps on the cost-sensitive loss with the costs fixed (batches drawn
    uniformly from the training part), and every ``cost_update_steps`` a cost step with the network fixed
    (module docstring)."""
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        train_mask, validation, counts = split_validation(spec, data, key, mask, hparams["validation_fraction"])
        update_steps = refresh_interval(hparams["cost_update_steps"], jnp.sum(counts), spec.batch_size)
        ones = jnp.ones((spec.num_classes, spec.num_classes), jnp.float32)
        return state._replace(
            class_counts=counts, weights=uniform_weights(data.y_train, train_mask),
            extra=CoSenState(train_mask, validation, update_steps, ones, ones))

    def update_costs(carry, inputs):
        """``carry = (costs, target)``; the network is fixed (its parameters are an input)."""
        costs, _ = carry
        params, x, labels, extra, counts, key, learning_rate = inputs
        logits, features = apply_in_batches(model, params, x, spec.eval_batch_size)
        anchors = draw_batch(key, ros_weights(labels, extra.train_mask, spec.num_classes), SEPARABILITY_ANCHORS)
        return cost_update(costs, counts, labels, jnp.argmax(logits, axis=-1), extra.validation_mask, features,
                           extra.train_mask, anchors, learning_rate)

    maybe_update_costs = round_update(update_costs)

    def train_step(data, hparams, state):
        extra = state.extra
        due = (state.step > 0) & (state.step % extra.update_steps == 0)
        costs, target = maybe_update_costs(
            due, (extra.costs, extra.target),
            (state.params, data.x_train, data.y_train, extra, state.class_counts,
             jax.random.fold_in(state.key, SEPARABILITY_STREAM), jnp.clip(hparams["cost_learning_rate"], 0.0, 1.0)))
        state = state._replace(extra=extra._replace(costs=costs, target=target))
        state, x, y = draw_training_batch(spec, data, state)
        return gradient_step(spec, state, hparams,
                             lambda params: method_loss(spec, model, loss_fns, state, hparams, params, x, y))

    def advance(data, state, hparams, num_steps):
        return jax.lax.scan(lambda s, _: (train_step(data, hparams, s), None), state, length=num_steps)[0]

    return Program(init, advance, standard_program(spec).evaluate)


COSEN_HPARAMS = {"cost_learning_rate": 0.5, "cost_update_steps": 0.0, "validation_fraction": 0.2}
COSEN_BOUNDS = {"cost_learning_rate": (1e-6, 1.0), "cost_update_steps": (0.0, math.inf),
                "validation_fraction": (0.0, 0.9)}

register(Method("cosen", loss=learned_cost_ce, family=COSEN_FAMILY, hparams=COSEN_HPARAMS, bounds=COSEN_BOUNDS,
                reference=f"{KHAN}: cost-sensitive CE, costs learned jointly by alternating updates"))
register(Method("cosen_hinge", loss=learned_cost_hinge, family=COSEN_FAMILY, hparams=COSEN_HPARAMS,
                bounds=COSEN_BOUNDS,
                reference=f"{KHAN}: cost-sensitive multi-class hinge loss (costs as log-margins), costs learned "
                          "jointly by alternating updates"))


# --- CSDBN-DE: cost matrices evolved by differential evolution -------------------------------------

@dataclasses.dataclass(frozen=True)
class EvolvedCostMethod(Method):
    """A :class:`~imbjax.methods.Method` whose cost matrix is evolved by DE; ``population_size``
    (at least 4, evosax's minimum) and ``generations`` are static: they set shapes and loop lengths."""

    population_size: int = 4
    generations: int = 3


class MemberCosts(NamedTuple):
    """What a population member's loss reads as ``ctx.extra``: its ``costs: float32[C, C]``."""

    costs: Array


def costs_from_log(log_costs: Array, num_classes: int) -> Array:
    """The cost matrix ``float32[C, C]`` with ones on the diagonal and ``exp(log_costs)`` off it, row by
    row (``log_costs: [C (C - 1)]``, the DE genome)."""
    rows, cols = np.nonzero(~np.eye(num_classes, dtype=bool))
    return jnp.ones((num_classes, num_classes), jnp.float32).at[rows, cols].set(jnp.exp(log_costs))


def balanced_accuracy(confusion: Array) -> Array:
    """Mean recall over the classes with examples in ``confusion: [C, C]`` (0 without any)."""
    support = jnp.sum(confusion, axis=1)
    recall = jnp.diagonal(confusion) / jnp.maximum(support, 1.0)
    present = support > 0
    return jnp.sum(jnp.where(present, recall, 0.0)) / jnp.maximum(jnp.sum(present), 1)


def de_strategy(population_size: int, num_dims: int) -> DifferentialEvolution:
    """evosax's DE over ``num_dims`` real numbers (it minimises fitness)."""
    return DifferentialEvolution(population_size, jnp.zeros(num_dims, jnp.float32))


def de_params(strategy: DifferentialEvolution, hparams):
    """DE/best/1/bin at the run's ``crossover_rate`` and ``differential_weight`` (no dithering)."""
    weight = hparams["differential_weight"]
    return strategy.default_params.replace(elitism=True, crossover_rate=hparams["crossover_rate"],
                                           differential_weight=weight, differential_weight_min=weight,
                                           differential_weight_max=weight)


def de_start(strategy: DifferentialEvolution, params, key: Array, population: Array):
    """The DE state before any evaluation: ``population: [P, dims]`` with fitness ``inf``. The first
    :func:`de_generation` then accepts every member, which is evosax's ``init`` with the evaluated
    first population (the generation counter, read only for dithering, is one higher)."""
    return strategy.init(key, population, jnp.full(population.shape[0], jnp.inf), params)


def de_generation(strategy: DifferentialEvolution, params, key: Array, state, population: Array, fitness: Array):
    """One DE generation: tell the fitness ``float32[P]`` of the evaluated ``population: [P, dims]``
    (greedy selection: a member is replaced where the new fitness is not worse), then ask for the next
    population. Returns ``(state, next population [P, dims])``; pure, jit- and vmap-able."""
    tell_key, ask_key = jax.random.split(key)
    state, _ = strategy.tell(tell_key, population, fitness, state, params)
    next_population, state = strategy.ask(ask_key, state, params)
    return state, next_population


class DEState(NamedTuple):
    """The method state of a DE run (``state.params`` / ``opt_state`` stack the P members' networks).

    Attributes:
      train_mask: ``bool[N]`` the training part.
      fitness_mask: ``bool[N]`` the examples scored: the validation part, plus the training examples
        of classes without a validation example.
      population: ``float32[P, C (C - 1)]`` log-costs of the members being trained.
      strategy: evosax's DE state.
      best_log_costs: ``float32[C (C - 1)]`` the best matrix so far; best_params: its network (every
        generation's members start from it; the run's initial network before the first generation).
      best_fitness: ``float32`` its fitness (minus validation balanced accuracy; ``inf`` before any).
      best_fitness_history: ``float32[G]`` ``best_fitness`` after every generation (``inf`` before).
    """

    train_mask: Array
    fitness_mask: Array
    population: Array
    strategy: object
    best_log_costs: Array
    best_params: dict
    best_fitness: Array
    best_fitness_history: Array


def group_constant(spec: ProgramSpec, name: str) -> int:
    """A static DE constant shared by every method of the group; ``ValueError`` if they differ."""
    values = {getattr(method, name) for method in spec.methods}
    if len(values) != 1:
        raise ValueError(f"methods of one {DE_FAMILY!r} program must share {name}, got {sorted(values)}")
    return values.pop()


@register_family(DE_FAMILY)
def de_costs_program(spec: ProgramSpec) -> Program:
    """The population trains in parallel; at the end of every generation DE proposes new matrices
    and the members restart from the best network so far (module docstring)."""
    population_size, generations = group_constant(spec, "population_size"), group_constant(spec, "generations")
    if population_size < 4:
        raise ValueError(f"{DE_FAMILY} needs population_size >= 4 (DE/best/1 draws two members besides the "
                         f"target and the best), got {population_size}")
    if spec.num_steps < generations:
        raise ValueError(f"{DE_FAMILY} needs num_steps >= generations, got num_steps={spec.num_steps} and "
                         f"generations={generations}")
    generation_steps = spec.num_steps // generations
    num_classes = spec.num_classes
    strategy = de_strategy(population_size, num_classes * (num_classes - 1))
    model = models.make_model(spec.model, num_classes, **dict(spec.model_kwargs))
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")
    postprocessors = branches(spec.methods, "postprocess")

    def stacked(tree):
        return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (population_size, *leaf.shape)), tree)

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        train_mask, validation, counts = split_validation(spec, data, key, mask, hparams["validation_fraction"])
        de_key, population_key = jax.random.split(jax.random.fold_in(key, DE_STREAM))
        spread = hparams["cost_init_range"]
        population = jax.random.uniform(population_key, (population_size, strategy.num_dims), minval=-spread,
                                        maxval=spread).at[0].set(0.0)
        unvalidated = masked_class_counts(data.y_train, validation, spec.num_classes)[data.y_train] == 0
        extra = DEState(train_mask, validation | (train_mask & unvalidated), population,
                        de_start(strategy, de_params(strategy, hparams), de_key, population),
                        population[0], state.params, jnp.float32(jnp.inf), jnp.full(generations, jnp.inf))
        return state._replace(params=stacked(state.params), opt_state=stacked(state.opt_state), class_counts=counts,
                              weights=uniform_weights(data.y_train, train_mask), extra=extra)

    def end_generation(carry, inputs):
        """Fitness of the members, DE's next population, the best so far; members restart from it."""
        (members, _), extra = carry
        x, labels, generation, key, params, fresh_opt_state = inputs

        def fitness_of(member_params):
            logits, _ = apply_in_batches(model, member_params, x, spec.eval_batch_size)
            return -balanced_accuracy(confusion_matrix(labels, jnp.argmax(logits, axis=-1), extra.fitness_mask,
                                                       num_classes))

        fitness = jax.lax.map(fitness_of, members)
        winner = jnp.argmin(fitness)
        improved = fitness[winner] <= extra.best_fitness
        best_params = jax.tree.map(lambda best, member: jnp.where(improved, member[winner], best),
                                   extra.best_params, members)
        best_fitness = jnp.where(improved, fitness[winner], extra.best_fitness)
        strategy_state, population = de_generation(strategy, params, key, extra.strategy, extra.population, fitness)
        extra = extra._replace(
            population=population, strategy=strategy_state, best_params=best_params, best_fitness=best_fitness,
            best_log_costs=jnp.where(improved, extra.population[winner], extra.best_log_costs),
            best_fitness_history=extra.best_fitness_history.at[generation].set(best_fitness))
        return (stacked(best_params), stacked(fresh_opt_state)), extra

    maybe_end_generation = round_update(end_generation)

    def train_step(data, hparams, state):
        extra = state.extra
        state, x, y = draw_training_batch(spec, data, state)  # one batch for every member

        def member_step(params, opt_state, log_costs):
            member = state._replace(params=params, opt_state=opt_state,
                                    extra=MemberCosts(costs_from_log(log_costs, num_classes)))
            stepped = gradient_step(spec, member, hparams,
                                    lambda p: method_loss(spec, model, loss_fns, member, hparams, p, x, y))
            return stepped.params, stepped.opt_state, stepped.loss_ema

        params, opt_state, loss_emas = jax.vmap(member_step)(state.params, state.opt_state, extra.population)
        step = state.step + 1
        ends = ((step % generation_steps == 0) & (step // generation_steps < generations)) | (step == spec.num_steps)
        generation = jnp.where(step == spec.num_steps, generations - 1, step // generation_steps - 1)
        (params, opt_state), extra = maybe_end_generation(
            ends, ((params, opt_state), extra),
            (data.x_train, data.y_train, generation, jax.random.fold_in(state.key, DE_STREAM),
             de_params(strategy, hparams), optimizer_for(spec, hparams).init(extra.best_params)))
        # The members share the previous average, so the mean of their averages is the average of the mean loss.
        return state._replace(params=params, opt_state=opt_state, step=step, loss_ema=jnp.mean(loss_emas), extra=extra)

    def advance(data, state, hparams, num_steps):
        return jax.lax.scan(lambda s, _: (train_step(data, hparams, s), None), state, length=num_steps)[0]

    def evaluate(data, state, hparams):
        best = state._replace(params=state.extra.best_params,
                              extra=MemberCosts(costs_from_log(state.extra.best_log_costs, num_classes)))
        logits, _ = apply_in_batches(model, best.params, data.x_test, spec.eval_batch_size)
        return test_metrics(spec, data, best, method_probabilities(spec, postprocessors, best, hparams, logits))

    return Program(init, advance, evaluate)


register(EvolvedCostMethod(
    "de_costs", loss=learned_cost_ce, family=DE_FAMILY,
    hparams={"crossover_rate": 0.9, "differential_weight": 0.8, "cost_init_range": 1.0, "validation_fraction": 0.2},
    bounds={"crossover_rate": (0.0, 1.0), "differential_weight": (0.0, 2.0), "cost_init_range": (0.0, 10.0),
            "validation_fraction": (0.0, 0.9)},
    reference=f"{ZHANG_DE}; MLP trained by backpropagation instead of a DBN, population 4, 3 generations"))
