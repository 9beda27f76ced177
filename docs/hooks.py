"""MkDocs hooks: pages generated at build time from the code and the pipeline's outputs, never copied by hand.

- ``configuration-reference.md``: every params.yaml key of every family, from the pydantic settings (type, default,
description);
- ``results.md``: each family's metrics from ``metrics/*.json`` and its leaderboard from
``reports/<model>/leaderboard.md``;
  a family page's ``<!-- leaderboard: NAME -->`` marker becomes the same block for that family.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {"configuration-reference.md", "results.md"}


def on_config(config):
    sys.path.insert(0, str(ROOT))  # the project's packages, for the reference and mkdocstrings
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for name in sorted(GENERATED):
        files.append(File.generated(config, name, content=_generated(name)))
    return files


def _generated(name: str) -> str:
    return configuration_reference() if name == "configuration-reference.md" else results()


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if origin in (Union, UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in get_args(annotation))}]"
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "None")


def _models(annotation: Any) -> list[type]:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models(a)]


def _rows(model: type, prefix: str, seen: set) -> list[str]:
    """One table row per key, depth first; a nested settings model's keys follow under its dotted name."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        if len(default) > 60:
            default = default[:57] + "..."
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | `{_type_name(field.annotation)}` | `{default}` | {description} |")
        for nested in _models(field.annotation):
            if nested not in seen:
                rows += _rows(nested, f"{key}.", seen | {nested})
    return rows


def configuration_reference() -> str:
    from families import family_class, known_families
    from medmaas.settings import ProjectSettings

    header = "| key | type | default | meaning |\n|---|---|---|---|"
    parts = [
        "# Configuration reference",
        "",
        "Every key of `params.yaml`, generated from the pydantic settings each time the site is built "
        "(`docs/hooks.py`). "
        "A family's block is validated against these models; a wrong key or value is an error naming it.",
        "",
        "## project",
        "",
        header,
        *_rows(ProjectSettings, "project.", set()),
    ]
    for name in known_families():
        settings = family_class(name).Settings
        parts += [
            "",
            f"## {name}",
            "",
            (settings.__doc__ or "").strip(),
            "",
            header,
            *_rows(settings, f"{name}.", {settings}),
        ]
    return "\n".join(parts) + "\n"


def results() -> str:
    from families import known_families, load_params

    params = load_params(ROOT / "params.yaml")
    parts = [
        "# Results",
        "",
        "Generated when the site is built (`docs/hooks.py`) from the pipeline's outputs: `metrics/<family>.json` (what "
        "`dvc metrics show` "
        "reads) and `reports/<model>/leaderboard.md` (every candidate, the training-side score that chose, held-out "
        "figures with "
        "bootstrap 95% CIs). Run `make pipeline` and rebuild to refresh them.",
    ]
    for name in known_families():
        if name in params.families:
            parts += ["", f"## {name}", "", family_results(name, params)]
    return "\n".join(parts) + "\n"


def family_results(name: str, params: Any) -> str:
    """One family's held-out metrics and leaderboard, as the pipeline last wrote them."""
    from families import family_class

    model = params.families[name].registered_model or name
    parts = []
    metrics = ROOT / "metrics" / f"{name}.json"
    if metrics.is_file():
        flat = {k: v for k, v in json.loads(metrics.read_text()).items() if isinstance(v, int | float)}
        if flat:
            parts += ["| metric | value |", "|---|---|", *(f"| {k} | {v:.4g} |" for k, v in flat.items()), ""]
    board = ROOT / "reports" / model / "leaderboard.md"
    parts.append(
        board.read_text().replace("\n# ", "\n### ")
        if board.is_file()
        else f"No leaderboard yet: run `make pipeline` ({family_class(name).__name__})."
    )
    return "\n".join(parts)


LEADERBOARD = re.compile(r"<!-- leaderboard: (\w+) -->")


def on_page_markdown(markdown, page, config, files):
    """A family page's ``<!-- leaderboard: NAME -->`` becomes that family's results, generated like the results page."""
    if not LEADERBOARD.search(markdown):
        return markdown
    from families import load_params

    params = load_params(ROOT / "params.yaml")
    return LEADERBOARD.sub(lambda found: family_results(found.group(1), params), markdown)
