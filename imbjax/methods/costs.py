"""Learned misclassification costs: CoSen (Khan et al. 2018) and CSDBN-DE (Zhang et al.).

Cost matrices follow the package convention (:mod:`imbjax.losses`), which is Khan et al.'s: ``xi[p, q]``
is the cost of predicting class q for an example of **true class p** (row = true class; the transpose of
the survey's Table 2).

**Costs in the output layer's softmax (training, both methods).** Khan et al.'s cost-sensitive
softmax for the CE loss (:func:`imbjax.losses.cost_sensitive_softmax_ce`) is::

    y_q = xi[p, q] exp(o_q) / sum_k xi[p, k] exp(o_k),      loss = -log y_p       (p: true class)

i.e. cross-entropy of the logits ``o + log xi[p]``. Only ratios within a row matter (scaling a row
leaves the loss unchanged), so ``xi[p, p] = 1`` and the off-diagonal ``xi[p, q] > 1`` asks the network
for a margin of ``log xi[p, q]`` between class p and class q on class-p examples.

**CoSen** (family ``"cosen"``, methods ``cosen`` with the CE above and ``cosen_hinge`` with a
multi-class hinge loss of the same cost-modified outputs, :func:`imbjax.losses.cost_sensitive_hinge`):
the network and the costs are updated alternately. The network trains on the run's whole training
subset (``state.subset``, as every other method) with the costs fixed; every ``cost_update_steps`` steps
(0: one epoch of the subset) the network is fixed and the costs take one gradient step towards a target ``T``::

    xi <- xi - cost_learning_rate * E * d/dxi (1/2 ||xi - T||^2) = xi + cost_learning_rate * E * (T - xi)

where ``E = 1 - balanced accuracy`` on the run's validation part (``state.validation``, the engine's
stratified split of the pool, shared by every method of a seed), the overall validation error measured
class-balanced (the mean of the class-wise errors), since the plain error rate of imbalanced data hardly
moves when a minority class fails; the costs stop moving once every class is recognised. For ``p != q``
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
  training subset against every training example.

Khan et al. name these quantities (class representation, classification errors, class-to-class
separability, overall error) and minimise ``||T - xi||^2``; the text of the paper was not available
here beyond the survey, so the way ``T`` combines them above is this module's transcription, with
factors that equal 1 when the quantity shows no difficulty. With ``cost_learning_rate * E <= 1`` each
update is a convex combination of ``xi`` and ``T``, so costs stay in ``[1, max T]``; they start at 1
(plain cross-entropy). **A class absent from the validation part** (a pool class of fewer than
``1 / validation_fraction`` examples) shows no evidence of difficulty: ``R[p] = 0``, ``M[p, q] = 0``
(its factors are 1, its target is ``H (2 - S)``) and it is left out of ``E``; with no validated class
at all ``E = 0`` and the costs stay at 1. A class with a single training example has no own-class
neighbour (``S = 0``). Khan et al. fine-tuned a pre-trained CNN and updated costs once per epoch;
here the model is the config's, trained from scratch.

**CSDBN-DE** (Zhang et al.; survey "CSDBN-DE"): the survey's description is that the costs are built
into the output layer's softmax during fine-tuning, that training-set scores select each new population
of cost matrices, evolved by mutation and cross-over, and that "once training is complete, the best cost
matrix is selected and applied to the output layer ..., forming the final version ... to be used for
inference". Zhang et al.'s journal version (ECS-DBN, IEEE TNNLS 2018) evolves one cost per class with
adaptive DE and scores it by the training-set G-mean. Here:

1. *Genome.* ``form = "vector"`` (default): a per-class log-cost vector ``g: [C]``; class p's
   misclassification cost is ``c_p = exp(g_p)`` whatever the predicted class, i.e. the matrix
   ``cost[p, q] = c_p`` (``q != p``). Variant ``form = "matrix"`` (method ``de_costs_matrix``): every
   off-diagonal log-cost, ``C (C - 1)`` numbers, row by row. Both give a log-cost matrix ``L: [C, C]``
   with zeros on the diagonal (:func:`log_cost_matrix`).
2. *Training.* One network trains with the current best costs in its softmax: Khan et al.'s loss above
   with ``xi = exp(L)`` (ones on the diagonal). Before the first round ``L = 0`` (plain CE).
3. *Evolution, interleaved.* Training is cut into ``rounds`` rounds of ``num_steps // rounds`` steps
   (the last takes the remainder). At the end of every round the network is fixed, its softmax ``p`` on
   the pool is computed once, and DE (evosax's ``DifferentialEvolution``, DE/best/1/bin, greedy
   selection) runs ``generations_per_round`` generations of ``population_size`` genomes, each scored by
   a forward pass only (no network is trained per member): the fitness of a genome is minus the G-mean
   of the network's cost-adjusted predictions (step 4) on the scored examples. The population carries
   over between rounds and is re-scored on the new network at the start of each round (its stored
   fitness belongs to the previous network). The best genome of the round sets the costs of the next
   round's training and, after the last round (at the end of training), the costs used at inference.
4. *Inference* (cost-adjusted predictions): the minimum-expected-cost class
   ``argmin_q sum_p p_p cost[p, q]`` with ``cost = exp(a L)`` off the diagonal and 0 on it, which for a
   per-class vector is ``argmax_q c_q p_q`` (:func:`min_expected_cost_probabilities`). The probabilities
   for the ranking metrics are ``s_q / sum_k s_k`` with ``s_q = sum_p p_p (max_k cost[p, k] - cost[p, q])``
   (the expected cost saved against the worst decision; for a vector ``s_q = c_q p_q``, the renormalised
   cost-weighted softmax), whose argmax is the minimum-expected-cost class. ``a = inference_costs``:
   1 (default) applies the evolved costs as the paper does, 0 predicts with the plain softmax (the
   ablation "costs in training only"); values in between shrink the costs. The fitness always scores the
   costs as evolved (``a = 1``).
5. *Fitness set.* ``fitness_set = "train"`` (``de_costs``, ``de_costs_matrix``; the paper's choice): the
   run's training subset. Variant ``"validation"`` (``de_costs_validation``, which needs
   ``config.validation_fraction > 0``): the engine's shared validation part, since a network that fits
   its training set leaves the training-set fitness flat at G-mean 1. The G-mean is taken over the
   classes present among the scored examples (a class absent from them is left out, so it cannot
   zero every genome's fitness), with a recall of 0 replaced by ``GMEAN_CORRECTION`` (imbalanced-learn's
   ``correction``) so that genomes which still miss a class are ranked by the other classes.

DE population 0 starts as the zero genome (plain costs), the others uniform in ``[-r, r]``
(``r = cost_init_range``). Deviations from Zhang et al.: the config's model (an MLP by default) trained
by backpropagation instead of a pre-trained DBN; DE with fixed rates (``crossover_rate`` 0.9,
``differential_weight`` 0.8, evosax's defaults, sweepable) instead of adaptive DE; the rounds schedule
above. ``population_size`` (40), ``rounds`` (10), ``generations_per_round`` (10), ``form`` and
``fitness_set`` are static method constants (:class:`EvolvedCostMethod`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from evosax.algorithms import DifferentialEvolution

from imbjax import losses
from imbjax.engine.blocks import (
    apply_in_batches,
    draw_training_batch,
    gradient_step,
    initial_state,
    method_loss,
    model_of,
    refresh_interval,
    round_update,
)
from imbjax.engine.method import Method
from imbjax.engine.program import Family, Program, ProgramSpec, branches
from imbjax.engine.streams import stream_key
from imbjax.methods.standard import standard_program
from imbjax.metrics.confusion import (
    balanced_accuracy_from_counts,
    confusion_matrix,
    counts_from_confusion,
    safe_divide,
)
from imbjax.sampling import draw_batch, ros_weights

Array = jax.Array

KHAN = "Khan, Hayat, Bennamoun, Sohel & Togneri 2018 (IEEE TNNLS 29), CoSen"
ZHANG_DE = "Zhang et al. (CSDBN-DE; ECS-DBN, IEEE TNNLS 2018), costs evolved by differential evolution"
COSEN_FAMILY = "cosen"
DE_FAMILY = "de_costs"
DE_MATRIX_FAMILY = "de_costs_matrix"
# Class-balanced examples whose nearest neighbours estimate the separability S (static: a shape).
SEPARABILITY_ANCHORS = 64
COST_FORMS = ("vector", "matrix")
FITNESS_SETS = ("train", "validation")
# A class recall of 0 counts as this in the DE fitness's G-mean (imbalanced-learn's ``correction``).
GMEAN_CORRECTION = 1e-3


# --- The method losses -----------------------------------------------------------------------------

def learned_cost_ce(logits, labels, ctx):
    """Method loss: mean cost-sensitive softmax CE (:func:`imbjax.losses.cost_sensitive_softmax_ce`) with the
    run's current costs ``ctx.extra.costs``."""
    return jnp.mean(losses.cost_sensitive_softmax_ce(logits, labels, costs=ctx.extra.costs))


def learned_cost_hinge(logits, labels, ctx):
    """Method loss: mean cost-sensitive hinge loss (:func:`imbjax.losses.cost_sensitive_hinge`) with the
    run's current costs ``ctx.extra.costs``."""
    return jnp.mean(losses.cost_sensitive_hinge(logits, labels, costs=ctx.extra.costs))


# --- CoSen: the quantities of the cost update --------------------------------------------------------

def confusion_rates(confusion: Array) -> Array:
    """Row-normalised confusion ``M[p, q]`` of ``confusion: [C, C]`` (rows: true class), ``float32[C, C]``;
    a class without examples shows no error: ``M[p, p] = 1``, ``M[p, q] = 0``."""
    totals = jnp.sum(confusion, axis=1, keepdims=True)
    return jnp.where(totals > 0, safe_divide(confusion, totals), jnp.eye(confusion.shape[0]))


def balanced_error(confusion: Array) -> Array:
    """``E = 1 - balanced accuracy`` of ``confusion: [C, C]`` over the classes with examples (0 without any)."""
    counts = counts_from_confusion(confusion)
    return jnp.where(jnp.any(counts.support > 0), 1.0 - balanced_accuracy_from_counts(counts), 0.0)


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
      costs: ``[C, C]`` current costs ``xi``; train_counts: ``[C]`` training-subset class counts.
      labels: ``int[N]`` pool labels; predictions: ``int[N]`` the network's predicted classes.
      validation_mask: ``bool[N]`` the examples of the confusion matrix (and of ``E``).
      features: ``[N, D]`` penultimate features; train_mask: ``bool[N]`` the neighbours of ``S``.
      anchors: ``int[A]`` pool indices of the examples whose neighbours estimate ``S``.
      learning_rate: the cost learning rate (``E * learning_rate <= 1`` keeps costs between xi and T).
    """
    num_classes = costs.shape[0]
    nearest = nearest_class_distances(features[anchors], anchors, features, labels, train_mask, num_classes)
    confusion = confusion_matrix(labels, predictions, num_classes=num_classes, where=validation_mask)
    target = cost_target(train_counts, confusion_rates(confusion),
                         separability(nearest, labels[anchors], num_classes))
    return cost_step(costs, target, balanced_error(confusion), learning_rate), target


class CoSenState(NamedTuple):
    """The method state of a CoSen run.

    Attributes:
      update_steps: ``int32`` steps between cost updates (the epoch length when the hparam is 0).
      costs: ``float32[C, C]`` the current costs ``xi`` (ones before the first update).
      target: ``float32[C, C]`` the target ``T`` of the last update (ones before the first).
    """

    update_steps: Array
    costs: Array
    target: Array


def cosen_program(spec: ProgramSpec) -> Program:
    """Alternating updates: network steps on the cost-sensitive loss with the costs fixed (batches drawn
    uniformly from the training subset), and every ``cost_update_steps`` a cost step with the network
    fixed, measured on the run's validation part (module docstring). Prediction: the plain softmax."""
    model = model_of(spec)
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        update_steps = refresh_interval(hparams["cost_update_steps"], jnp.sum(state.class_counts), spec.batch_size)
        ones = jnp.ones((spec.num_classes, spec.num_classes), jnp.float32)
        return state._replace(extra=CoSenState(update_steps, ones, ones))

    def update_costs(carry, inputs):
        """``carry = (costs, target)``; the network is fixed (its parameters are an input)."""
        costs, _ = carry
        params, x, labels, subset, validation, counts, key, learning_rate = inputs
        logits, features = apply_in_batches(model, params, x, spec.eval_batch_size)
        anchors = draw_batch(key, ros_weights(labels, subset, spec.num_classes), SEPARABILITY_ANCHORS)
        return cost_update(costs, counts, labels, jnp.argmax(logits, axis=-1), validation, features, subset,
                           anchors, learning_rate)

    maybe_update_costs = round_update(update_costs)

    def train_step(data, hparams, state):
        extra = state.extra
        due = (state.step > 0) & (state.step % extra.update_steps == 0)
        costs, target = maybe_update_costs(
            due, (extra.costs, extra.target),
            (state.params, data.x_train, data.y_train, state.subset, state.validation, state.class_counts,
             stream_key(state.key, "cosen_anchors"), jnp.clip(hparams["cost_learning_rate"], 0.0, 1.0)))
        state = state._replace(extra=extra._replace(costs=costs, target=target))
        state, x, y = draw_training_batch(spec, data, state)
        return gradient_step(spec, state, hparams,
                             lambda params: method_loss(spec, model, loss_fns, state, hparams, params, x, y))

    return Program(init, train_step, standard_program(spec).evaluate)


COSEN_HPARAMS = {"cost_learning_rate": 0.5, "cost_update_steps": 0.0}
COSEN_BOUNDS = {"cost_learning_rate": (1e-6, 1.0), "cost_update_steps": (0.0, math.inf)}


# --- CSDBN-DE: costs evolved by differential evolution -------------------------------------------------

def genome_size(form: str, num_classes: int) -> int:
    """Numbers in a DE genome: ``C`` for the per-class vector, ``C (C - 1)`` for the matrix."""
    return num_classes if form == "vector" else num_classes * (num_classes - 1)


def log_cost_matrix(genome: Array, num_classes: int, form: str) -> Array:
    """The log-cost matrix ``L: float32[C, C]`` (row = true class, zero diagonal) of a genome.

    ``form = "vector"``: ``genome: [C]``, ``L[p, q] = genome[p]`` for ``q != p`` (one cost per true class);
    ``"matrix"``: ``genome: [C (C - 1)]``, the off-diagonal entries row by row.
    """
    off_diagonal = ~np.eye(num_classes, dtype=bool)
    if form == "vector":
        return jnp.where(off_diagonal, genome[:, None], 0.0)
    rows, cols = np.nonzero(off_diagonal)
    return jnp.zeros((num_classes, num_classes), jnp.float32).at[rows, cols].set(genome)


def decision_costs(log_costs: Array, power=1.0) -> Array:
    """The costs of the decisions: ``cost[p, q] = exp(power * L[p, q])`` off the diagonal, 0 on it (a correct
    prediction costs nothing), ``float32[C, C]`` from ``log_costs: [C, C]`` (row = true class); ``power = 0``
    gives 0-1 costs."""
    return jnp.where(jnp.eye(log_costs.shape[0], dtype=bool), 0.0, jnp.exp(power * log_costs))


def min_expected_cost_probabilities(probs: Array, costs: Array) -> Array:
    """Cost-adjusted probabilities ``float32[n, C]`` whose argmax is the minimum-expected-cost class
    ``argmin_q sum_p probs[p] costs[p, q]`` (row = true class).

    ``s_q = sum_p probs[p] (max_k costs[p, k] - costs[p, q])``, the expected cost saved against the
    worst decision, renormalised; for costs of a per-class vector (``costs[p, q] = c_p``, ``q != p``)
    this is ``c_q probs[q] / sum_k c_k probs[k]``. ``probs: [n, C]``, ``costs: [C, C]`` with a zero
    diagonal and positive entries off it (then ``s_q >= probs[q] max_k costs[q, k] > 0`` somewhere).
    """
    savings = jnp.max(costs, axis=1, keepdims=True) - costs
    scores = jnp.matmul(probs, savings, precision=jax.lax.Precision.HIGHEST)
    return scores / jnp.sum(scores, axis=-1, keepdims=True)


def min_expected_cost_postprocess(logits, ctx):
    """Method post-processing of the DE methods: the softmax adjusted by the run's evolved costs
    ``ctx.extra.log_costs`` raised to ``hparams["inference_costs"]`` (:func:`min_expected_cost_probabilities`)."""
    costs = decision_costs(ctx.extra.log_costs, ctx.hparams["inference_costs"])
    return min_expected_cost_probabilities(jax.nn.softmax(logits, axis=-1), costs)


def present_class_g_mean(confusion: Array, correction=0.0) -> Array:
    """``(prod_k recall_k)^(1/K)`` over the ``K`` classes with examples in ``confusion: [C, C]`` (rows:
    true class), a recall of 0 counting as ``correction`` (imbalanced-learn's ``geometric_mean_score``
    with ``labels`` = those classes); 1 without any class."""
    counts = counts_from_confusion(confusion)
    present = counts.support > 0
    recall = safe_divide(counts.tp, counts.support)
    log_recall = jnp.log(jnp.where(recall == 0, jnp.asarray(correction, jnp.float32), recall))
    return jnp.exp(jnp.sum(jnp.where(present, log_recall, 0.0)) / jnp.maximum(jnp.sum(present), 1))


def cost_fitness(genomes: Array, probs: Array, labels: Array, where: Array, form: str) -> Array:
    """DE fitness ``float32[P]`` of ``genomes: [P, dims]``: minus the G-mean (:func:`present_class_g_mean`,
    correction ``GMEAN_CORRECTION``) of the cost-adjusted predictions of ``probs: [N, C]`` (the fixed
    network's softmax on the pool) over the examples ``where: bool[N]`` (``labels: int[N]``)."""
    num_classes = probs.shape[-1]

    def fitness_of(genome):
        costs = decision_costs(log_cost_matrix(genome, num_classes, form))
        predictions = jnp.argmax(min_expected_cost_probabilities(probs, costs), axis=-1)
        confusion = confusion_matrix(labels, predictions, num_classes=num_classes, where=where)
        return -present_class_g_mean(confusion, GMEAN_CORRECTION)

    return jax.vmap(fitness_of)(genomes)


def de_strategy(population_size: int, num_dims: int) -> DifferentialEvolution:
    """evosax's DE over ``num_dims`` real numbers (it minimises fitness)."""
    return DifferentialEvolution(population_size, jnp.zeros(num_dims, jnp.float32))


def de_params(strategy: DifferentialEvolution, hparams):
    """DE/best/1/bin at the run's ``crossover_rate`` and ``differential_weight`` (no dithering)."""
    weight = hparams["differential_weight"]
    return strategy.default_params.replace(elitism=True, crossover_rate=hparams["crossover_rate"],
                                           differential_weight=weight, differential_weight_min=weight,
                                           differential_weight_max=weight)


def evolve(strategy: DifferentialEvolution, params, key: Array, population: Array,
           fitness_of: Callable[[Array], Array], generations: int) -> tuple[Array, Array, Array]:
    """DE on a fixed fitness function: score ``population: [P, dims]`` (``fitness_of: [P, dims] -> [P]``),
    then ``generations`` rounds of ask (DE/best/1/bin trials) and tell (greedy selection: a member is
    replaced where its trial is not worse). Returns ``(population [P, dims], fitness [P], best
    [generations + 1])``, ``best`` the population's best fitness before and after every generation,
    which never rises. Pure; jit- and vmap-able."""
    init_key, key = jax.random.split(key)
    fitness = fitness_of(population)
    state = strategy.init(init_key, population, fitness, params)

    def generation(state, key):
        ask_key, tell_key = jax.random.split(key)
        trials, state = strategy.ask(ask_key, state, params)
        state, _ = strategy.tell(tell_key, trials, fitness_of(trials), state, params)
        return state, jnp.min(state.fitness)

    state, best = jax.lax.scan(generation, state, jax.random.split(key, generations))
    return state.population, state.fitness, jnp.concatenate([jnp.min(fitness)[None], best])


@dataclasses.dataclass(frozen=True)
class EvolvedCostMethod(Method):
    """A :class:`~imbjax.engine.method.Method` whose costs are evolved by DE (module docstring). Static,
    shared by the methods of one program: ``population_size`` (at least 4, evosax's minimum), ``rounds``
    and ``generations_per_round`` (at least 1), ``form`` (:data:`COST_FORMS`). Per method:
    ``fitness_set`` (:data:`FITNESS_SETS`; ``"validation"`` needs ``needs_validation=True``)."""

    population_size: int = 40
    rounds: int = 10
    generations_per_round: int = 10
    form: str = "vector"
    fitness_set: str = "train"

    def __post_init__(self):
        if self.form not in COST_FORMS:
            raise ValueError(f"{self.name}: form={self.form!r}; choose one of {COST_FORMS}")
        if self.fitness_set not in FITNESS_SETS:
            raise ValueError(f"{self.name}: fitness_set={self.fitness_set!r}; choose one of {FITNESS_SETS}")
        if self.fitness_set == "validation" and not self.needs_validation:
            raise ValueError(f"{self.name}: fitness_set='validation' needs needs_validation=True")
        if self.population_size < 4:
            raise ValueError(f"{self.name}: population_size={self.population_size}; DE/best/1 needs at least 4 "
                             f"(two members besides the target and the best)")
        for name in ("rounds", "generations_per_round"):
            if getattr(self, name) < 1:
                raise ValueError(f"{self.name}: {name}={getattr(self, name)}; choose a whole number >= 1")


class DEState(NamedTuple):
    """The method state of a DE run.

    Attributes:
      fitness_mask: ``bool[N]`` the scored examples (the training subset, or the validation part).
      population: ``float32[P, dims]`` the DE genomes.
      fitness: ``float32[P]`` their fitness on the network of the last round (``inf`` before any).
      log_costs: ``float32[C, C]`` the best genome's log-cost matrix (zeros, plain CE, before any round).
      fitness_history: ``float32[rounds, generations_per_round + 1]`` the population's best fitness
        before and after every generation of every round (``inf`` for rounds not run yet).
    """

    fitness_mask: Array
    population: Array
    fitness: Array
    log_costs: Array
    fitness_history: Array

    @property
    def costs(self) -> Array:
        """The training costs ``xi = exp(L)``, ones on the diagonal (what the method loss reads)."""
        return jnp.exp(self.log_costs)


def group_constant(spec: ProgramSpec, name: str):
    """A static DE constant shared by every method of the group; ``ValueError`` if they differ."""
    values = {getattr(method, name) for method in spec.methods}
    if len(values) != 1:
        raise ValueError(f"methods {[m.name for m in spec.methods]} of one DE program must share {name}, "
                         f"got {sorted(values)}")
    return values.pop()


def de_costs_program(spec: ProgramSpec) -> Program:
    """One network trains with the best costs so far in its softmax; at the end of every round DE
    evolves the costs on forward passes of the fixed network (module docstring). Prediction: the
    minimum-expected-cost class (the methods' post-processing)."""
    population_size, rounds = group_constant(spec, "population_size"), group_constant(spec, "rounds")
    generations, form = group_constant(spec, "generations_per_round"), group_constant(spec, "form")
    if spec.num_steps < rounds:
        raise ValueError(f"{DE_FAMILY} needs num_steps >= rounds, got num_steps={spec.num_steps} and rounds={rounds}")
    round_steps = spec.num_steps // rounds
    num_classes = spec.num_classes
    strategy = de_strategy(population_size, genome_size(form, num_classes))
    model = model_of(spec)
    samplers = branches(spec.methods, "sampler")
    loss_fns = branches(spec.methods, "loss")
    on_validation = jnp.asarray([method.fitness_set == "validation" for method in spec.methods])

    def init(data, key, hparams):
        state, mask = initial_state(spec, model, data, key, hparams, samplers)
        spread = hparams["cost_init_range"]
        population = jax.random.uniform(stream_key(key, "de_population"), (population_size, strategy.num_dims),
                                        minval=-spread, maxval=spread).at[0].set(0.0)
        extra = DEState(jnp.where(on_validation[hparams["method_index"]], state.validation, mask), population,
                        jnp.full(population_size, jnp.inf), jnp.zeros((num_classes, num_classes), jnp.float32),
                        jnp.full((rounds, generations + 1), jnp.inf))
        return state._replace(extra=extra)

    def end_round(carry, inputs):
        """DE generations on the fixed network's pool softmax; the best genome sets the costs."""
        population, _, _, history = carry
        params, x, labels, fitness_mask, round_index, key, rates = inputs
        probs = jax.nn.softmax(apply_in_batches(model, params, x, spec.eval_batch_size)[0], axis=-1)
        population, fitness, best = evolve(strategy, rates, key, population,
                                           lambda genomes: cost_fitness(genomes, probs, labels, fitness_mask, form),
                                           generations)
        log_costs = log_cost_matrix(population[jnp.argmin(fitness)], num_classes, form)
        return population, fitness, log_costs, history.at[round_index].set(best)

    maybe_end_round = round_update(end_round)

    def train_step(data, hparams, state):
        state, x, y = draw_training_batch(spec, data, state)
        state = gradient_step(spec, state, hparams,
                              lambda params: method_loss(spec, model, loss_fns, state, hparams, params, x, y))
        extra, step = state.extra, state.step
        ends = ((step % round_steps == 0) & (step // round_steps < rounds)) | (step == spec.num_steps)
        round_index = jnp.minimum(step // round_steps, rounds) - 1
        population, fitness, log_costs, history = maybe_end_round(
            ends, (extra.population, extra.fitness, extra.log_costs, extra.fitness_history),
            (state.params, data.x_train, data.y_train, extra.fitness_mask, round_index,
             stream_key(state.key, "de_population"), de_params(strategy, hparams)))
        return state._replace(extra=extra._replace(population=population, fitness=fitness, log_costs=log_costs,
                                                   fitness_history=history))

    return Program(init, train_step, standard_program(spec).evaluate)


DE_HPARAMS = {"crossover_rate": 0.9, "differential_weight": 0.8, "cost_init_range": 1.0, "inference_costs": 1.0}
DE_BOUNDS = {"crossover_rate": (0.0, 1.0), "differential_weight": (0.0, 2.0), "cost_init_range": (0.0, 10.0),
             "inference_costs": (0.0, 1.0)}
DE_DEVIATIONS = "MLP trained by backpropagation instead of a DBN, DE with fixed rates instead of adaptive DE"


FAMILIES = (Family(COSEN_FAMILY, cosen_program), Family(DE_FAMILY, de_costs_program), Family(DE_MATRIX_FAMILY, de_costs_program))

METHODS = (
    Method("cosen", loss=learned_cost_ce, family=COSEN_FAMILY, hparams=COSEN_HPARAMS, bounds=COSEN_BOUNDS,
           needs_validation=True,
           reference=f"{KHAN}: cost-sensitive CE, costs learned jointly by alternating updates"),
    Method("cosen_hinge", loss=learned_cost_hinge, family=COSEN_FAMILY, hparams=COSEN_HPARAMS,
           bounds=COSEN_BOUNDS, needs_validation=True,
           reference=f"{KHAN}: cost-sensitive multi-class hinge loss (costs as log-margins), costs learned "
                     "jointly by alternating updates"),
    EvolvedCostMethod(
        "de_costs", loss=learned_cost_ce, postprocess=min_expected_cost_postprocess, family=DE_FAMILY,
        hparams=DE_HPARAMS, bounds=DE_BOUNDS,
        reference=f"{ZHANG_DE}: a cost per class in the softmax, evolved on training-set G-mean between training "
         f"rounds and applied at inference; {DE_DEVIATIONS}"),
    EvolvedCostMethod(
        "de_costs_validation", loss=learned_cost_ce, postprocess=min_expected_cost_postprocess, family=DE_FAMILY,
        hparams=DE_HPARAMS, bounds=DE_BOUNDS, fitness_set="validation", needs_validation=True,
        reference=f"{ZHANG_DE}; our variant: fitness on the shared validation part instead of the training set"),
    EvolvedCostMethod(
        "de_costs_matrix", loss=learned_cost_ce, postprocess=min_expected_cost_postprocess, family=DE_MATRIX_FAMILY,
        hparams=DE_HPARAMS, bounds=DE_BOUNDS, form="matrix",
        reference=f"{ZHANG_DE}; variant: a full C x C cost matrix (C (C - 1) evolved numbers)"),
)
