"""Each DVC stage depends on the code it runs: dvc.yaml's deps are what the import graph says (tools/stage_deps.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tools.imports import ROOT, ImportGraph
from tools.stage_deps import DVC_YAML, expected_deps, family_stages, stage_roots


@pytest.fixture(scope="module")
def stages() -> dict:
    return YAML(typ="safe").load(DVC_YAML.read_text())["stages"]


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(f"{d}/") for d in deps)


def test_every_family_has_its_stage_pair(stages):
    from families import known_families

    assert sorted(family_stages(stages)) == sorted(
        f"{kind}_{f}" for f in known_families() for kind in ("ingest", "train")
    )


def test_dvc_yaml_deps_are_the_code_each_stage_imports(stages):
    tree = ImportGraph()
    drift = {s: expected_deps(tree, s, stages[s]["deps"]) for s in family_stages(stages)}
    assert {s: d for s, d in drift.items() if d != stages[s]["deps"]} == {}, "run `python -m tools.stage_deps`"


@pytest.mark.slow
def test_what_a_train_stage_really_imports_is_among_its_deps(stages):
    # the static graph is a superset of what runs; check it against Python's own record of imports
    script = (
        "import json, sys, importlib; [importlib.import_module(m) for m in sys.argv[1:]]; "
        "print(json.dumps(sorted(m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None))))"
    )
    for stage in (s for s in family_stages(stages) if s.startswith("train_")):
        roots = [m for m in stage_roots(stage) if not m.startswith("serving.")]  # a service needs a champion to import
        files = json.loads(
            subprocess.run(
                [sys.executable, "-c", script, *roots], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
        )
        ours = sorted(
            str(p.relative_to(ROOT)) for p in map(Path, files) if p.is_relative_to(ROOT) and ".venv" not in p.parts
        )
        assert ours, stage
        assert [f for f in ours if not covered(f, stages[stage]["deps"])] == [], stage


def test_a_module_imported_inside_a_function_is_a_dependency(stages):
    # the GRU's training loop is imported only when the recurrent candidate trains
    assert covered("blocks/torch_training.py", stages["train_progression_visits"]["deps"])
    assert covered("families/progression_visits/recurrent.py", stages["train_progression_visits"]["deps"])
    assert covered("blocks/autoencoder.py", stages["train_diagnosis"]["deps"])  # its opt-in representation candidate
    assert not covered("blocks/torch_training.py", stages["train_prognosis"]["deps"])
