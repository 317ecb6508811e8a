"""Shared test fixtures: tiny sweep configs that train in seconds."""
import os

import pytest

os.environ.setdefault("IMBJAX_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "xla"))


@pytest.fixture
def tiny_config():
    """Digits, 2 rhos x 2 seeds x 2 methods, a small MLP, 40 steps."""
    from imbjax.config import base_config

    config = base_config()
    config.name = "tiny"
    config.datasets = ("digits",)
    config.rhos = (1.0, 10.0)
    config.mus = (0.5,)
    config.seeds = 2
    config.methods = ("baseline", "ros")
    config.model_kwargs.hidden = (32,)
    config.batch_size = 32
    config.num_steps = 40
    return config
