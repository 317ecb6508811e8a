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
import jax
import jax.numpy as jnp

from imbjax.layers import ConvLayers, NormedLinear, swap_batch_and_channels

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

    Normalisation (``norm``): ``"batch"``, the paper's **BatchNorm** (PyTorch's defaults: momentum 0.1
    of the running averages, epsilon 1e-5; batch statistics in training, the running averages in
    evaluation, one set per run of a vmapped sweep, :func:`imbjax.engine.blocks.forward`), or ``"group"``
    (default), **GroupNorm** (Wu & He 2018) with ``norm_groups`` groups, which has no batch statistics
    and is the same in training and evaluation. ``depth=32, norm="batch"`` is Cao et al.'s (2019)
    CIFAR ResNet-32 (their ``resnet_cifar.py``: 16/32/64 channels, option-A shortcuts, BatchNorm, Kaiming
    normal initialisation; ``head="cosine"`` their ``NormedLinear``), except that option A's zero
    channels are appended after the input's where theirs pad half before and half after: the same
    network up to a permutation of the new channels, whose initialisation is i.i.d. and whose
    BatchNorm is per channel, so the same distribution of trained networks. Flax keeps the biased batch
    variance in the running average where PyTorch keeps the unbiased one (a factor ``n / (n - 1)``).
    Convolutions have no bias (the normalisation's bias replaces it) and He-normal
    initialisation; normalisation scales start at 1.
    """

    num_classes: int
    depth: int = 20
    residual: bool = True
    widths: Sequence[int] = (16, 32, 64)
    norm_groups: int = 8
    norm: str = "group"
    conv_impl: str = "auto"
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        if self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"ResNet depth must be 6n + 2 with n >= 1 (e.g. {list(RESNET_DEPTHS)}), "
                             f"got {self.depth!r}")
        if self.norm not in NORMS:
            raise ValueError(f"unknown ResNet norm {self.norm!r}; choose one of {list(NORMS)}")
        ops = ConvLayers.of(self.conv_impl)

        def normalise():
            if self.norm == "batch":  # batch statistics exactly when they may be updated (training)
                return ops.batch_norm(use_running_average=not self.is_mutable_collection("batch_stats"))
            return ops.group_norm(self.norm_groups)

        def conv(width, stride=1):
            return ops.conv(width, (3, 3), strides=stride, padding="SAME", use_bias=False, kernel_init=he_normal)

        h = nn.relu(normalise()(conv(self.widths[0])(ops.enter(x))))
        for stage, width in enumerate(self.widths):
            for block in range((self.depth - 2) // 6):
                stride = 2 if stage > 0 and block == 0 else 1
                branch = nn.relu(normalise()(conv(width, stride)(h)))
                branch = normalise()(conv(width)(branch))
                if self.residual:
                    branch = branch + option_a_shortcut(h, width, stride, ops.channel_axis)
                h = nn.relu(branch)
        features = ops.global_mean(h)
        return output_layer(self.head, self.num_classes)(features), features


#: A ResNet's normalisation layers (``norm``).
NORMS = ("group", "batch")


def option_a_shortcut(x, width: int, stride: int, channel_axis: int):
    """He et al. (2016) option A: ``x`` subsampled by ``stride`` on height and width (axes 1, 2)
    and zero-padded to ``width`` channels along ``channel_axis``."""
    x = x[:, ::stride, ::stride, :]
    padding = [(0, 0)] * x.ndim
    padding[channel_axis] = (0, width - x.shape[channel_axis])
    return jnp.pad(x, padding)


# --- MNIST-1D's models: Greydanus & Kobak (2024), greydanus/mnist1d notebooks/models.py ---------------

#: PyTorch's default ``nn.Linear`` / ``nn.Conv1d`` weight initialisation, ``kaiming_uniform_(a=sqrt(5))``:
#: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in`` = inputs per output unit (``in_channels * kernel_size``).
torch_kernel_init = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")


def torch_bias_init(fan_in: int) -> Callable:
    """PyTorch's default bias initialisation of ``nn.Linear`` / ``nn.Conv1d``: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = fan_in ** -0.5
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def torch_dense(features: int, fan_in: int) -> nn.Dense:
    """``nn.Dense(features)`` initialised as PyTorch's ``nn.Linear(fan_in, features)``."""
    return nn.Dense(features, kernel_init=torch_kernel_init, bias_init=torch_bias_init(fan_in))


class Mnist1dLogistic(nn.Module):
    """MNIST-1D's logistic regression (``LinearBase``): ``logits = W^T x + b``, ``x: [batch, 40]``.

    The model is its output layer, so ``features`` is the input, ``[batch, 40]``. Parameters:
    ``40 * C + C`` (410 for ten classes). The head is Flax's ``nn.Dense`` default initialisation
    (:func:`output_layer`), not PyTorch's.
    """

    num_classes: int
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        h = x.reshape((x.shape[0], -1))
        return output_layer(self.head, self.num_classes)(h), h


class Mnist1dMLP(nn.Module):
    """MNIST-1D's MLP (``MLPBase``) with a residual second layer::

        h1 = relu(W1 x + b1),  h2 = h1 + relu(W2 h1 + b2),  logits = W3 h2 + b3,

    ``x: [batch, 40]``, hidden width ``hidden`` (the paper: 100); ``features`` is ``h2``, ``[batch,
    hidden]``. Parameters ``40 H + H + H^2 + H + H C + C`` (15,210 for H = 100, C = 10). Hidden layers
    are initialised as PyTorch's ``nn.Linear``; the head by :func:`output_layer`.
    """

    num_classes: int
    hidden: int = 100
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        x = x.reshape((x.shape[0], -1))
        h = nn.relu(torch_dense(self.hidden, x.shape[-1])(x))
        h = h + nn.relu(torch_dense(self.hidden, self.hidden)(h))
        return output_layer(self.head, self.num_classes)(h), h


class Mnist1dCNN(nn.Module):
    """MNIST-1D's CNN (``ConvBase``): three 1-D convolutions with ``channels`` (25) channels, kernel
    sizes 5, 3, 3, stride 2, zero padding 1, each followed by ReLU, then a linear classifier on the
    flattened maps::

        L_out = floor((L_in + 2 - k) / 2) + 1:  40 -> 19 -> 10 -> 5,  features: [batch, 25 * 5 = 125],

    flattened channel-major as PyTorch's ``h3.view(batch, -1)`` of ``[batch, channels, length]``
    (feature ``c * 5 + l``), so a PyTorch ``ConvBase``'s weights map onto this model unchanged.
    ``x: [batch, 40]``. Parameters ``(1*5*K + K) + 2 (K*3*K + K) + (5K*C + C)`` (5,210 for K = 25,
    C = 10). The 1-D convolutions are 2-D ones over a ``[1, 40]`` map with ``(1, k)`` kernels, so
    ``conv_impl`` (see :class:`SmallCNN`) picks patches x matmul on CPU. Convolutions are initialised
    as PyTorch's ``nn.Conv1d``; the head by :func:`output_layer`.
    """

    num_classes: int
    channels: int = 25
    conv_impl: str = "auto"
    head: str = "linear"

    @nn.compact
    def __call__(self, x):
        ops = ConvLayers.of(self.conv_impl)
        h = ops.enter(x.reshape((x.shape[0], 1, -1, 1)))
        in_channels = 1
        for size in (5, 3, 3):
            conv = ops.conv(self.channels, (1, size), strides=(1, 2), padding=((0, 0), (1, 1)),
                            kernel_init=torch_kernel_init, bias_init=torch_bias_init(in_channels * size))
            h, in_channels = nn.relu(conv(h)), self.channels
        features = channel_major_flatten(h, ops.memory_format)
        return output_layer(self.head, self.num_classes)(features), features


def channel_major_flatten(h, memory_format: str):
    """``[N, C * H * W]`` ordered ``(c, h, w)``, PyTorch's flattening of ``[N, C, H, W]``, from
    ``h`` in ``memory_format`` (``"NHWC"`` or ``"CHWN"``, see :mod:`imbjax.layers`)."""
    nhwc = h if memory_format == "NHWC" else swap_batch_and_channels(h)
    return jnp.transpose(nhwc, (0, 3, 1, 2)).reshape(nhwc.shape[0], -1)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP, "small_cnn": SmallCNN, "lenet5": LeNet5, "all_cnn": AllCNN, "resnet": ResNet,
    "mnist1d_logistic": Mnist1dLogistic, "mnist1d_mlp": Mnist1dMLP, "mnist1d_cnn": Mnist1dCNN,
}
#: Models built on convolutions (vmapping them over runs gives grouped convolutions).
CONVOLUTIONAL_MODELS = frozenset(MODELS) - {"mlp", "mnist1d_logistic", "mnist1d_mlp"}


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
