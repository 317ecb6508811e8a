"""In-jit data augmentation of a training batch, one key per run (pure, jit/vmap-able).

* :func:`crop_and_flip`: the CIFAR recipe (He et al. 2016; Cao et al. 2019's LDAM-DRW code): pad each
  image by ``padding`` zeros on every side, crop a random ``H x W`` window, flip horizontally with
  probability 1/2 (``torchvision.transforms.RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip``).
* :func:`shift_and_noise`: for 1-D signals (MNIST-1D): roll each signal by a random shift in
  ``[-max_shift, max_shift]`` and add Gaussian noise of standard deviation ``noise_std``.

Every example of the batch gets its own draw; the same key gives the same batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

#: The augmentations a config may name (``config.augment``) and the arguments each takes
#: (``config.augment_kwargs``).
ARGUMENTS = {"none": (), "crop_flip": ("padding",), "shift_noise": ("max_shift", "noise_std")}
AUGMENTATIONS = tuple(ARGUMENTS)


def crop_and_flip(key: jax.Array, images: jax.Array, *, padding: int = 4) -> jax.Array:
    """Random crop after zero padding, then a random horizontal flip.

    Args:
      key: PRNG key. images: ``[batch, H, W, C]``. padding: static.

    Returns:
      ``[batch, H, W, C]``.
    """
    if images.ndim != 4:
        raise ValueError(f"crop_and_flip expects images [batch, H, W, C], got shape {images.shape}")
    batch, height, width, _ = images.shape
    crop_key, flip_key = jax.random.split(key)
    offsets = jax.random.randint(crop_key, (batch, 2), 0, 2 * padding + 1)
    flips = jax.random.bernoulli(flip_key, 0.5, (batch,))
    padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))

    def one(image, offset, flip):
        crop = jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, image.shape[-1]))
        return jnp.where(flip, crop[:, ::-1], crop)

    return jax.vmap(one)(padded, offsets, flips)


def shift_and_noise(key: jax.Array, signals: jax.Array, *, max_shift: int = 4, noise_std=0.0) -> jax.Array:
    """Roll every signal by its own random shift in ``[-max_shift, max_shift]`` along the length axis
    (axis 1) and add ``N(0, noise_std^2)`` noise.

    Args:
      key: PRNG key. signals: ``[batch, length]`` or ``[batch, length, channels]``.
      max_shift: static. noise_std: may be traced.
    """
    if signals.ndim not in (2, 3):
        raise ValueError(f"shift_and_noise expects signals [batch, length(, channels)], got shape {signals.shape}")
    shift_key, noise_key = jax.random.split(key)
    shifts = jax.random.randint(shift_key, (signals.shape[0],), -max_shift, max_shift + 1)
    rolled = jax.vmap(lambda signal, shift: jnp.roll(signal, shift, axis=0))(signals, shifts)
    return rolled + noise_std * jax.random.normal(noise_key, signals.shape, signals.dtype)


def check_augmentation(name: str, kwargs=()) -> None:
    """Raise one ``ValueError`` for an unknown augmentation or an argument it does not take."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {list(AUGMENTATIONS)}")
    for key in kwargs:
        if key not in ARGUMENTS[name]:
            raise ValueError(f"augmentation {name!r} has no argument {key!r}; valid arguments are "
                             f"{list(ARGUMENTS[name])}")


def check_fits(name: str, input_shape: tuple[int, ...]) -> None:
    """Raise one ``ValueError`` when augmentation ``name`` does not fit inputs of ``input_shape``
    (one example's shape): ``crop_flip`` needs images ``(H, W, C)``, ``shift_noise`` signals."""
    ranks = {"crop_flip": (3,), "shift_noise": (1, 2)}.get(name)
    if ranks is not None and len(input_shape) not in ranks:
        raise ValueError(f"augmentation {name!r} does not fit inputs of shape {tuple(input_shape)}: crop_flip "
                         f"needs images (H, W, C), shift_noise signals (length,) or (length, channels)")


def augment(name: str, key: jax.Array, x: jax.Array, **kwargs) -> jax.Array:
    """The augmentation ``name`` of :data:`AUGMENTATIONS` applied to the batch ``x`` with its
    ``kwargs`` (:data:`ARGUMENTS`)."""
    if name == "crop_flip":
        return crop_and_flip(key, x, **kwargs)
    if name == "shift_noise":
        return shift_and_noise(key, x, **kwargs)
    return x
