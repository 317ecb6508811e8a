"""The method registry: one interface, many methods.

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
that needs a different training loop declares another family.

Adding a method never touches the engine: ``register(Method(...))`` in a module of
:mod:`imbjax.method_library`; a method that needs its own training loop also registers a
program builder for its family with :func:`imbjax.train.register_family`.
"""
from __future__ import annotations

import dataclasses
import math
import sys
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
      features: ``[batch, feature_dim]`` penultimate features of the batch, or ``None``.
      extra: the run's method state (families that keep one), else ``()``.
      key: a PRNG key of the run at this step (its batch stream), for a loss that draws noise
        (GCL), or ``None`` outside training.
    """

    class_counts: Array
    hparams: Mapping[str, Array]
    step: Array
    num_steps: int
    features: Array | None = None
    extra: object = ()
    key: Array | None = None

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


def ros_sampler(key, labels, mask, ctx):
    """Random over-sampling to balance (class-balanced draws)."""
    del key
    return sampling.ros_weights(labels, mask, ctx.class_counts.shape[0])


def rus_sampler(key, labels, mask, ctx):
    """Random under-sampling to balance (a fixed random balanced subset)."""
    return sampling.rus_weights(key, labels, mask, ctx.class_counts.shape[0])


def mean_ce(logits, labels, ctx):
    """Mean softmax cross-entropy over the batch."""
    del ctx
    return jnp.mean(losses.cross_entropy(logits, labels))


def softmax(logits, ctx):
    """Plain softmax probabilities."""
    del ctx
    return jax.nn.softmax(logits, axis=-1)


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
    return jnp.mean(losses.cost_sensitive_ce(logits, labels, cost_matrix=costs))


# --- The registry ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Method:
    """A method for learning from imbalanced data, as pure, vmappable pieces.

    Attributes:
      name: registry name (used in configs and ``runs.csv``).
      loss: batch loss ``(logits, labels, ctx) -> scalar``.
      sampler: per-example sampling weights ``(key, labels, mask, ctx) -> float32[N]``.
      postprocess: prediction probabilities ``(logits, ctx) -> float32[batch, C]``.
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
    hparams: Mapping[str, float] = dataclasses.field(default_factory=dict)
    bounds: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    family: str = "standard"
    reference: str = ""
    needs_validation: bool = False
    check_setting: Callable[[Mapping[str, tuple[float, ...]], int], None] | None = None
    model_kwargs: Mapping[str, object] = dataclasses.field(default_factory=dict)


REGISTRY: dict[str, Method] = {}
#: Names of the methods registered by imbjax's own modules; the others come from users' code (the
#: sweep runner saves traced programs only of imbjax's methods, :mod:`imbjax.sweep.program_cache`).
BUILT_IN: set[str] = set()


def register(method: Method) -> Method:
    """Add ``method`` to the registry; a name can be registered once."""
    if method.name in REGISTRY:
        raise ValueError(f"method {method.name!r} is already registered")
    REGISTRY[method.name] = method
    if is_imbjax_module(sys._getframe(1).f_globals.get("__name__", "")):
        BUILT_IN.add(method.name)
    return method


def is_imbjax_module(name: str) -> bool:
    """Whether the module called ``name`` is part of the imbjax package."""
    return name == "imbjax" or name.startswith("imbjax.")


def is_built_in(method: Method) -> bool:
    """Whether ``method`` is the registry's method of its name, registered by an imbjax module."""
    return method.name in BUILT_IN and REGISTRY.get(method.name) is method


def _load_library() -> None:
    """Import :mod:`imbjax.method_library`, whose modules register the methods beyond the core
    ones (and their training-loop families). Deferred to first use to keep imports acyclic."""
    import imbjax.method_library  # noqa: F401, PLC0415


def available() -> tuple[str, ...]:
    """Registered method names, sorted."""
    _load_library()
    return tuple(sorted(REGISTRY))


def get(name: str) -> Method:
    """The method called ``name``; a ``ValueError`` lists the valid names otherwise."""
    _load_library()
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {list(available())}")
    return REGISTRY[name]


def check_hparams(name: str, hparams: Mapping[str, object]) -> None:
    """Raise a ``ValueError`` if ``hparams`` (name -> value or tuple of values) names a
    hyper-parameter that method ``name`` does not have, or a value outside its bounds."""
    method = get(name)
    unknown = sorted(set(hparams) - set(method.hparams))
    if unknown:
        raise ValueError(
            f"method {name!r} has no hyper-parameter {unknown[0]!r}; its hyper-parameters are {sorted(method.hparams)}"
        )
    for hparam, (low, high) in method.bounds.items():
        values = hparams.get(hparam, method.hparams[hparam])
        for value in values if isinstance(values, (tuple, list)) else (values,):
            if not low <= float(value) <= high:
                raise ValueError(f"{name} hyper-parameter {hparam}={value!r} is outside its valid range "
                                 f"[{low}, {high}]")


BUDA = "Buda, Maki & Mazurowski 2018, Neural Networks 106"

register(Method("baseline", reference="plain cross-entropy on the imbalanced subset"))
register(Method("ros", sampler=ros_sampler, reference=f"{BUDA}; Hensman & Masko 2015"))
register(Method("rus", sampler=rus_sampler, reference=BUDA))
register(Method("threshold", postprocess=threshold_moving, reference=BUDA))
register(Method("ros_threshold", sampler=ros_sampler, postprocess=threshold_moving, reference=BUDA))
register(Method("rus_threshold", sampler=rus_sampler, postprocess=threshold_moving, reference=BUDA))
register(Method("cs_ce", loss=cost_sensitive_mean_ce, hparams={"cost_ratio": 2.0},
                bounds={"cost_ratio": (1e-6, math.inf)},
                reference="Wang et al. 2018 (CSDNN), survey Table 2; false-negative cost 2x"))
