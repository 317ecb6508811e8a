"""The contracts of a user's pieces, checked before anything compiles (and by ``imbjax run --dry-run``).

* A model returns ``(logits [batch, C], features [batch, d])``.
* A method's loss returns a scalar, or one value per example (``[batch]``); a loss registered with
  ``imbjax.register_method`` may return per-example values, which are averaged over the batch
  (:func:`batch_mean_loss`: the plain mean, every example weighing the same).
* Its sampler returns one weight per pool example (``[N]``), its post-processing class probabilities
  (``[batch, C]``).
* A data set's loader returns a :class:`~imbjax.data.Dataset` or its fields (checked as it loads,
  :func:`imbjax.data.as_dataset`).

Each piece is traced abstractly (``jax.eval_shape``: nothing compiles or computes) with the shapes of
the group's program; a violation, or an exception the piece raises on them, is one ``ValueError``
naming the user's function. Pieces of imbjax's own methods and models are not checked (tests do).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from imbjax import methods, models
from imbjax.data import function_name
from imbjax.engine.method import Context, Method
from imbjax.engine.program import ProgramSpec
from imbjax.sweep import program_cache


class ContractError(ValueError):
    """A user's piece broke its contract (the message names the function)."""


def batch_mean_loss(loss: Callable, logits, labels, ctx):
    """``loss(logits, labels, ctx)`` as a batch loss: a scalar as it is, per-example values
    ``[batch]`` averaged over the batch; a ``ValueError`` naming ``loss`` for any other shape."""
    values = loss(logits, labels, ctx)
    shape = jnp.shape(values)
    if shape == ():
        return values
    if shape == (logits.shape[0],):
        return jnp.mean(values)
    raise ContractError(f"loss {function_name(loss)} returned values of shape {shape}; a loss returns a scalar or "
                     f"one value per example, shape ({logits.shape[0]},)")


def user_function(piece: Callable) -> Callable:
    """The user's function inside ``piece`` (the loss that :func:`batch_mean_loss` wraps, a partial's function)."""
    while isinstance(piece, functools.partial):
        piece = piece.args[0] if piece.func is batch_mean_loss else piece.func
    return piece


def _shape_text(value) -> str:
    if isinstance(value, jax.ShapeDtypeStruct):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} ({', '.join(_shape_text(v) for v in value)})"
    return f"a {type(value).__name__}"


def _traced(label: str, piece: Callable, *args):
    """``jax.eval_shape(piece, *args)``; an exception of the piece becomes one line starting with ``label``
    (which names the user's function), unless it is a :class:`ContractError`, which names it already."""
    try:
        return jax.eval_shape(piece, *args)
    except ContractError as err:
        raise ContractError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - any failure of a user's piece is reported as one line
        text = str(err).strip()
        first_line = text.splitlines()[0] if text else ""
        raise ContractError(f"{label} failed on the engine's arguments: {type(err).__name__}: {first_line}") from None


def _label(kind: str, piece: Callable, method: Method) -> str:
    return f"{kind} {function_name(user_function(piece))} of method {method.name!r}"


def is_users_model(name: str) -> bool:
    """Whether model ``name`` is a user's class (not defined in an imbjax module)."""
    model = models.MODELS.get(name)
    return model is not None and not program_cache.is_imbjax_code(model)


def model_outputs(spec: ProgramSpec) -> tuple[jax.ShapeDtypeStruct, jax.ShapeDtypeStruct]:
    """``(logits, features)`` shapes of the spec's model on a batch; a user's model that does not
    return ``(logits [batch, C], features [batch, d])`` is refused naming its class."""
    model = models.make_model(spec.model, spec.num_classes, **dict(spec.model_kwargs))
    batch = jax.ShapeDtypeStruct((spec.batch_size, *spec.input_shape), jnp.float32)
    label = f"model {spec.model!r} ({function_name(models.MODELS[spec.model])})"
    output = _traced(label, lambda x: model.init_with_output(jax.random.PRNGKey(0), x)[0], batch)
    expected = f"(logits [batch, {spec.num_classes}], features [batch, d])"
    valid = (isinstance(output, (tuple, list)) and len(output) == 2
             and all(isinstance(part, jax.ShapeDtypeStruct) and part.ndim == 2 for part in output)
             and output[0].shape == (spec.batch_size, spec.num_classes) and output[1].shape[0] == spec.batch_size)
    if not valid:
        raise ContractError(f"{label} must return {expected}; on a batch of {spec.batch_size} it returned "
                            f"{_shape_text(output)}")
    return output[0], output[1]


def check_method(method: Method, spec: ProgramSpec, features: jax.ShapeDtypeStruct, pool_size: int) -> None:
    """Refuse ``method`` (one line naming the function) if its loss, sampler or post-processing breaks
    its contract on the spec's shapes (module docstring)."""
    batch, classes = spec.batch_size, spec.num_classes
    hparams = {name: jax.ShapeDtypeStruct((), jnp.float32)
               for name in ("rho", "mu", "learning_rate", "weight_decay", *spec.hparam_defaults())}
    hparams.update(method_index=jax.ShapeDtypeStruct((), jnp.int32), data_seed=jax.ShapeDtypeStruct((), jnp.int32))
    ctx = Context(jax.ShapeDtypeStruct((classes,), jnp.float32), hparams, jax.ShapeDtypeStruct((), jnp.int32),
                  spec.num_steps, features, (), jax.ShapeDtypeStruct((2,), jnp.uint32))
    logits = jax.ShapeDtypeStruct((batch, classes), jnp.float32)
    labels = jax.ShapeDtypeStruct((batch,), jnp.int32)
    loss = _traced(_label("loss", method.loss, method), method.loss, logits, labels, ctx)
    if getattr(loss, "shape", None) != ():
        per_example = getattr(loss, "shape", None) == (batch,)
        allowed = (" (per-example values only when registered with imbjax.register_method, which averages "
                   "them)" if per_example else f" or one value per example, shape ({batch},)")
        raise ContractError(f"{_label('loss', method.loss, method)} returned {_shape_text(loss)}; a loss returns a "
                            f"scalar{allowed}")
    pool = (jax.ShapeDtypeStruct((2,), jnp.uint32), jax.ShapeDtypeStruct((pool_size,), jnp.int32),
            jax.ShapeDtypeStruct((pool_size,), bool))
    weights = _traced(_label("sampler", method.sampler, method), method.sampler, *pool, ctx)
    if getattr(weights, "shape", None) != (pool_size,):
        raise ContractError(f"{_label('sampler', method.sampler, method)} must return one weight per pool "
                            f"example, shape ({pool_size},); it returned {_shape_text(weights)}")
    probs = _traced(_label("post-processing", method.postprocess, method), method.postprocess, logits, ctx)
    if getattr(probs, "shape", None) != (batch, classes):
        raise ContractError(f"{_label('post-processing', method.postprocess, method)} must return class "
                         f"probabilities of shape ({batch}, {classes}); it returned {_shape_text(probs)}")


def check_program(spec: ProgramSpec, pool_size: int) -> None:
    """Check the user's pieces of a group's program: its model if it is a user's, and every method of
    the standard family that imbjax did not register (their pieces follow the standard loop's
    signatures), on the spec's batch and a pool of ``pool_size`` examples."""
    users = [m for m in spec.methods if not methods.is_built_in(m) and m.family == "standard"]
    if not users and not is_users_model(spec.model):
        return
    _, features = model_outputs(spec)
    for method in users:
        check_method(method, spec, features, pool_size)
