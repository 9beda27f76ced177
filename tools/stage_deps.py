"""The code each DVC stage runs, from the import graph: `python -m tools.stage_deps` rewrites dvc.yaml's deps, `--check`
fails on drift.

A stage's code is the closure (tools/imports.py: every import, function level included, and the packages above
each module) of its command's modules and of what it loads by name:
- ``ingest_<f>``: ``families/__main__.py`` and the family ``f``;
- ``train_<f>``: ``flows/train.py``, the family, its service module (imported to build the Bento) and every family
  sharing that service (their champions go into the same Bento).
Other families' packages are imported while params.yaml is validated, but only to check their own blocks: they
cannot change this stage's outputs, so they are not its dependencies. A folder whose every module is in the
closure is listed as the folder. Data and params entries (``${...}``, ``data/...``) are kept as they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ruamel.yaml import YAML

from tools.imports import ROOT, ImportGraph

DVC_YAML = ROOT / "dvc.yaml"


def stage_roots(stage: str) -> list[str]:
    """The modules a stage's command starts from, and the families it loads by name."""
    from families import family_class, known_families

    kind, _, name = stage.partition("_")
    if kind == "ingest":
        return ["families.__main__", f"families.{name}"]
    service = family_class(name).service()
    sharing = [f for f in known_families() if family_class(f).service() == service]
    return ["flows.train", f"serving.{service}", *(f"families.{f}" for f in sharing)]


def code_deps(tree: ImportGraph, modules: set[str]) -> list[str]:
    """The files of ``modules``, folders named once when every module under them is included."""
    files = {tree.modules[m] for m in modules}
    chosen: list[Path] = []
    for folder in sorted({p.parent for p in tree.modules.values()}, key=lambda p: len(p.parts)):
        under = {p for p in tree.modules.values() if folder in p.parents}
        if under <= files and not any(c in folder.parents or c == folder for c in chosen):
            chosen.append(folder)
    covered = {p for p in files if any(c in p.parents for c in chosen)}
    return sorted(str(p.relative_to(tree.root)) for p in [*chosen, *(files - covered)])


def expected_deps(tree: ImportGraph, stage: str, current: list[str]) -> list[str]:
    kept = [d for d in current if d.startswith(("${", "data/"))]
    return kept + code_deps(tree, tree.closure(stage_roots(stage)))


def family_stages(stages: dict) -> list[str]:
    from families import known_families

    return [s for s in stages if s.partition("_")[0] in ("ingest", "train") and s.partition("_")[2] in known_families()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stage_deps", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 and name the stages whose deps differ; write nothing"
    )
    args = parser.parse_args(argv)
    yaml = YAML()
    yaml.width = 200
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(DVC_YAML.read_text())
    tree = ImportGraph()
    drift = []
    for stage in family_stages(document["stages"]):
        current = list(document["stages"][stage].get("deps") or [])
        expected = expected_deps(tree, stage, current)
        if current != expected:
            drift.append(
                f"{stage}: missing {sorted(set(expected) - set(current))}, extra {sorted(set(current) - set(expected))}"
            )
            document["stages"][stage]["deps"] = expected
    if args.check:
        print("\n".join(drift) or "dvc.yaml: every stage depends on the code it runs")
        return 1 if drift else 0
    with DVC_YAML.open("w") as handle:
        yaml.dump(document, handle)
    print("\n".join(drift) or "dvc.yaml was up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
