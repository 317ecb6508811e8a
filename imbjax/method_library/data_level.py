"""Building blocks shared by the data-level training loops (two-phase, dynamic sampling, category
centres, resampling): a batch drawn by weights other than the state's, the method's batch loss,
the method's prediction probabilities, and which parameters form the output layer.

These complement :mod:`imbjax.train`'s building blocks; every function is pure and vmappable.
"""
from __future__ import annotations

from typing import Mapping

import jax

from imbjax import models
from imbjax.train import (
    Branches, DeviceData, ProgramSpec, TrainState, choose, context, draw_training_batch, forward,
)

Array = jax.Array


def draw_batch_with(spec: ProgramSpec, data: DeviceData, state: TrainState, weights: Array,
                    ) -> tuple[TrainState, Array, Array]:
    """``(state with a fresh key, x, y)``: a batch drawn by ``weights: float32[N]`` instead of
    ``state.weights`` (which is returned unchanged). Same key stream as
    :func:`imbjax.train.draw_training_batch`, so equal weights give the same batch."""
    drawn, x, y = draw_training_batch(spec, data, state._replace(weights=weights))
    return drawn._replace(weights=state.weights), x, y


def method_loss(spec: ProgramSpec, model, loss_fns: Branches, state: TrainState, hparams: Mapping[str, Array],
                params, x: Array, y: Array) -> tuple[Array, dict]:
    """The run's method loss of ``params`` on the batch ``(x, y)`` (a scalar), and the variables after
    the training forward pass (:func:`imbjax.train.forward`), as :func:`imbjax.train.gradient_step` takes."""
    logits, features, params = forward(model, params, x)
    return choose(loss_fns, hparams["method_index"], logits, y, context(spec, state, hparams, features)), params


def method_probabilities(spec: ProgramSpec, postprocessors: Branches, state: TrainState,
                         hparams: Mapping[str, Array], logits: Array, features: Array | None = None) -> Array:
    """The run's post-processed class probabilities ``float32[n, C]`` of ``logits: [n, C]``
    (``features: [n, D]``, their penultimate features, for post-processing that reads them)."""
    return choose(postprocessors, hparams["method_index"], logits, context(spec, state, hparams, features))


def output_layer_mask(params) -> object:
    """A pytree like ``params`` holding ``True`` for the leaves of the output layer (the module
    named :data:`imbjax.models.HEAD`) and ``False`` elsewhere; static (Python booleans)."""
    def in_head(path, _):
        return any(getattr(entry, "key", None) == models.HEAD for entry in path)
    return jax.tree_util.tree_map_with_path(in_head, params)

