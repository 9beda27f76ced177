"""The project's import graph, read from the source (every import, at any depth of a function), and its layers.

Used by the layering test (no circles, nothing imports upwards) and by ``tools/stage_deps.py`` (a DVC stage
depends on every module its command can import).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own package and the packages of lower layers, nothing else:
# packages on one layer (tasks, serving) do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "medmaas",
    ),  # foundation: settings, environment, provenance, statistics, flavors, the family contract, the registry
    ("blocks",),  # building blocks shared by several families
    ("families",),  # plug-ins; a family imports only its own sub-package of families/
    ("tasks", "serving"),  # the generic steps; the services
    ("flows",),  # the order of the steps
    ("cli",),  # what a person types; nothing imports it
)


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int


class ImportGraph:
    def __init__(self, root: Path = ROOT, layers: tuple[tuple[str, ...], ...] = LAYERS) -> None:
        self.root = root
        self.layers = layers
        self.packages = tuple(p for layer in layers for p in layer)
        self._imports: dict[str, tuple[Import, ...]] = {}

    @cached_property
    def modules(self) -> dict[str, Path]:
        """Every module of the product packages, by dotted name (packages by their ``__init__``)."""
        found = {}
        for package in self.packages:
            for path in sorted((self.root / package).rglob("*.py")):
                parts = path.relative_to(self.root).with_suffix("").parts
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        return found

    def layer_of(self, module: str) -> int:
        top = module.split(".")[0]
        return next(i for i, layer in enumerate(self.layers) if top in layer)

    def _nearest_module(self, name: str) -> str | None:
        """The project module a dotted name lands in (``a.b.c`` may be a function c of module a.b)."""
        parts = name.split(".")
        while parts and ".".join(parts) not in self.modules:
            parts.pop()
        return ".".join(parts) or None

    def imports_of(self, module: str) -> tuple[Import, ...]:
        """What a module imports from the project, explicitly (the parent packages Python also runs are not edges
        here)."""
        if module not in self._imports:
            path = self.modules[module]
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            found = set()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                targets: list[str] = []
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:  # relative: from the package, up level - 1
                        anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                        base = ".".join([*anchor, base] if base else anchor)
                    targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in self.modules else base for a in node.names]
                for target in targets:
                    resolved = self._nearest_module(target)
                    if resolved is not None and resolved != module:
                        found.add(Import(module, resolved, node.lineno))
            self._imports[module] = tuple(sorted(found, key=lambda i: (i.target, i.line)))
        return self._imports[module]

    def libraries_of(self, module: str) -> set[str]:
        """Top-level names of the libraries a module imports (``prefect``, ``mlflow``, ...)."""
        names = set()
        for node in ast.walk(ast.parse(self.modules[module].read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
        return names - set(self.packages)

    def circles(self) -> list[list[str]]:
        """Strongly connected groups of more than one module (Tarjan's algorithm): each is an import circle."""
        edges = {m: sorted({i.target for i in self.imports_of(m)}) for m in self.modules}
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        groups = []

        def visit(node: str) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            for nxt in edges[node]:
                if nxt not in index:
                    visit(nxt)
                    low[node] = min(low[node], low[nxt])
                elif nxt in stack:
                    low[node] = min(low[node], index[nxt])
            if low[node] == index[node]:
                group = stack[stack.index(node) :]
                del stack[stack.index(node) :]
                if len(group) > 1:
                    groups.append(sorted(group))

        for node in sorted(edges):
            if node not in index:
                visit(node)
        return groups

    def family_of(self, module: str) -> str | None:
        """The family a module belongs to (``families.<name>`` is a sub-package), or None."""
        parts = module.split(".")
        if parts[0] != "families" or len(parts) < 2:
            return None
        return parts[1] if self.modules.get(f"families.{parts[1]}", Path()).name == "__init__.py" else None

    def layering_violations(self) -> list[str]:
        """Imports that run up the layers, across the packages of one layer, or from one family into another."""
        problems = []
        for module in self.modules:
            for edge in self.imports_of(module):
                source_top, target_top = module.split(".")[0], edge.target.split(".")[0]
                where = f"{self.modules[module].relative_to(self.root)}:{edge.line} imports {edge.target}"
                if self.layer_of(edge.target) > self.layer_of(module):
                    problems.append(f"{where}: upwards ({source_top} sits below {target_top})")
                elif source_top != target_top and self.layer_of(edge.target) == self.layer_of(module):
                    problems.append(f"{where}: across one layer ({source_top} and {target_top} are siblings)")
                elif (
                    self.family_of(module)
                    and edge.target.startswith("families")
                    and self.family_of(edge.target) != self.family_of(module)
                ):
                    problems.append(f"{where}: a family imports the registry or another family")
        return problems

    def closure(self, roots: Iterable[str]) -> set[str]:
        """Every project module that running ``roots`` can import: their imports, transitively, and the packages above
        each."""
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            parts = module.split(".")
            todo += [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in self.modules]
            todo += [i.target for i in self.imports_of(module)]
        return seen

    def package(self, name: str) -> set[str]:
        """A package and every module under it (a family's folder)."""
        return {m for m in self.modules if m == name or m.startswith(f"{name}.")}
