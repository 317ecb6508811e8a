"""Sampling kernels: per-example weights, batch drawing, and (see submodules) resampling."""
from imbjax.sampling.weights import draw_batch, ros_weights, rus_mask, rus_weights, uniform_weights

__all__ = ["draw_batch", "ros_weights", "rus_mask", "rus_weights", "uniform_weights"]
