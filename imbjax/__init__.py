"""imbjax: vectorised, jit-compiled experiments on deep learning with class imbalance.

Importing imbjax changes no global JAX setting: what imbjax's programs need (the non-partitionable
threefry, :func:`imbjax.train.with_run_random_bits`) is scoped to them, and ``imbjax run`` sets the
process's devices and compilation cache (:mod:`imbjax.runtime`) before JAX starts.
"""
__version__ = "0.1.0"
