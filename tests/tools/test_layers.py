"""The house's shape: no import circles, nothing imports upwards, families stay plug-ins (tools/imports.py)."""

from pathlib import Path

import pytest

from tools.imports import ImportGraph


@pytest.fixture(scope="module")
def tree() -> ImportGraph:
    return ImportGraph()


def test_no_module_imports_itself_back(tree):
    assert tree.circles() == []


def test_every_import_points_down_the_layers(tree):
    assert tree.layering_violations() == []


def test_families_and_building_blocks_know_no_orchestrator_tracker_or_server(tree):
    # families/ says what a model is; Prefect, MLflow and BentoML belong to tasks/, flows/ and serving/
    below_the_steps = [m for m in tree.modules if m.split(".")[0] in ("medmaas", "blocks", "families")]

    def forbidden(module: str) -> set[str]:  # the foundation may talk to MLflow (flavors, the registry's aliases)
        return {"prefect", "bentoml"} | (set() if module.startswith("medmaas") else {"mlflow"})

    leaks = {m: sorted(tree.libraries_of(m) & forbidden(m)) for m in below_the_steps}
    assert {m: libs for m, libs in leaks.items() if libs} == {}


def test_discovery_finds_every_family_folder_and_nothing_else(tree):
    from families import known_families

    folders = sorted(p.parent.name for p in (tree.root / "families").glob("*/__init__.py"))
    assert list(known_families()) == folders
    assert {"diagnosis", "progression", "progression_visits", "prognosis", "recommendation"} <= set(folders)


def _write(root: Path, files: dict[str, str]) -> ImportGraph:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ImportGraph(root, layers=(("low",), ("mid_a", "mid_b"), ("high",)))


def test_the_checker_sees_a_circle_an_upward_import_and_a_sideways_one(tmp_path):
    # given a small tree with each kind of fault, the imports hidden inside functions and behind `from .`
    tree = _write(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/a.py": "def f():\n    from high import top\n",
            "low/b.py": "from . import c\n",
            "low/c.py": "import low.b\n",
            "mid_a/__init__.py": "from mid_b.x import thing\n",
            "mid_b/__init__.py": "",
            "mid_b/x.py": "import low.c\nthing = 1\n",
            "high/__init__.py": "",
            "high/top.py": "from mid_a import thing\n",
        },
    )
    # then the checker names each one
    assert tree.circles() == [["low.b", "low.c"]]
    problems = tree.layering_violations()
    assert any(p.startswith("low/a.py:2 imports high.top: upwards") for p in problems)
    assert any(p.startswith("mid_a/__init__.py:1 imports mid_b.x: across one layer") for p in problems)
    assert len(problems) == 2
    # and the closure of the top module reaches everything it can run, parent packages included
    assert tree.closure(["high.top"]) == {"high", "high.top", "mid_a", "mid_b", "mid_b.x", "low", "low.b", "low.c"}
