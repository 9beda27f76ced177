"""Files the docs, docstrings and comments point at exist (a renamed module leaves no dangling pointer)."""

import re

from tools.imports import ROOT

PACKAGES = ("medmaas", "blocks", "families", "tasks", "flows", "serving", "cli", "tools", "benchmarks", "tests")
POINTER = re.compile(rf"(?<![\w./-])((?:{'|'.join(PACKAGES)})/[\w/.-]*\w\.py)")


def test_every_pointed_at_source_file_exists():
    texts = [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), ROOT / "dvc.yaml", ROOT / "params.yaml",
             *(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))]
    dangling = {f"{path.relative_to(ROOT)}: {target}" for path in texts for target in POINTER.findall(path.read_text())
                if not (ROOT / target).is_file()}
    assert dangling == set()
