"""Shared test fixtures: tiny sweep configs that train in seconds.

The persistent compilation cache is on for the whole test session (a fresh directory per
session, shared by xdist workers and CLI subprocesses), so a tiny program compiled by one test is
loaded, not recompiled, by the next.
"""
import os
import shutil
import tempfile

import pytest

_CACHE = os.environ.setdefault("IMBJAX_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"imbjax-test-xla-{os.getppid()}"))


def pytest_configure(config):
    import jax

    jax.config.update("jax_compilation_cache_dir", _CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def make_tiny_config():
    """Digits, 2 rhos x 2 seeds x 2 methods, a small MLP, 30 steps."""
    from imbjax.config import base_config

    config = base_config()
    config.name = "tiny"
    config.datasets = ("digits",)
    config.rhos = (1.0, 10.0)
    config.mus = (0.5,)
    config.seeds = 2
    config.methods = ("baseline", "ros")
    config.model_kwargs.hidden = (16,)
    config.batch_size = 32
    config.num_steps = 30
    return config


@pytest.fixture
def tiny_config():
    return make_tiny_config()


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """``(workdir, table)`` of the tiny config's sweep, run once per session; copy before changing it."""
    from imbjax.sweep import runner

    workdir = tmp_path_factory.mktemp("tiny_sweep")
    return workdir, runner.run_sweep(make_tiny_config(), workdir)


@pytest.fixture
def tiny_workdir(tiny_sweep, tmp_path):
    """A private copy of the tiny sweep's work directory."""
    copy = tmp_path / "work"
    shutil.copytree(tiny_sweep[0], copy)
    return copy
