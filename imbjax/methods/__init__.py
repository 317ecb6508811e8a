"""The method registry: every built-in method and training-loop family, collected from the family modules.

Each module below exports ``METHODS`` (its :class:`~imbjax.engine.method.Method` objects) and, where its
methods need a training loop of their own, ``FAMILIES`` (its :class:`~imbjax.engine.program.Family`
objects); this module imports them explicitly and builds :data:`BUILT_IN` and :data:`FAMILIES` from them,
so :data:`REGISTRY` is complete as soon as ``imbjax.methods`` is imported. Importing a family module
registers nothing.

A user's own methods and families join through :func:`register` and :func:`register_family` (the public
:func:`imbjax.register_method` calls the first); they never enter :data:`BUILT_IN`, which is how the
sweep knows which programs trace only imbjax's code (:mod:`imbjax.sweep.program_cache`).

Adding a built-in method: a :class:`~imbjax.engine.method.Method` in the ``METHODS`` of its family
module; a new family module is also added to :data:`MODULES` (docs/design.md has both examples).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from imbjax.engine.method import Method
from imbjax.engine.program import Family, Program, ProgramSpec, build_program
from imbjax.methods import (
    centres,
    costs,
    crl,
    decoupling,
    dos,
    dynamic_sampling,
    lmle,
    loss_methods,
    mixup,
    resampling,
    standard,
    two_phase,
)

#: The family modules, in the order their methods are listed.
MODULES = (standard, loss_methods, two_phase, centres, dynamic_sampling, resampling, crl, dos, costs, lmle,
           decoupling, mixup)


def _by_name(kind: str, items) -> Mapping[str, object]:
    """``{item.name: item}`` of ``items``; a ``ValueError`` names a name two of them share."""
    table: dict[str, object] = {}
    for item in items:
        if item.name in table:
            raise ValueError(f"{kind} {item.name!r} is defined twice")
        table[item.name] = item
    return MappingProxyType(table)


#: imbjax's own methods by name (read-only); the others in :data:`REGISTRY` come from users' code.
BUILT_IN: Mapping[str, Method] = _by_name("method", (m for module in MODULES for m in module.METHODS))
#: Every method by name: the built-in ones and those registered with :func:`register`.
REGISTRY: dict[str, Method] = dict(BUILT_IN)
#: Every training-loop family by name: imbjax's own and those registered with :func:`register_family`.
FAMILIES: dict[str, Family] = dict(_by_name(
    "family", (f for module in MODULES for f in getattr(module, "FAMILIES", ()))))


def register(method: Method) -> Method:
    """Add a user's ``method`` to :data:`REGISTRY` (never to :data:`BUILT_IN`); a name can be registered once."""
    if method.name in REGISTRY:
        raise ValueError(f"method {method.name!r} is already registered")
    REGISTRY[method.name] = method
    return method


def register_family(family: Family) -> Family:
    """Add a user's training-loop ``family`` to :data:`FAMILIES`; a name can be registered once."""
    if family.name in FAMILIES:
        raise ValueError(f"family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def is_built_in(method: Method) -> bool:
    """Whether ``method`` is imbjax's own method of its name (:data:`BUILT_IN`)."""
    return BUILT_IN.get(method.name) is method


def available() -> tuple[str, ...]:
    """Registered method names, sorted."""
    return tuple(sorted(REGISTRY))


def get(name: str) -> Method:
    """The method called ``name``; a ``ValueError`` lists the valid names otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {list(available())}")
    return REGISTRY[name]


def family_of(method: Method) -> Family:
    """The registered family of ``method``; a ``ValueError`` lists the registered families otherwise."""
    if method.family not in FAMILIES:
        raise ValueError(f"unknown family {method.family!r} of method {method.name!r}; registered families are "
                         f"{sorted(FAMILIES)}")
    return FAMILIES[method.family]


def make_program(spec: ProgramSpec) -> Program:
    """The program of a group: the builder of its methods' (common) family
    (:func:`imbjax.engine.program.build_program`)."""
    families = sorted({m.family for m in spec.methods})
    if len(families) != 1:
        raise ValueError(f"a program's methods must share one family, got {families}")
    return build_program(family_of(spec.methods[0]), spec)


def check_hparams(name: str, hparams: Mapping[str, object]) -> None:
    """Raise a ``ValueError`` if ``hparams`` (name -> value or tuple of values) names a
    hyper-parameter that method ``name`` does not have, or a value outside its bounds."""
    method = get(name)
    unknown = sorted(set(hparams) - set(method.hparams))
    if unknown:
        raise ValueError(
            f"method {name!r} has no hyper-parameter {unknown[0]!r}; its hyper-parameters are {sorted(method.hparams)}"
        )
    for hparam, (low, high) in method.bounds.items():
        values = hparams.get(hparam, method.hparams[hparam])
        for value in values if isinstance(values, (tuple, list)) else (values,):
            if not low <= float(value) <= high:
                raise ValueError(f"{name} hyper-parameter {hparam}={value!r} is outside its valid range "
                                 f"[{low}, {high}]")
