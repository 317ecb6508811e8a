"""A method as pure pieces: :class:`Method`, the :class:`Context` its pieces read, and the default pieces.

A :class:`Method` is three pure pieces plus its sweepable hyper-parameters:

* ``sampler(key, labels, mask, ctx) -> float32[N]``: per-example sampling weights over the
  training pool (zero outside the run's training subset), computed once per run;
* ``loss(logits, labels, ctx) -> scalar``: the batch loss minimised at every step;
* ``postprocess(logits, ctx) -> float32[batch, C]``: class probabilities used for prediction
  and metrics (softmax, or threshold moving, or a post-hoc logit adjustment).

``ctx`` is a :class:`Context`: the run's training-subset class counts, its hyper-parameters
(scalar arrays, possibly traced: sweep axes), the current step, and the batch features.

Methods of the same ``family`` share one training program: the engine compiles one program
per group and selects each run's pieces with ``lax.switch`` on the run's method index, so
baseline, ROS, RUS, cost-sensitive CE and threshold moving are all one compile. A method
that needs a different training loop declares another family (:class:`imbjax.engine.program.Family`).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from imbjax import losses, sampling

Array = jax.Array

class Context(NamedTuple):
    """What a method's pieces may read about the run (all arrays may be traced).

    Attributes:
      class_counts: ``float32[C]`` examples per class in the run's training subset.
      hparams: the run's scalar hyper-parameters by name (the union over the group's methods).
      step: current optimizer step (``int32`` scalar); 0 outside training.
      num_steps: total steps of the run (static).
      features: ``[examples, feature_dim]`` penultimate features of the examples a piece acts on (the
        batch for a loss, the test examples for a post-processing), or ``None``.
      extra: the run's method state (families that keep one), else ``()``.
      key: a PRNG key of the run at this step (its batch stream), for a loss that draws noise
        (GCL), or ``None`` outside training.
      pool_inputs: ``[N, D]`` flattened inputs of the whole training pool, for a resampler (SMOTE,
        NearMiss, ...), else ``None``.
    """

    class_counts: Array
    hparams: Mapping[str, Array]
    step: Array
    num_steps: int
    features: Array | None = None
    extra: object = ()
    key: Array | None = None
    pool_inputs: Array | None = None

    @property
    def priors(self) -> Array:
        """Training class frequencies ``n_c / sum_k n_k``, ``float32[C]``."""
        return self.class_counts / jnp.sum(self.class_counts)


Sampler = Callable[[Array, Array, Array, Context], Array]
Loss = Callable[[Array, Array, Context], Array]
Postprocess = Callable[[Array, Context], Array]


# --- Pieces shared by many methods -------------------------------------------------------

def uniform_sampler(key, labels, mask, ctx):
    """Baseline: every example of the training subset equally likely."""
    del key, ctx
    return sampling.uniform_weights(labels, mask)



def mean_ce(logits, labels, ctx):
    """Mean softmax cross-entropy over the batch."""
    del ctx
    return jnp.mean(losses.cross_entropy(logits, labels))


def softmax(logits, ctx):
    """Plain softmax probabilities."""
    del ctx
    return jax.nn.softmax(logits, axis=-1)


def full_learning_rate(ctx):
    """The run's own learning rate at every step: a factor of 1."""
    del ctx
    return jnp.float32(1.0)



@dataclasses.dataclass(frozen=True)
class Method:
    """A method for learning from imbalanced data, as pure, vmappable pieces.

    Attributes:
      name: registry name (used in configs and ``runs.csv``).
      loss: batch loss ``(logits, labels, ctx) -> scalar``.
      sampler: per-example sampling weights ``(key, labels, mask, ctx) -> float32[N]``.
      postprocess: prediction probabilities ``(logits, ctx) -> float32[batch, C]``.
      learning_rate_factor: the factor ``(ctx) -> scalar`` on the run's learning rate (its schedule
        included) at the step ``ctx.step``, as a PyTorch script sets a param group's ``lr`` mid-run (the
        optimizer's moments are untouched); for a method whose paper changes the rate at a phase of its
        own (IB's balancing phase). Applied by the families with ``method_learning_rates`` (standard,
        crl, category_centres); a method of another family that sets one is refused before compiling.
      hparams: sweepable scalar hyper-parameters and their defaults (from the papers).
      bounds: valid range ``(low, high)`` of a hyper-parameter, both inclusive (``math.inf``
        for none), checked for every swept value before anything is compiled.
      family: methods of one family share one compiled training program.
      reference: the paper(s) the method comes from.
      needs_validation: the method tunes on the run's validation part (``TrainState.validation``), so
        a sweep with it needs ``config.validation_fraction > 0`` (refused otherwise, before compiling).
      check_setting: optional ``(values, n_max) -> None``, called before compiling with the method's
        hyper-parameter values (name -> tuple of the values swept, or the default) and the sweep's
        ``n_max`` (the largest class of every run); raises ``ValueError`` for a setting that cannot do
        what it says.
      model_kwargs: the method's overrides of the run's model arguments (e.g. LDAM's cosine
        classifier, ``{"head": "cosine"}``); runs whose effective models differ train in different
        programs, and ``model_spec`` records the effective model.
    """

    name: str
    loss: Loss = mean_ce
    sampler: Sampler = uniform_sampler
    postprocess: Postprocess = softmax
    learning_rate_factor: Callable[[Context], Array] = full_learning_rate
    hparams: Mapping[str, float] = dataclasses.field(default_factory=dict)
    bounds: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    family: str = "standard"
    reference: str = ""
    needs_validation: bool = False
    check_setting: Callable[[Mapping[str, tuple[float, ...]], int], None] | None = None
    model_kwargs: Mapping[str, object] = dataclasses.field(default_factory=dict)
