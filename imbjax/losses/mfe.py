"""Mean squared error and the mean (squared) false error losses of Wang et al. 2016 (survey Eqs. 12-15).

Every example has the squared error ``l_i = 1/2 sum_n (d_n^(i) - y_n^(i))^2`` between its one-hot target
``d`` and the network outputs ``y = act(z)`` over the output units ``n``. Wang et al. use sigmoid output
units (``activation="sigmoid"``, the default here); ``"softmax"`` uses the softmax probabilities.

* MSE (the paper's baseline): the mean of ``l_i`` over the batch. :func:`mse_loss` returns ``l_i``
  per example, so its batch mean is the paper's MSE.
* binary (``positive_class`` given, the minority class): FPE = mean of ``l_i`` over the batch's negative
  examples (Eq. 12), FNE = mean over its positive examples (Eq. 13); MFE = FPE + FNE (Eq. 14),
  MSFE = FPE^2 + FNE^2 (Eq. 15).
* multi-class (``positive_class=None``): ``E_c`` = mean of ``l_i`` over the batch's examples of class
  ``c``; MFE = ``sum_c E_c``, MSFE = ``sum_c E_c^2``. For two classes this equals the binary form.

MFE and MSFE are batch losses and return a scalar. A class (or side) absent from the batch contributes 0.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

#: The public kernels, exported by :mod:`imbjax.losses`.
__all__ = ["group_mean_errors", "mfe_loss", "mse_loss", "msfe_loss"]

ACTIVATIONS = ("sigmoid", "softmax")


def _outputs(logits: jax.Array, activation: str) -> jax.Array:
    if activation == "sigmoid":
        return jax.nn.sigmoid(logits)
    if activation == "softmax":
        return jax.nn.softmax(logits)
    raise ValueError(f"unknown activation {activation!r}; choose one of {list(ACTIVATIONS)}")


def mse_loss(logits: jax.Array, labels: jax.Array, *, activation: str = "sigmoid") -> jax.Array:
    """Per-example squared error ``l_i = 1/2 sum_n (d_n - act(z_i)_n)^2`` against one-hot targets ``d``.

    Its batch mean is the MSE loss of Wang et al. 2016 (survey Eqs. 12-13 summed over all examples).

    Args:
      logits: ``[batch, classes]``.
      labels: ``int[batch]``.
      activation: ``"sigmoid"`` (Wang et al.) or ``"softmax"``.

    Returns:
      ``float[batch]``.
    """
    outputs = _outputs(logits, activation)
    targets = jax.nn.one_hot(labels, logits.shape[-1], dtype=outputs.dtype)
    return 0.5 * jnp.sum((targets - outputs) ** 2, axis=-1)


def group_mean_errors(logits: jax.Array, labels: jax.Array, *, positive_class=None,
                      activation: str = "sigmoid") -> jax.Array:
    """Mean squared error ``l_i`` of each class in the batch, 0 for a class absent from the batch.

    Returns ``[FPE, FNE]`` (negatives, positives; survey Eqs. 12-13) when ``positive_class`` is given,
    else ``[E_0, ..., E_{C-1}]``: ``float[2]`` or ``float[classes]``.
    """
    errors = mse_loss(logits, labels, activation=activation)
    if positive_class is None:
        groups, num_groups = labels, logits.shape[-1]
    else:
        groups, num_groups = (labels == positive_class).astype(jnp.int32), 2
    membership = jax.nn.one_hot(groups, num_groups, dtype=errors.dtype)
    sizes = jnp.sum(membership, axis=0)
    return (errors @ membership) / jnp.maximum(sizes, 1.0)


def mfe_loss(logits: jax.Array, labels: jax.Array, *, positive_class=None, activation: str = "sigmoid") -> jax.Array:
    """Mean false error (Wang et al. 2016; survey Eq. 14): ``FPE + FNE``, or ``sum_c E_c`` for multi-class.

    Args:
      logits: ``[batch, classes]``.
      labels: ``int[batch]``.
      positive_class: the minority class for the binary form (may be traced), or ``None`` for the
        multi-class form.
      activation: ``"sigmoid"`` (Wang et al.) or ``"softmax"``.

    Returns:
      scalar.
    """
    return jnp.sum(group_mean_errors(logits, labels, positive_class=positive_class, activation=activation))


def msfe_loss(logits: jax.Array, labels: jax.Array, *, positive_class=None, activation: str = "sigmoid") -> jax.Array:
    """Mean squared false error (Wang et al. 2016; survey Eq. 15): ``FPE^2 + FNE^2``, or ``sum_c E_c^2``.

    Arguments as :func:`mfe_loss`. Returns a scalar.
    """
    return jnp.sum(group_mean_errors(logits, labels, positive_class=positive_class, activation=activation) ** 2)
