"""Traced sweep programs kept across processes, so that a warm start neither traces nor lowers.

JAX's persistent compilation cache (``imbjax.runtime.configure``) saves XLA's work, but JAX still
traces a group's run and lowers it to StableHLO before it can look the executable up: 1.1-1.4 s
for the MLP benchmark group, more than its 0.9 s of training (docs/performance.md). This module
serialises the lowered whole-run program with ``jax.export`` beside the compilation cache and, on
a later start, calls the deserialised program instead: the same StableHLO, so the same XLA
executable (loaded from the compilation cache) and the same results (tests/test_sweep.py).

A saved program is used only under a key that covers everything its tracing depends on:

* a digest of every ``.py`` file of the ``imbjax`` package (an edit of imbjax changes the key),
* the versions of jax, jaxlib, flax, optax and numpy, and JAX's flags that change tracing,
* the program: its name, the :class:`~imbjax.train.ProgramSpec` (method names, hyper-parameter
  defaults, model, optimizer, sizes), the layout and the mesh,
* the inputs' shapes, dtypes and shardings;

and only for programs whose code is all imbjax's: its methods registered by imbjax's modules, its
families' builders, model and optimizer imbjax's own. A method, model, family or optimizer
registered from a user's script (or a test) has code no digest covers, so its programs are traced
every time. ``IMBJAX_PROGRAM_CACHE=0`` turns the cache off (a run under a
patched imbjax, ``monkeypatch`` or a debugger, should set it); ``IMBJAX_PROGRAM_CACHE_DIR`` moves it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import warnings
from importlib import metadata
from pathlib import Path
from typing import Callable

import jax

import imbjax
from imbjax import methods, models
from imbjax.train import FAMILIES, OPTIMIZERS, DeviceData, ProgramSpec

#: Bump when the key or the file format changes.
FORMAT_VERSION = 1
#: Sub-directory of JAX's compilation cache directory holding the serialised programs.
DIRECTORY = "imbjax-programs"
#: JAX flags that change what a traced program contains.
TRACING_FLAGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_threefry_partitionable",
                 "jax_default_prng_impl", "jax_numpy_rank_promotion", "jax_numpy_dtype_promotion")
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy")

jax.export.register_namedtuple_serialization(DeviceData, serialized_name="imbjax.train.DeviceData")


def source_digest() -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file of the imbjax package."""
    root = Path(imbjax.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


#: Taken at import, while the files are those of the code this process imported.
SOURCE_DIGEST = source_digest()
# The models and optimizers imbjax defines, before a user's script can rebind a name.
_OWN_MODELS, _OWN_OPTIMIZERS = dict(models.MODELS), dict(OPTIMIZERS)


def is_imbjax_code(function) -> bool:
    """Whether ``function`` (or the function a ``functools.partial`` wraps) lives in an imbjax module."""
    while isinstance(function, functools.partial):
        function = function.func
    return methods.is_imbjax_module(getattr(function, "__module__", None) or "")


def spec_is_imbjax_code(spec: ProgramSpec) -> bool:
    """Whether everything a program of ``spec`` traces is imbjax's own code: its methods registered by
    imbjax modules (:func:`imbjax.methods.is_built_in`), and its families' builders, model and
    optimizer imbjax functions, the model and optimizer being those imbjax defined under their names."""
    if not all(methods.is_built_in(method) for method in spec.methods):
        return False
    builders = [FAMILIES.get(method.family) for method in spec.methods]
    model, optimizer = models.MODELS.get(spec.model), OPTIMIZERS.get(spec.optimizer)
    return (model is _OWN_MODELS.get(spec.model) and optimizer is _OWN_OPTIMIZERS.get(spec.optimizer)
            and all(piece is not None and is_imbjax_code(piece) for piece in (*builders, model, optimizer)))


def cache_directory() -> Path | None:
    """Where programs are kept: ``IMBJAX_PROGRAM_CACHE_DIR``, else :data:`DIRECTORY` inside JAX's
    compilation cache directory; ``None`` (no saved programs) when ``IMBJAX_PROGRAM_CACHE=0``, when
    JAX has no compilation cache directory, or with several processes."""
    if os.environ.get("IMBJAX_PROGRAM_CACHE", "1") == "0" or jax.process_count() > 1:
        return None
    if os.environ.get("IMBJAX_PROGRAM_CACHE_DIR"):
        return Path(os.environ["IMBJAX_PROGRAM_CACHE_DIR"])
    compilation_cache = jax.config.jax_compilation_cache_dir
    return Path(compilation_cache) / DIRECTORY if compilation_cache else None


def describe_spec(spec: ProgramSpec) -> str:
    """A stable text of ``spec``: its fields, with each method as its name, family and hyper-parameters."""
    method_fields = tuple((m.name, m.family, tuple(sorted(m.hparams.items()))) for m in spec.methods)
    fields = {name: getattr(spec, name) for name in spec.__dataclass_fields__ if name != "methods"}
    return repr((method_fields, sorted(fields.items())))


def program_key(name: str, spec: ProgramSpec, layout: str, args: tuple) -> str:
    """The hex digest naming a program (module docstring)."""
    inputs = jax.tree.map(lambda leaf: (tuple(leaf.shape), str(leaf.dtype), str(leaf.sharding)), args)
    parts = (
        FORMAT_VERSION, SOURCE_DIGEST,
        tuple((package, metadata.version(package)) for package in PACKAGES),
        tuple((flag, str(getattr(jax.config, flag))) for flag in TRACING_FLAGS),
        name, describe_spec(spec), layout, str(jax.tree.structure(args)), repr(jax.tree.leaves(inputs)),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _load(path: Path):
    """The exported program saved at ``path``, or ``None`` if it is missing or unreadable."""
    try:
        return jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # noqa: BLE001 - a truncated or foreign file: export the program again
        return None


def _save(path: Path, exported) -> None:
    """Write atomically (a temporary file renamed), so readers never see a partial program."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(exported.serialize())
    os.replace(temporary, path)


def compile_program(function: Callable, args: tuple, *, name: str, spec: ProgramSpec, layout: str,
                    out_shardings) -> jax.stages.Compiled:
    """``function.lower(*args).compile()``, through a saved program where the cache allows.

    ``function`` is a ``jax.jit`` of the program; ``out_shardings`` its outputs' shardings (the
    deserialised program is called under a new ``jit`` with them). Returns the compiled executable.
    """
    directory = cache_directory()
    if directory is None or not spec_is_imbjax_code(spec):
        return function.lower(*args).compile()
    path = directory / f"{program_key(name, spec, layout, args)}.jaxexport"
    exported = _load(path)
    if exported is None:
        try:
            exported = jax.export.export(function)(*args)
            _save(path, exported)
        except Exception as error:  # noqa: BLE001 - a program jax.export cannot take still runs, traced
            warnings.warn(f"not saving the traced program {name!r} ({type(error).__name__}: {error}); "
                          "it is traced on every start", RuntimeWarning, stacklevel=2)
            return function.lower(*args).compile()
    return jax.jit(exported.call, out_shardings=out_shardings).lower(*args).compile()
