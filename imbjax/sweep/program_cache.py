"""Traced sweep programs kept across processes, so that a warm start neither traces nor lowers.

JAX's persistent compilation cache (``imbjax.runtime.configure``) saves XLA's work, but JAX still
traces a group's run and lowers it to StableHLO before it can look the executable up, which takes
longer than a small group's training (docs/performance.md). This module
serialises the lowered whole-run program with ``jax.export`` beside the compilation cache and, on
a later start, calls the deserialised program instead: the same StableHLO, so the same XLA
executable (loaded from the compilation cache) and the same results (tests/test_sweep.py).

A saved program is used only under a key that covers everything its tracing depends on:

* a digest of every ``.py`` file of the ``imbjax`` package (an edit of imbjax changes the key),
* the versions of jax, jaxlib, flax, optax and numpy, and JAX's flags that change tracing,
* the program: its name, the :class:`~imbjax.engine.program.ProgramSpec` (method names, hyper-parameter
  defaults, model, optimizer, sizes), the layout and the mesh,
* the inputs' shapes, dtypes and shardings;

and only for programs whose code is all imbjax's: its methods registered by imbjax's modules, its
families' builders, model and optimizer imbjax's own. A method, model, family or optimizer
registered from a user's script (or a test) has code no digest covers, so its programs are traced
every time. ``IMBJAX_PROGRAM_CACHE=0`` turns the cache off (a run under a
patched imbjax, ``monkeypatch`` or a debugger, should set it); ``IMBJAX_PROGRAM_CACHE_DIR`` moves it.

The same provenance keeps results honest: :func:`describe_code` is a text of the code outside imbjax
that a run executes (a user's method pieces, family builder, model class, optimizer, data loader),
and :func:`user_code_digest` its hash, which :func:`imbjax.sweep.grid.expand` puts into the run and
group ids, so a sweep re-run after that code changed trains again instead of reusing old results.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import os
import sys
import sysconfig
import types
import warnings
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from imbjax import methods, models
from imbjax.engine.method import Method
from imbjax.engine.optimizers import OPTIMIZERS
from imbjax.engine.program import DeviceData, Family, ProgramSpec

#: Bump when the key or the file format changes.
FORMAT_VERSION = 1
#: Sub-directory of JAX's compilation cache directory holding the serialised programs.
DIRECTORY = "imbjax-programs"
#: JAX flags that change what a traced program contains.
TRACING_FLAGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_threefry_partitionable",
                 "jax_default_prng_impl", "jax_numpy_rank_promotion", "jax_numpy_dtype_promotion")
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy")

jax.export.register_namedtuple_serialization(DeviceData, serialized_name="imbjax.engine.program.DeviceData")


def source_digest() -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file of the imbjax package."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


#: Taken at import, while the files are those of the code this process imported.
SOURCE_DIGEST = source_digest()
# The models and optimizers imbjax defines, before a user's script can rebind a name.
_OWN_MODELS, _OWN_OPTIMIZERS = dict(models.MODELS), dict(OPTIMIZERS)


def is_imbjax_module(name: str) -> bool:
    """Whether the module called ``name`` is part of the imbjax package."""
    return name == "imbjax" or name.startswith("imbjax.")


def is_imbjax_code(function) -> bool:
    """Whether ``function`` (or the function a ``functools.partial`` wraps) lives in an imbjax module."""
    while isinstance(function, functools.partial):
        function = function.func
    return is_imbjax_module(getattr(function, "__module__", None) or "")


def spec_is_imbjax_code(spec: ProgramSpec) -> bool:
    """Whether everything a program of ``spec`` traces is imbjax's own code: its methods registered by
    imbjax (:func:`imbjax.methods.is_built_in`), and its families' builders, model and
    optimizer imbjax functions, the model and optimizer being those imbjax defined under their names."""
    if not all(methods.is_built_in(method) for method in spec.methods):
        return False
    builders = [family_builder(methods.FAMILIES.get(method.family)) for method in spec.methods]
    model, optimizer = models.MODELS.get(spec.model), OPTIMIZERS.get(spec.optimizer)
    return (model is _OWN_MODELS.get(spec.model) and optimizer is _OWN_OPTIMIZERS.get(spec.optimizer)
            and all(piece is not None and is_imbjax_code(piece) for piece in (*builders, model, optimizer)))


#: Where Python's standard library and installed packages live: code there is a library's, not a user's.
_INSTALLED = tuple({Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")})


def is_library_module(name: str) -> bool:
    """Whether module ``name`` is imbjax's, Python's own (built in or standard library) or an installed
    package's (under site-packages): code whose version, not whose text, identifies it."""
    top = name.partition(".")[0]
    if is_imbjax_module(name) or top in sys.builtin_module_names or top in sys.stdlib_module_names:
        return True
    path = getattr(sys.modules.get(name), "__file__", None)
    return path is not None and any(Path(path).resolve().is_relative_to(folder) for folder in _INSTALLED)


def _code_names(code: types.CodeType) -> set[str]:
    """The global and attribute names ``code`` and the code nested in it (lambdas, inner functions) use."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _code_names(constant)
    return names


def _bytecode_text(code: types.CodeType) -> str:
    """What ``code`` executes, without its file name or line numbers (for code with no readable source)."""
    constants = [_bytecode_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return repr((code.co_code.hex(), constants, code.co_names, code.co_varnames))


def _functions_of(cls: type) -> list[types.FunctionType]:
    """The functions defined in ``cls``'s body (methods, static and class methods, property getters)."""
    members = [getattr(member, "__func__", getattr(member, "fget", member)) for member in vars(cls).values()]
    return [member for member in members if isinstance(member, types.FunctionType)]


def _code_text(value: types.FunctionType | type) -> str:
    """The source of a user's function or class; the bytecode where the source cannot be read."""
    try:
        return inspect.getsource(value)
    except (OSError, TypeError):
        if isinstance(value, type):
            return repr(sorted(_bytecode_text(f.__code__) for f in _functions_of(value)))
        return _bytecode_text(value.__code__)


def _references(value: types.FunctionType | type) -> dict[str, object]:
    """What a user's function or class uses beyond its own code: the globals it names, its closure's
    values and its defaults (a class: those of its functions, and its bases)."""
    if isinstance(value, type):
        used = {"bases": tuple(b for b in value.__bases__ if b is not object)}
        for function in _functions_of(value):
            used.update({f"{function.__name__}: {k}": v for k, v in _references(function).items()})
        return used
    code = value.__code__
    used = {name: value.__globals__[name] for name in sorted(_code_names(code)) if name in value.__globals__}
    for name, cell in zip(code.co_freevars, value.__closure__ or ()):
        try:
            used[f"closure {name}"] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            used[f"closure {name}"] = None
    return {**used, "defaults": value.__defaults__, "keyword defaults": value.__kwdefaults__}


def describe_code(value, seen: set[int] | None = None) -> str:
    """A text of ``value`` that changes when the code or data it runs change.

    A function or class of a user's module (not :func:`is_library_module`) is its source text
    (``inspect.getsource``; its bytecode where no source can be read) with, recursively, the
    globals it names, its closure's values and its defaults, so an edit of a helper it calls or of a
    module constant it reads counts too. imbjax's and libraries' functions and classes are their
    qualified names; numbers and strings their ``repr``; arrays their dtype, shape and a hash of their
    bytes; ``functools.partial`` its function and arguments; a wrapper (``jax.jit``,
    ``functools.wraps``) the function it wraps; dataclass instances (a :class:`~imbjax.engine.method.Method`)
    their class and fields; containers their items; modules their names; an instance of a user's
    class that class and its attributes; any other object its type. An object met again is written
    ``<again>``.
    """
    if value is None or isinstance(value, (str, bytes, int, float, complex)):
        return repr(value)
    seen = set() if seen is None else seen
    if id(value) in seen:
        return "<again>"
    seen.add(id(value))
    describe = functools.partial(describe_code, seen=seen)
    if isinstance(value, functools.partial):
        return f"partial({describe(value.func)}, {describe(value.args)}, {describe(value.keywords)})"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}({', '.join(map(describe, value))})"
    if isinstance(value, (set, frozenset)):
        return f"{type(value).__name__}({', '.join(sorted(map(describe, value)))})"
    if isinstance(value, Mapping):
        items = sorted(f"{describe(key)}: {describe(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        array = np.asarray(value)
        return f"array({array.dtype}, {array.shape}, {hashlib.sha256(array.tobytes()).hexdigest()})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        return f"{describe(type(value))}{describe(fields)}"
    if isinstance(value, types.MethodType):
        return f"method({describe(value.__func__)}, {describe(value.__self__)})"
    name = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', getattr(value, '__name__', '?'))}"
    if isinstance(value, (types.FunctionType, type)) and not is_library_module(value.__module__ or ""):
        return f"{name}:\n{_code_text(value)}\n{describe(_references(value))}"
    wrapped = getattr(value, "__wrapped__", None)
    if callable(wrapped):  # jax.jit, functools.wraps: the function inside counts
        return f"{name}({describe(wrapped)})"
    if isinstance(value, (types.FunctionType, type, types.BuiltinFunctionType)) or hasattr(value, "__qualname__"):
        return name
    if is_library_module(type(value).__module__):
        return f"<{describe(type(value))}>"
    return f"<{describe(type(value))} {describe(getattr(value, '__dict__', {}))}>"


def user_code_digest(pieces: Mapping[str, object]) -> str:
    """A short hash of :func:`describe_code` of ``pieces`` (name -> function, class or method object);
    ``""`` for no pieces."""
    if not pieces:
        return ""
    return hashlib.sha256(describe_code(dict(pieces)).encode()).hexdigest()[:12]


def family_builder(family: Family | None) -> Callable | None:
    """The builder of ``family``, ``None`` for none."""
    return None if family is None else family.builder


def user_pieces(method: Method, family: Family | None, model: Callable | None,
                optimizer: Callable | None, loader: Callable | None) -> dict[str, object]:
    """The code of a run that is not imbjax's: ``method`` when it is not a method imbjax registered
    (all its fields: a user's method made of imbjax's pieces is identified by which pieces), and each
    of its family builder, model class, optimizer and data loader that is not an imbjax function
    (:func:`is_imbjax_code`; a ``functools.partial`` counts as the function it wraps)."""
    registered = {"family": family_builder(family), "model": model, "optimizer": optimizer, "loader": loader}
    pieces = {name: piece for name, piece in registered.items() if piece is not None and not is_imbjax_code(piece)}
    return pieces if methods.is_built_in(method) else {"method": method, **pieces}


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


def program_key(name: str, description: str, args: tuple) -> str:
    """The hex digest naming a program (module docstring); ``description`` is a stable text of what
    its tracing depends on beyond imbjax's code and the inputs (:func:`describe_spec` and the layout)."""
    inputs = jax.tree.map(lambda leaf: (tuple(leaf.shape), str(leaf.dtype), str(leaf.sharding)), args)
    parts = (
        FORMAT_VERSION, SOURCE_DIGEST,
        tuple((package, metadata.version(package)) for package in PACKAGES),
        tuple((flag, str(getattr(jax.config, flag))) for flag in TRACING_FLAGS),
        name, description, str(jax.tree.structure(args)), repr(jax.tree.leaves(inputs)),
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
    """``function.lower(*args).compile()`` of a group's program, through a saved program where the
    cache allows (``spec``'s code all imbjax's).

    ``function`` is a ``jax.jit`` of the program; ``out_shardings`` its outputs' shardings (the
    deserialised program is called under a new ``jit`` with them). Returns the compiled executable.
    """
    if not spec_is_imbjax_code(spec):
        return function.lower(*args).compile()
    return compile_saved(function, args, name=name, description=describe_spec(spec) + layout,
                         out_shardings=out_shardings)


def compile_saved(function: Callable, args: tuple, *, name: str, description: str, out_shardings,
                  compiler_options: dict | None = None) -> jax.stages.Compiled:
    """``function.lower(*args).compile()`` of a program whose code is all imbjax's, through a saved
    program under :func:`program_key` when the cache is on. ``compiler_options``: the XLA options
    ``function`` was jitted with, given again to the deserialised program."""
    directory = cache_directory()
    if directory is None:
        return function.lower(*args).compile()
    path = directory / f"{program_key(name, description, args)}.jaxexport"
    exported = _load(path)
    if exported is None:
        try:
            exported = jax.export.export(function)(*args)
            _save(path, exported)
        except Exception as error:  # noqa: BLE001 - a program jax.export cannot take still runs, traced
            warnings.warn(f"not saving the traced program {name!r} ({type(error).__name__}: {error}); "
                          "it is traced on every start", RuntimeWarning, stacklevel=2)
            return function.lower(*args).compile()
    return jax.jit(exported.call, out_shardings=out_shardings,
                   compiler_options=compiler_options).lower(*args).compile()
