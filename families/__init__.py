"""Families are plug-ins: a module here whose name is also its params.yaml block.

Adding a family is one file in this folder; nothing in tasks/ or flows/ names one.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from medmaas.family import Family

_NOT_FAMILIES = {"base", "collaborative", "regression", "tabular"}  # shared building blocks, not families


@cache
def known_families() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_FAMILIES and not m.name.startswith("_")))


def family_class(name: str) -> type[Family]:
    if name not in known_families():
        raise KeyError(f"unknown family {name!r}; known: {', '.join(known_families())}")
    module = importlib.import_module(f"families.{name}")
    return module.FAMILY


__all__ = ["Family", "family_class", "known_families"]
