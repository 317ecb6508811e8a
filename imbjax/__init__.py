"""imbjax: vectorised, jit-compiled experiments on deep learning with class imbalance."""

__version__ = "0.1.0"
