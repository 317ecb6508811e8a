"""imbjax: vectorised, jit-compiled experiments on deep learning with class imbalance.

Importing imbjax sets ``jax_threefry_partitionable = False``: a sweep vmaps (never partitions)
each run's random numbers, and the non-partitionable threefry compiles vmapped parameter
initialisation about 3x faster on CPU (measured: 3.9 s -> 1.1 s for an MLP over 40 runs; a whole
40-run MLP sweep 7.4 s -> 4.9 s). Random streams are the same alone, vmapped and sharded.
"""
import jax as _jax

_jax.config.update("jax_threefry_partitionable", False)

__version__ = "0.1.0"
