"""Flax Linen models. Every model maps ``x: [batch, *input_shape]`` to ``(logits, features)``.

``features`` is the penultimate representation ``[batch, feature_dim]`` (input of the output
layer), which category centres, DOS, LMLE and CRL work on. Parameters are plain pytrees, so a
model initialised from a vmapped key gives one parameter set per run.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn

#: Name of the output layer in every model (output-layer-only fine-tuning uses it).
HEAD = "head"


class MLP(nn.Module):
    """Fully connected ReLU network; the last hidden layer is the feature layer."""

    num_classes: int
    hidden: Sequence[int] = (128, 128)

    @nn.compact
    def __call__(self, x):
        h = x.reshape((x.shape[0], -1))
        for width in self.hidden:
            h = nn.relu(nn.Dense(width)(h))
        return nn.Dense(self.num_classes, name=HEAD)(h), h


class SmallCNN(nn.Module):
    """A small CNN for 8x8 images (scikit-learn digits): two 3x3 convolutions, 2x2 max-pool, dense."""

    num_classes: int
    channels: Sequence[int] = (16, 32)
    dense: int = 64

    @nn.compact
    def __call__(self, x):
        h = x
        for width in self.channels:
            h = nn.relu(nn.Conv(width, (3, 3), padding="SAME")(h))
        h = nn.max_pool(h, (2, 2), strides=(2, 2)).reshape((x.shape[0], -1))
        h = nn.relu(nn.Dense(self.dense)(h))
        return nn.Dense(self.num_classes, name=HEAD)(h), h


class LeNet5(nn.Module):
    """LeNet-5 for 28x28 inputs (LeCun et al. 1998, ReLU and max-pool variant).

    conv 6@5x5 (same) -> pool -> conv 16@5x5 (valid) -> pool -> 120 -> 84 -> classes.
    """

    num_classes: int

    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Conv(6, (5, 5), padding="SAME")(x))
        h = nn.max_pool(h, (2, 2), strides=(2, 2))
        h = nn.relu(nn.Conv(16, (5, 5), padding="VALID")(h))
        h = nn.max_pool(h, (2, 2), strides=(2, 2)).reshape((x.shape[0], -1))
        h = nn.relu(nn.Dense(120)(h))
        h = nn.relu(nn.Dense(84)(h))
        return nn.Dense(self.num_classes, name=HEAD)(h), h


MODELS: dict[str, Callable[..., nn.Module]] = {"mlp": MLP, "small_cnn": SmallCNN, "lenet5": LeNet5}


def check_model(name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` and the valid choices if it is not a model."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")


def make_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build model ``name`` (one of :data:`MODELS`) with ``num_classes`` outputs."""
    check_model(name)
    try:
        return MODELS[name](num_classes=num_classes, **kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments {kwargs!r} for model {name!r}: {err}") from None
