"""Flax Linen models. Every model maps ``x: [batch, *input_shape]`` to ``(logits, features)``.

``features`` is the penultimate representation ``[batch, feature_dim]`` (input of the output
layer), which category centres, DOS, LMLE and CRL work on. Parameters are plain pytrees, so a
model initialised from a vmapped key gives one parameter set per run.

Every model takes ``head``: its output layer (named :data:`HEAD`) is a dense layer
(``"linear"``, logits ``W^T h + b``) or LDAM's cosine classifier (``"cosine"``,
:class:`imbjax.layers.NormedLinear`: ``cos(h, w_j)`` in ``[-1, 1]``, no bias; Cao et al. 2019).
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from imbjax.layers import ConvLayers, NormedLinear

#: Name of the output layer in every model (output-layer-only fine-tuning uses it).
HEAD = "head"
#: Output layers a model's ``head`` argument selects.
HEADS = ("linear", "cosine")


def check_head(head: str) -> None:
    """Raise a ``ValueError`` naming ``head`` and the valid choices if it is not one of :data:`HEADS`."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {list(HEADS)}")


def output_layer(head: str, num_classes: int) -> nn.Module:
    """The output layer :data:`HEAD` of kind ``head``: ``nn.Dense`` or :class:`~imbjax.layers.NormedLinear`."""
    check_head(head)
    if head == "cosine":
        return NormedLinear(num_classes, name=HEAD)
    return nn.Dense(num_classes, name=HEAD)


class MLP(nn.Module):
    """Fully connected ReLU network; the last hidden layer is the feature layer."""

    num_classes: int
    hidden: Sequence[int] = (128, 128)
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        h = x.reshape((x.shape[0], -1))
        for width in self.hidden:
            h = nn.relu(nn.Dense(width)(h))
        return output_layer(self.head, self.num_classes)(h), h


class SmallCNN(nn.Module):
    """A small CNN for 8x8 images (scikit-learn digits): two 3x3 convolutions, 2x2 max-pool, dense.

    ``conv_impl``: ``"xla"``, ``"patches"`` (see :mod:`imbjax.layers`) or ``"auto"`` (patches on
    CPU); the parameters are the same for all three.
    """

    num_classes: int
    channels: Sequence[int] = (16, 32)
    dense: int = 64
    conv_impl: str = "auto"
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        ops = ConvLayers.of(self.conv_impl)
        h = ops.enter(x)
        for width in self.channels:
            h = nn.relu(ops.conv(width, (3, 3), padding="SAME")(h))
        h = ops.flatten(ops.max_pool(h, (2, 2), strides=(2, 2)))
        h = nn.relu(nn.Dense(self.dense)(h))
        return output_layer(self.head, self.num_classes)(h), h


class LeNet5(nn.Module):
    """LeNet-5 for 28x28 inputs (LeCun et al. 1998, ReLU and max-pool variant).

    conv 6@5x5 (same) -> pool -> conv 16@5x5 (valid) -> pool -> 120 -> 84 -> classes.
    ``conv_impl`` as in :class:`SmallCNN`.
    """

    num_classes: int
    conv_impl: str = "auto"
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        ops = ConvLayers.of(self.conv_impl)
        h = nn.relu(ops.conv(6, (5, 5), padding="SAME")(ops.enter(x)))
        h = ops.max_pool(h, (2, 2), strides=(2, 2))
        h = nn.relu(ops.conv(16, (5, 5), padding="VALID")(h))
        h = ops.flatten(ops.max_pool(h, (2, 2), strides=(2, 2)))
        h = nn.relu(nn.Dense(120)(h))
        h = nn.relu(nn.Dense(84)(h))
        return output_layer(self.head, self.num_classes)(h), h


#: He et al. (2015) normal initialisation for convolutions followed by ReLU: ``N(0, 2 / fan_in)``.
he_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class AllCNN(nn.Module):
    """All-CNN-C (Springenberg, Dosovitskiy, Brox & Riedmiller 2015, ICLR workshop), for small inputs.

    Convolutions only, downsampling by stride-2 convolutions instead of max-pooling::

        3x3 conv 96, 3x3 conv 96, 3x3 conv 96 stride 2,
        3x3 conv 192, 3x3 conv 192, 3x3 conv 192 stride 2,
        3x3 conv 192, 1x1 conv 192, global average pool -> features [batch, 192] -> head.

    Adapted to small inputs: every 3x3 convolution is SAME-padded (the paper's seventh layer is
    VALID on 8x8 maps), so 8x8, 28x28 and 32x32 inputs all work. The paper's last layer, a 1x1
    convolution to the classes followed by global averaging, is written as global averaging
    followed by the dense ``head`` (the same linear map, since both are linear; the paper's
    ReLU on the class scores is dropped, so the logits are not clipped at zero). No dropout
    (the engine applies models deterministically) and no normalisation, as in the paper, with
    He-normal initialisation. ``widths`` scales the two stages (96, 192).
    """

    num_classes: int
    widths: Sequence[int] = (96, 192)
    conv_impl: str = "auto"
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        ops = ConvLayers.of(self.conv_impl)
        first, second = self.widths
        h = ops.enter(x)
        layers = [(first, 3, 1), (first, 3, 1), (first, 3, 2), (second, 3, 1), (second, 3, 1), (second, 3, 2),
                  (second, 3, 1), (second, 1, 1)]
        for width, size, stride in layers:
            h = nn.relu(ops.conv(width, (size, size), strides=stride, padding="SAME", kernel_init=he_normal)(h))
        features = ops.global_mean(h)
        return output_layer(self.head, self.num_classes)(features), features


#: Depths of the CIFAR ResNets of He et al. (2016), 6n + 2 for n = 1, 2, 3, 5, 7, 9.
RESNET_DEPTHS = (8, 14, 20, 32, 44, 56)


class ResNet(nn.Module):
    """CIFAR-style ResNet of depth 6n + 2 (He, Zhang, Ren & Sun 2016, CVPR, section 4.2), or its
    plain counterpart (``residual=False``: the same layers without shortcuts).

    3x3 conv 16 -> three stages of n basic blocks with ``widths`` (16, 32, 64) channels, the
    first block of stages 2 and 3 with stride 2 -> global average pool -> features
    ``[batch, 64]`` -> ``head``. A basic block is ``relu(F(x) + shortcut(x))`` with
    ``F = norm(conv3x3(relu(norm(conv3x3(x)))))``.

    Shortcuts are the paper's **option A** (used for its CIFAR-10 results): the identity, and
    where a block halves the resolution and doubles the channels, the input subsampled with
    stride 2 and zero-padded with the new channels. It adds no parameters, so the residual and
    plain networks have identical parameter trees.

    Normalisation: **GroupNorm** (Wu & He 2018) with ``norm_groups`` groups in place of the
    paper's BatchNorm. The engine trains parameters only (``model.apply(params, x)``, no mutable
    ``batch_stats``) and runs are vmapped; GroupNorm has no batch statistics, behaves the same
    in training and evaluation, and Wu & He report it within ~0.5% of BatchNorm on ResNets.
    Convolutions have no bias (the normalisation's bias replaces it) and He-normal
    initialisation; normalisation scales start at 1.
    """

    num_classes: int
    depth: int = 20
    residual: bool = True
    widths: Sequence[int] = (16, 32, 64)
    norm_groups: int = 8
    conv_impl: str = "auto"
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        if self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"ResNet depth must be 6n + 2 with n >= 1 (e.g. {list(RESNET_DEPTHS)}), "
                             f"got {self.depth!r}")
        ops = ConvLayers.of(self.conv_impl)

        def conv(width, stride=1):
            return ops.conv(width, (3, 3), strides=stride, padding="SAME", use_bias=False, kernel_init=he_normal)

        h = nn.relu(ops.group_norm(self.norm_groups)(conv(self.widths[0])(ops.enter(x))))
        for stage, width in enumerate(self.widths):
            for block in range((self.depth - 2) // 6):
                stride = 2 if stage > 0 and block == 0 else 1
                branch = nn.relu(ops.group_norm(self.norm_groups)(conv(width, stride)(h)))
                branch = ops.group_norm(self.norm_groups)(conv(width)(branch))
                if self.residual:
                    branch = branch + option_a_shortcut(h, width, stride, ops.channel_axis)
                h = nn.relu(branch)
        features = ops.global_mean(h)
        return output_layer(self.head, self.num_classes)(features), features


def option_a_shortcut(x, width: int, stride: int, channel_axis: int):
    """He et al. (2016) option A: ``x`` subsampled by ``stride`` on height and width (axes 1, 2)
    and zero-padded to ``width`` channels along ``channel_axis``."""
    x = x[:, ::stride, ::stride, :]
    padding = [(0, 0)] * x.ndim
    padding[channel_axis] = (0, width - x.shape[channel_axis])
    return jnp.pad(x, padding)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP, "small_cnn": SmallCNN, "lenet5": LeNet5, "all_cnn": AllCNN, "resnet": ResNet,
}
#: Models built on convolutions (vmapping them over runs gives grouped convolutions).
CONVOLUTIONAL_MODELS = frozenset(MODELS) - {"mlp"}


def check_model(name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` and the valid choices if it is not a model."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")


def make_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build model ``name`` (one of :data:`MODELS`) with ``num_classes`` outputs; ``head`` (in
    ``kwargs``, default ``"linear"``) is checked here, before anything is traced."""
    check_model(name)
    check_head(kwargs.get("head", "linear"))
    try:
        return MODELS[name](num_classes=num_classes, **kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments {kwargs!r} for model {name!r}: {err}") from None
