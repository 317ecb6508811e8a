"""Convolution as image patches x matmul, pooling as strided slices: fast CNN sweeps on XLA:CPU.

XLA:CPU computes ``lax.conv_general_dilated`` slowly for the small convolutions of LeNet-style
networks, and a convolution ``vmap``-ped over a sweep's runs becomes a grouped convolution,
slower still; the gradient of ``reduce_window`` max-pooling (``select_and_scatter``) is slow
too. This module writes a 2-D convolution as what it is, a matrix product with image patches
(im2col; Chellapilla, Puri & Simard 2006, "High performance convolutional neural networks for
document processing")::

    y[o, h, w, n] = b[o] + sum_{i, j, c} K[i, j, c, o] x_pad[c, s_h h + i, s_w w + j, n]
                  = b[o] + (K.reshape(kh kw C, O).T @ P)[o, (h, w, n)],
    P[(i, j, c), (h, w, n)] = x_pad[c, s_h h + i, s_w w + j, n],

in the channels-first, batch-last memory format ``CHWN`` (``x: [channels, height, width, batch]``).
In that memory format the patch matrix is built from contiguous slices (the batch is the contiguous
axis), the matmul has the long ``height x width x batch`` axis as its output columns (what
matmul kernels vectorise), and under ``vmap`` over runs the products stay batched matmuls.
Gradients come from automatic differentiation: the transpose of slicing is padding, so the
input gradient is a sum of padded slices (col2im) fused by XLA. docs/performance.md has the
measurements behind these choices.

:class:`Conv` has the parameters of ``flax.linen.Conv`` (``kernel: [kh, kw, in, out]``,
``bias: [out]``), so parameters are interchangeable between ``conv_impl="xla"`` and
``"patches"`` models; ``memory_format`` says whether its input and output are ``NHWC`` (a drop-in
for ``nn.Conv``) or ``CHWN`` (no transposes; what the models use between layers).

The module also holds LDAM's cosine classifier, :class:`NormedLinear` (a model's ``head="cosine"``).
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

#: Convolution implementations: XLA's convolution, image patches x matmul, or the faster of
#: the two for the running backend (patches on CPU, XLA elsewhere).
CONV_IMPLS = ("auto", "patches", "xla")
#: Activation memory formats: batch-first channels-last (Flax's) and channels-first batch-last.
MEMORY_FORMATS = ("NHWC", "CHWN")
#: Backends on which ``conv_impl="auto"`` picks ``"patches"`` (see docs/performance.md).
PATCHES_BACKENDS = ("cpu",)


def resolve_conv_impl(conv_impl: str, backend: str | None = None) -> str:
    """``"xla"`` or ``"patches"`` for ``conv_impl``; ``"auto"`` decides by ``backend``
    (default: JAX's default backend)."""
    if conv_impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv_impl {conv_impl!r}; choose one of {list(CONV_IMPLS)}")
    if conv_impl != "auto":
        return conv_impl
    return "patches" if (backend or jax.default_backend()) in PATCHES_BACKENDS else "xla"


def check_memory_format(memory_format: str) -> None:
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f"unknown memory_format {memory_format!r}; choose one of {list(MEMORY_FORMATS)}")


def swap_batch_and_channels(x: Array) -> Array:
    """``NHWC <-> CHWN``: ``[a, h, w, b] -> [b, h, w, a]`` (its own inverse)."""
    return jnp.transpose(x, (3, 1, 2, 0))


def channel_axis(memory_format: str) -> int:
    """Axis of the channels in ``memory_format`` (height and width are axes 1 and 2 in both)."""
    check_memory_format(memory_format)
    return 0 if memory_format == "CHWN" else 3


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair


def spatial_padding(padding, in_size: tuple[int, int], window: tuple[int, int], strides: tuple[int, int],
                    ) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` for ``padding`` as ``lax.conv_general_dilated`` reads it:
    ``"SAME"`` (output ``ceil(size / stride)``, the extra row/column at the end), ``"VALID"``, an
    int for every side, or explicit ``[(lo, hi), (lo, hi)]``."""
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return (0, 0), (0, 0)
        if padding.upper() == "SAME":
            pads = []
            for size, k, s in zip(in_size, window, strides):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
    elif isinstance(padding, int) and padding >= 0:
        return (padding, padding), (padding, padding)
    elif (isinstance(padding, Sequence) and len(padding) == 2
          and all(isinstance(p, Sequence) and len(p) == 2 and all(isinstance(v, int) and v >= 0 for v in p)
                  for p in padding)):
        return tuple(tuple(p) for p in padding)
    raise ValueError(f"unsupported padding {padding!r}; use 'SAME', 'VALID', an int >= 0, "
                     "or [(top, bottom), (left, right)]")


def _strided_windows(x: Array, axis: int, window: int, stride: int) -> list[Array]:
    """The ``window`` slices ``x[..., i : i + stride (out - 1) + 1 : stride, ...]`` along ``axis``."""
    out = (x.shape[axis] - window) // stride + 1
    return [jax.lax.slice_in_dim(x, i, i + stride * (out - 1) + 1, stride, axis) for i in range(window)]


def image_patches(x: Array, kernel_size: tuple[int, int], strides: tuple[int, int], padding) -> Array:
    """Patch matrix of ``x: [C, H, W, N]`` (CHWN): ``[kh kw C, H_out, W_out, N]``, rows ordered
    ``(i, j, c)`` like ``kernel.reshape(kh kw C, O)``.

    Built in two passes (``kw`` column shifts, then ``kh`` row shifts of those) so that every
    copy moves contiguous ``[W_out, N]`` rows.
    """
    (kh, kw), (sh, sw) = kernel_size, strides
    pads = spatial_padding(padding, x.shape[1:3], kernel_size, strides)
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    if x.shape[1] < kh or x.shape[2] < kw:
        raise ValueError(f"kernel {kernel_size} is larger than the padded input {x.shape[1:3]}")
    columns = jnp.stack(_strided_windows(x, 2, kw, sw))  # [kw, C, Hp, Wo, N]
    patches = jnp.stack(_strided_windows(columns, 2, kh, sh))  # [kh, kw, C, Ho, Wo, N]
    return patches.reshape(-1, *patches.shape[3:])


def conv_chwn(x: Array, kernel: Array, strides: tuple[int, int] = (1, 1), padding="SAME") -> Array:
    """Convolution (cross-correlation, as ``lax.conv_general_dilated``) of ``x: [C, H, W, N]``
    with ``kernel: [kh, kw, C, O]``: ``[O, H_out, W_out, N]``, as kernel^T @ patches."""
    kh, kw, channels, features = kernel.shape
    if x.shape[0] != channels:
        raise ValueError(f"input has {x.shape[0]} channels but the kernel expects {channels}")
    patches = image_patches(x, (kh, kw), strides, padding)
    rows, *out_shape = patches.shape
    out = jax.lax.dot_general(kernel.reshape(rows, features), patches.reshape(rows, -1), (((0,), (0,)), ((), ())))
    return out.reshape(features, *out_shape)


class Conv(nn.Module):
    """2-D convolution with the parameters of ``flax.linen.Conv``, computed as patches x matmul.

    ``x: [N, H, W, C]`` (``memory_format="NHWC"``) or ``[C, H, W, N]`` (``"CHWN"``) to the same memory format
    with ``features`` channels. ``kernel: [kh, kw, C, features]``, ``bias: [features]``.
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: str | int | Sequence[tuple[int, int]] = "SAME"
    use_bias: bool = True
    memory_format: str = "NHWC"
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: Array) -> Array:
        check_memory_format(self.memory_format)
        if x.ndim != 4:
            raise ValueError(f"Conv expects a 4-D {self.memory_format} input, got shape {x.shape}")
        kernel_size, strides = _pair(tuple(self.kernel_size), "kernel_size"), _pair(self.strides, "strides")
        x = swap_batch_and_channels(x) if self.memory_format == "NHWC" else x
        kernel = self.param("kernel", self.kernel_init, (*kernel_size, x.shape[0], self.features), jnp.float32)
        y = conv_chwn(x, kernel, strides, self.padding)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32)[:, None, None, None]
        return swap_batch_and_channels(y) if self.memory_format == "NHWC" else y


def max_pool(x: Array, window: Sequence[int], strides: Sequence[int] | None = None) -> Array:
    """Max over ``window`` (VALID padding) along axes 1 and 2 (height and width in both memory formats),
    as elementwise maxima of strided slices: equals ``flax.linen.max_pool`` on NHWC input, and its
    gradient is elementwise selects instead of ``select_and_scatter``. ``x: [a, H, W, b]``."""
    window = _pair(tuple(window), "window")
    strides = window if strides is None else _pair(tuple(strides), "strides")
    if x.shape[1] < window[0] or x.shape[2] < window[1]:
        raise ValueError(f"pooling window {window} is larger than the input {x.shape[1:3]}")
    for axis, size, stride in ((2, window[1], strides[1]), (1, window[0], strides[0])):
        slices = _strided_windows(x, axis, size, stride)
        x = slices[0]
        for other in slices[1:]:
            x = jnp.maximum(x, other)
    return x


def flatten(h: Array, memory_format: str) -> Array:
    """``[N, H W C]`` features in NHWC order (what ``h.reshape(N, -1)`` gives for NHWC ``h``),
    so dense layers after it have the same parameters in both memory formats."""
    check_memory_format(memory_format)
    h = swap_batch_and_channels(h) if memory_format == "CHWN" else h
    return h.reshape(h.shape[0], -1)


def global_mean(h: Array, memory_format: str) -> Array:
    """Global average pooling over height and width: ``[N, C]``."""
    mean = jnp.mean(h, axis=(1, 2))
    return mean.T if channel_axis(memory_format) == 0 else mean


class GroupNorm(nn.Module):
    """Group normalisation (Wu & He 2018, ECCV) in either memory_format, parameters as ``flax.linen.GroupNorm``.

    ``y = (x - mean_g) / sqrt(var_g + epsilon) * scale + bias``, with the mean and variance of
    each example over height, width and the channels of its group (``num_groups`` groups of
    ``C / num_groups`` channels). No batch statistics, so a model that uses it has no mutable
    state. ``scale, bias: [C]``.
    """

    num_groups: int
    memory_format: str = "NHWC"
    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, x: Array) -> Array:
        axis = channel_axis(self.memory_format)
        channels = x.shape[axis]
        if self.num_groups < 1 or channels % self.num_groups:
            raise ValueError(f"num_groups={self.num_groups!r} must be >= 1 and divide the {channels} channels")
        scale = self.param("scale", nn.initializers.ones_init(), (channels,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (channels,), jnp.float32)
        shape = list(x.shape)
        shape[axis:axis + 1] = [self.num_groups, channels // self.num_groups]
        grouped = x.reshape(shape)
        reduce = (axis + 1, 2, 3) if axis == 0 else (1, 2, 4)
        mean = jnp.mean(grouped, axis=reduce, keepdims=True)
        var = jnp.mean(jnp.square(grouped - mean), axis=reduce, keepdims=True)
        y = ((grouped - mean) * jax.lax.rsqrt(var + self.epsilon)).reshape(x.shape)
        broadcast = [1] * x.ndim
        broadcast[axis] = channels
        return y * scale.reshape(broadcast) + bias.reshape(broadcast)


class ConvLayers(NamedTuple):
    """The convolution, memory format and memory-format-aware helpers of one ``conv_impl``, for model code.

    ``conv_impl="xla"`` gives ``flax.linen.Conv`` on NHWC activations; ``"patches"`` gives
    :class:`Conv` on CHWN activations (the input is transposed once by :meth:`enter`). Both
    name their convolutions ``Conv_<i>`` with the same parameter shapes, so one parameter tree
    serves both.
    """

    impl: str
    memory_format: str

    @classmethod
    def of(cls, conv_impl: str) -> "ConvLayers":
        impl = resolve_conv_impl(conv_impl)
        return cls(impl, "CHWN" if impl == "patches" else "NHWC")

    def enter(self, x: Array) -> Array:
        """NHWC model input to this memory format."""
        return swap_batch_and_channels(x) if self.memory_format == "CHWN" else x

    def conv(self, features: int, kernel_size: Sequence[int], **kwargs) -> nn.Module:
        """A convolution module (``nn.Conv`` keyword arguments: strides, padding, use_bias, inits)."""
        if self.impl == "xla":
            return nn.Conv(features, tuple(kernel_size), **kwargs)
        return Conv(features, tuple(kernel_size), memory_format=self.memory_format, **kwargs)

    def max_pool(self, h: Array, window: Sequence[int], strides: Sequence[int] | None = None) -> Array:
        """``flax.linen.max_pool`` (VALID) for ``"xla"``; :func:`max_pool` (same values) for ``"patches"``."""
        if self.impl == "xla":
            return nn.max_pool(h, tuple(window), strides=None if strides is None else tuple(strides))
        return max_pool(h, window, strides)

    def group_norm(self, num_groups: int) -> nn.Module:
        return GroupNorm(num_groups, memory_format=self.memory_format)

    def batch_norm(self, use_running_average: bool) -> nn.Module:
        """``flax.linen.BatchNorm`` over this memory format's channel axis with PyTorch's ``BatchNorm2d``
        defaults (running averages updated by 0.1 of the batch statistics, epsilon 1e-5)."""
        return nn.BatchNorm(use_running_average=use_running_average, axis=self.channel_axis, momentum=0.9,
                            epsilon=1e-5)

    def flatten(self, h: Array) -> Array:
        return flatten(h, self.memory_format)

    def global_mean(self, h: Array) -> Array:
        return global_mean(h, self.memory_format)

    @property
    def channel_axis(self) -> int:
        return channel_axis(self.memory_format)


#: Smallest norm :func:`l2_normalise` divides by (``torch.nn.functional.normalize``'s ``eps``).
NORM_EPSILON = 1e-12


def l2_normalise(x: Array, axis: int = -1, epsilon: float = NORM_EPSILON) -> Array:
    """``x / max(||x||_2, epsilon)`` along ``axis`` (``torch.nn.functional.normalize``).

    Written as ``x * rsqrt(max(sum x^2, epsilon^2))``, which is the same value, so that the
    gradient at ``x = 0`` (an all-zero ReLU feature vector) is finite: zero, not NaN.
    """
    squared_norm = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * jax.lax.rsqrt(jnp.maximum(squared_norm, epsilon ** 2))


def unit_column_init(key: Array, shape: Sequence[int], dtype=jnp.float32) -> Array:
    """``U(-1, 1)`` entries with every column (``kernel[:, j]``) scaled to unit L2 norm: Cao et
    al.'s ``NormedLinear`` initialisation, ``weight.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)``
    (kaidic/LDAM-DRW, models/resnet_cifar.py). ``shape = [in_features, out_features]``."""
    return l2_normalise(jax.random.uniform(key, shape, dtype, -1.0, 1.0), axis=0)


class NormedLinear(nn.Module):
    """Cosine classifier of LDAM (Cao et al. 2019; their code's ``NormedLinear``, kaidic/LDAM-DRW
    models/resnet_cifar.py): the cosine similarity of the features and each class's weight vector,

        ``cos[n, j] = <x_n / ||x_n||, w_j / ||w_j||>``,  ``x: [batch, in]``, ``kernel: [in, out]``,

    output ``[batch, out]`` in ``[-1, 1]``. No bias. Both norms are floored at
    :data:`NORM_EPSILON`, as ``torch.nn.functional.normalize``; kernel initialised by
    :func:`unit_column_init`. The loss scales the cosines (LDAM's ``s``); this layer does not.
    """

    features: int
    kernel_init: Callable = unit_column_init

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        return l2_normalise(x) @ l2_normalise(kernel, axis=0)
