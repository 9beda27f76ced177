"""Files the docs, docstrings and comments point at exist (a renamed module leaves no dangling pointer)."""

import re

from tools.imports import ROOT

PACKAGES = ("medmaas", "blocks", "families", "tasks", "flows", "serving", "cli", "tools", "benchmarks", "tests")
POINTER = re.compile(rf"(?<![\w./-])((?:{'|'.join(PACKAGES)})/[\w/.-]*\w\.py)")


def test_every_pointed_at_source_file_exists():
    texts = [
        *ROOT.glob("*.md"),
        *(ROOT / "docs").rglob("*.md"),
        ROOT / "dvc.yaml",
        ROOT / "params.yaml",
        *(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")),
    ]
    dangling = {
        f"{path.relative_to(ROOT)}: {target}"
        for path in texts
        for target in POINTER.findall(path.read_text())
        if not (ROOT / target).is_file()
    }
    assert dangling == set()


UP = re.compile(r"(?<![\w.])(?:\.\./)+[\w.-]+")  # a relative path that climbs
MACHINE = re.compile(r"/work/[\w.-]+|/tmp/medmaas")  # one machine's paths


def test_no_docstring_comment_or_page_points_outside_the_repository():
    texts = [
        *ROOT.glob("*.md"),
        *(ROOT / "docs").rglob("*.md"),
        *(p for pkg in PACKAGES if pkg != "tests" for p in (ROOT / pkg).rglob("*.py")),
    ]
    # a page's link is relative to the page; a path in code is relative to the repository's root
    outside = {
        f"{path.relative_to(ROOT)}: {found}"
        for path in texts
        for found in UP.findall(path.read_text())
        if not ((path.parent if path.suffix == ".md" else ROOT) / found).resolve().is_relative_to(ROOT)
    }
    outside |= {f"{path.relative_to(ROOT)}: {found}" for path in texts for found in MACHINE.findall(path.read_text())}
    assert outside == set()
