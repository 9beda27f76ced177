"""Families are plug-ins: each sub-package here is one, named after its params.yaml block, exposing ``FAMILY``.

Adding a family is one folder in this package; nothing in tasks/ or flows/ names one. This module is
the registry the settings are validated through (``FAMILIES``), filled by discovery, so the
foundation never imports a family.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

from medmaas.family import Family
from medmaas.settings import Params, read_params


@cache
def known_families() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg))


def family_class(name: str) -> type[Family]:
    if name not in known_families():
        raise KeyError(f"unknown family {name!r}; known: {', '.join(known_families())}")
    return importlib.import_module(f"families.{name}").FAMILY


class _Registry(Mapping[str, type[Family]]):
    """Every family by name; a family's package is imported only when its class is asked for."""

    def __getitem__(self, name: str) -> type[Family]:
        return family_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(known_families())

    def __len__(self) -> int:
        return len(known_families())

    def __contains__(self, name: object) -> bool:
        return name in known_families()


FAMILIES: Mapping[str, type[Family]] = _Registry()


def export_bundled(name: str) -> Path:
    """Write the family's packaged data set where its params expect it (``bundled_data``, under the repository)."""
    from medmaas.environment import PROJECT_ROOT

    cls = family_class(name)
    return cls.export_bundled(PROJECT_ROOT / cls.bundled_data)


def load_params(path: Path | str | None = None) -> Params:
    """The params file (default: the repository's), each family block validated by its own family."""
    return read_params(path, FAMILIES)


__all__ = ["FAMILIES", "Family", "export_bundled", "family_class", "known_families", "load_params"]
