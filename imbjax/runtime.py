"""Process-wide JAX settings, applied by the CLI before the backend starts.

* On a CPU-only machine JAX sees one device by default; imbjax asks for one CPU device per core
  (at most :data:`MAX_CPU_DEVICES`) so that sharding the run axis uses every core (XLA:CPU runs one device's small matmuls mostly
  on one thread; the measured gain is in docs/performance.md).
  ``JAX_NUM_CPU_DEVICES`` or ``--cpu-devices`` overrides it.
* Several hosts: ``distributed(...)`` calls ``jax.distributed.initialize`` (on CPU with the gloo
  collectives), after which ``jax.devices()`` lists every process's devices and the sweep's run
  axis is sharded over all of them; process 0 alone writes results.
* JAX's persistent compilation cache is on by default (``IMBJAX_CACHE_DIR``, default
  ``~/.cache/imbjax/xla``), so a second invocation of a sweep skips compilation.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import jax

MAX_CPU_DEVICES = 8
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "imbjax" / "xla"


def configure(*, cpu_devices: int | None = None, cache_dir: str | None = None, cache: bool = True) -> None:
    """Set the CPU device count and the compilation cache. Call before any JAX computation."""
    explicit = cpu_devices is not None
    if cpu_devices is None and "JAX_NUM_CPU_DEVICES" not in os.environ:
        cpu_devices = min(os.cpu_count() or 1, MAX_CPU_DEVICES)
    if cpu_devices is not None:
        if cpu_devices < 1:
            raise ValueError(f"cpu_devices must be >= 1, got {cpu_devices!r}")
        try:
            jax.config.update("jax_num_cpu_devices", cpu_devices)
        except RuntimeError:  # JAX already started in this process (a notebook, a test): keep its devices
            if explicit:
                warnings.warn(f"JAX is already initialised with {jax.device_count()} device(s); "
                              f"cpu_devices={cpu_devices} not applied", RuntimeWarning, stacklevel=2)
    if cache:
        directory = cache_dir or os.environ.get("IMBJAX_CACHE_DIR") or str(DEFAULT_CACHE_DIR)
        jax.config.update("jax_compilation_cache_dir", directory)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def distributed(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join a multi-process run (``jax.distributed.initialize``). Call before any JAX computation."""
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must lie in 0..{num_processes - 1}, got {process_id!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)


def is_writer() -> bool:
    """Whether this process writes results (process 0; every process in a single-process run)."""
    return jax.process_index() == 0
