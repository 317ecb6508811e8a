"""imbjax: vectorised, jit-compiled experiments on deep learning with class imbalance.

The public API (what the README's "Research scripting" uses):

* sweeps: :func:`base_config`, :func:`load_config`, :func:`run_sweep` (a whole config, resumable and
  growable in a work directory), :func:`make_train` (one run as a pure ``train(key, hparams)``);
* extension: :func:`register_method`, :func:`register_model`, :func:`register_dataset` and
  :func:`imbjax.data.from_arrays`; what they register is checked against its contract before anything
  compiles (:mod:`imbjax.sweep.contracts`);
* kernels: the modules :mod:`imbjax.imbalance`, :mod:`imbjax.losses`, :mod:`imbjax.sampling`,
  :mod:`imbjax.metrics` and :mod:`imbjax.data`.

Names are imported on first use, so ``import imbjax`` loads nothing heavy. Importing imbjax changes no
global JAX setting: what imbjax's programs need (the non-partitionable threefry,
:func:`imbjax.engine.program.with_run_random_bits`) is scoped to them, and ``imbjax run`` sets the process's
devices and compilation cache (:mod:`imbjax.runtime`) before JAX starts.
"""
from __future__ import annotations

import functools
import importlib
from typing import Callable, Mapping

__version__ = "0.1.0"

#: Public names defined elsewhere: ``name -> (module, attribute)``, imported on first access.
_ELSEWHERE = {
    "base_config": ("imbjax.config", "base_config"),
    "load_config": ("imbjax.config", "load_config"),
    "run_sweep": ("imbjax.sweep.runner", "run_sweep"),
    "make_train": ("imbjax.config", "make_train"),
}
_MODULES = ("data", "imbalance", "losses", "metrics", "sampling")


def __getattr__(name: str):
    if name in _ELSEWHERE:
        module, attribute = _ELSEWHERE[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _MODULES:
        return importlib.import_module(f"imbjax.{name}")
    raise AttributeError(f"module 'imbjax' has no attribute {name!r}")


def register_method(name: str, loss: Callable | None = None, *, sampler: Callable | None = None,
                    postprocess: Callable | None = None, hparams: Mapping[str, float] | None = None,
                    bounds: Mapping[str, tuple[float, float]] | None = None, reference: str = ""):
    """Register a method of the standard training loop under ``name`` (for ``config.methods``) and
    return it (an :class:`imbjax.engine.method.Method`).

    Args:
      loss: ``(logits [batch, C], labels [batch], ctx) -> scalar or [batch]``; per-example values are
        averaged over the batch (the plain mean, :func:`imbjax.sweep.contracts.batch_mean_loss`).
        Default: mean cross-entropy.
      sampler: ``(key, labels [N], mask bool[N], ctx) -> float32[N]`` sampling weights over the pool.
        Default: uniform over the run's training subset.
      postprocess: ``(logits [batch, C], ctx) -> probabilities [batch, C]``. Default: softmax.
      hparams: sweepable hyper-parameters and their defaults, read as ``ctx.hparams[name]`` (sweep
        them with ``config.hparams = {name: {hyper-parameter: (values, ...)}}``).
      bounds: valid ``(low, high)`` per hyper-parameter, checked before compiling.
      reference: where the method comes from.

    ``ctx`` is an :class:`imbjax.engine.method.Context` (class counts of the run's subset, hyper-parameters,
    step, the batch's features). The pieces are checked against these shapes before anything compiles,
    and runs record a hash of their code, so a re-run after the code changed trains again.
    """
    from imbjax import methods  # noqa: PLC0415
    from imbjax.engine.method import Method  # noqa: PLC0415
    from imbjax.sweep import contracts  # noqa: PLC0415

    for role, piece in (("loss", loss), ("sampler", sampler), ("postprocess", postprocess)):
        if piece is not None and not callable(piece):
            raise ValueError(f"the {role} of method {name!r} must be a function, got {type(piece).__name__}")
    pieces = {"loss": functools.partial(contracts.batch_mean_loss, loss)} if loss is not None else {}
    pieces.update({role: piece for role, piece in (("sampler", sampler), ("postprocess", postprocess)) if piece})
    return methods.register(Method(name, **pieces, hparams=dict(hparams or {}), bounds=dict(bounds or {}),
                                   reference=reference))


def register_model(name: str, model_class) -> None:
    """Register a Flax model class under ``name`` (for ``config.model`` or ``config.models``).

    The class is built as ``model_class(num_classes=C, **model_kwargs)`` and its ``__call__(x)`` returns
    ``(logits [batch, C], features [batch, d])`` (the features feed feature-space methods), which is
    checked before anything compiles. A ``ValueError`` if ``name`` is taken or ``model_class`` is not a
    ``flax.linen.Module`` with a ``num_classes`` field.
    """
    import dataclasses  # noqa: PLC0415

    import flax.linen as nn  # noqa: PLC0415

    from imbjax import models  # noqa: PLC0415
    from imbjax.data import function_name  # noqa: PLC0415

    if name in models.MODELS:
        raise ValueError(f"model {name!r} is already registered; choose another name")
    if not (isinstance(model_class, type) and issubclass(model_class, nn.Module)
            and "num_classes" in {field.name for field in dataclasses.fields(model_class)}):
        raise ValueError(f"model {function_name(model_class)} must be a flax.linen.Module class with a num_classes "
                         f"field (it is built as {getattr(model_class, '__name__', model_class)}(num_classes=C, "
                         f"**model_kwargs))")
    models.MODELS[name] = model_class


def register_dataset(name: str, loader: Callable) -> None:
    """Register ``loader`` as the data set ``name`` (for ``config.datasets``; runs record it as ``name``).

    ``loader(**dataset_kwargs)`` returns an :class:`imbjax.data.Dataset`, e.g.
    ``lambda: imbjax.data.from_arrays(x_train, y_train, x_test, y_test, name="mine")``, or a mapping
    with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (and optionally ``class_names``); checked as
    it loads. Runs record a hash of the loader's code and the arrays it reads, so changed data trains
    again.
    """
    from imbjax import data  # noqa: PLC0415

    data.register(name, loader)


__all__ = ["base_config", "data", "imbalance", "load_config", "losses", "make_train", "metrics", "register_dataset",
           "register_method", "register_model", "run_sweep", "sampling"]
