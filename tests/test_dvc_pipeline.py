"""`dvc repro` exports the data and trains; a re-run with nothing changed trains nothing; an edit re-runs only what imports it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medmaas.environment import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dvc")]

TRAIN_STAGES = {f"train_{f}" for f in ("diagnosis", "progression", "progression_visits", "prognosis", "recommendation", "bioactivity", "imaging",
                                        "clinical_text")}
CODE_CHANGES = {  # module -> the stages that import it (written by hand, not by tools/stage_deps.py)
    "blocks/regression.py": {f"{kind}_{f}" for kind in ("ingest", "train") for f in ("progression", "progression_visits", "recommendation")},
    "blocks/torch_training.py": {"ingest_progression_visits", "train_progression_visits", "train_progression",  # progression shares the GRU's service
                                 "ingest_bioactivity", "train_bioactivity",  # the MLP
                                 "ingest_imaging", "train_imaging",  # the CNN
                                 "ingest_clinical_text", "train_clinical_text"},  # the fine-tuned MiniLM
    "blocks/deidentify.py": {"ingest_clinical_text", "train_clinical_text"},
    "medmaas/provenance.py": TRAIN_STAGES,
}


def run(command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> tuple[Path, dict]:
    """The tracked tree in a fresh git repo, trimmed to one quick candidate, with its own state."""
    repo = tmp_path_factory.mktemp("clone")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith("data/raw/") and not name.endswith(".gitignore"):
            continue  # DVC outputs: `dvc repro` must make them
        if (PROJECT_ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["diagnosis"]["candidates"] = {"logistic_regression": {"C": [0.1, 1.0]}}
    params["imaging"]["candidates"] = {"pixel_logistic_regression": {"C": [0.1]}}  # the CNNs take minutes
    params["clinical_text"]["data"] = {"path": "data/raw/drug_review_texts.csv", "id_column": "review_id", "text_column": "review",  # the second
                                       "label_column": "sentiment", "group_column": None, "min_rows": 500, "max_characters": 5000}  # task: 979 texts
    params["clinical_text"]["candidates"] = {"tfidf_linear_svm": {"C": [0.1]}}  # de-identifying 36,000 descriptions takes a minute
    params["clinical_text"]["acceptance"] = {"minimums": {"macro_f1": 0.3}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDMAAS_", "MLFLOW_", "PREFECT_"))}
    env |= {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", "MEDMAAS_STATE_DIR": str(repo / ".medmaas"),
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        subprocess.run(command, cwd=repo, env=env, check=True)
    return repo, env


def test_repro_trains_then_skips_reports_metrics_and_tracks_params(repo_copy):
    repo, env = repo_copy
    first = run(["dvc", "repro"], repo, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Running stage 'ingest_diagnosis'" in first.stdout and "Running stage 'train_diagnosis'" in first.stdout
    assert (repo / "data" / "raw" / "wdbc.csv").is_file()

    second = run(["dvc", "repro"], repo, env)
    assert second.returncode == 0
    assert "Running stage" not in second.stdout
    assert "Stage 'train_diagnosis' didn't change" in second.stdout

    # and editing a module makes exactly the stages that import it stale (a function-level import included)
    for module, importers in CODE_CHANGES.items():
        edited = repo / module
        original = edited.read_text()
        edited.write_text(original + "\n# edited\n")
        report = json.loads(run(["dvc", "status", "--json"], repo, env).stdout)
        edited.write_text(original)
        stale = {stage for stage, changes in report.items() for change in changes if isinstance(change, dict)
                 and any(module == dep or module.startswith(f"{dep}/") for dep in change.get("changed deps", {}))}
        assert stale == importers, module

    shown = run(["dvc", "metrics", "show", "--json"], repo, env)
    metrics = json.loads(shown.stdout)
    figures = next(iter(metrics.values()))["data"]["metrics/diagnosis.json"]["data"]
    assert figures["version"] == 1 and figures["promoted"] is True and figures["roc_auc"] >= 0.99

    # and a change to the family's params block makes only its training stage stale
    status = run(["dvc", "status", "train_diagnosis"], repo, env)
    assert "changed" not in status.stdout
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["diagnosis"]["decision_threshold"] = 0.4
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run(["dvc", "status", "train_diagnosis"], repo, env)
    assert "train_diagnosis" in status.stdout and "modified" in status.stdout and "diagnosis" in status.stdout
    assert "ingest_diagnosis" not in status.stdout  # the data export does not depend on training params

    # and pointing the family at the user's own file makes the stage track that file instead
    (repo / "data" / "mine.csv").write_bytes((repo / "data" / "raw" / "wdbc.csv").read_bytes())
    params["diagnosis"]["data"]["path"] = "data/mine.csv"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run(["dvc", "status", "train_diagnosis"], repo, env)
    assert "data/mine.csv" in status.stdout, status.stdout + status.stderr
