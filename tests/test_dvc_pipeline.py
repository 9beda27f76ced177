"""`dvc repro` exports the data and trains; a re-run with nothing changed trains nothing; an edit re-runs only what
imports it.

What DVC proves does not depend on how much it trains, so the copy trains every family on a few dozen rows with one
candidate and one grid point (the quality floors are the families' own tests): the whole test takes minutes, not ten.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support import Replace, merged, run_to_end

from medmaas.environment import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dvc")]

FAMILIES = (
    "diagnosis",
    "progression",
    "progression_visits",
    "prognosis",
    "recommendation",
    "bioactivity",
    "imaging",
    "clinical_text",
)
TRAIN_STAGES = {f"train_{f}" for f in FAMILIES}
CODE_CHANGES = {  # module -> the stages that import it (written by hand, not by tools/stage_deps.py)
    "blocks/regression.py": {
        f"{kind}_{f}" for kind in ("ingest", "train") for f in ("progression", "progression_visits", "recommendation")
    },
    "blocks/torch_training.py": {
        "ingest_progression_visits",
        "train_progression_visits",
        "train_progression",  # progression shares the GRU's service
        "ingest_bioactivity",
        "train_bioactivity",  # the MLP
        "ingest_imaging",
        "train_imaging",  # the CNN
        "ingest_diagnosis",
        "train_diagnosis",  # the denoising autoencoder of its opt-in representation candidate
        "ingest_clinical_text",
        "train_clinical_text",
    },  # the fine-tuned MiniLM
    "blocks/deidentify.py": {"ingest_clinical_text", "train_clinical_text"},
    "medmaas/provenance.py": TRAIN_STAGES,
}
# Per family: the smallest run that still goes through every step (gate, split, tuning, evaluation, registry, Bento).
SMALL_RUNS = {
    "diagnosis": {
        "data": {"path": "data/small/wdbc.csv", "min_rows": 40},
        "split": {"cv_folds": 3},
        "bootstrap_resamples": 50,
        # 15 test patients: the CI is wide
        "candidates": Replace({"logistic_regression": {"C": [1.0]}}),
        "acceptance": Replace({"minimums": {"roc_auc": 0.9}, "floors_on": "point"}),
    },
    "progression": {
        "data": {"path": "data/small/diabetes.csv", "min_rows": 40},
        "split": {"cv_folds": 3},
        "bootstrap_resamples": 50,
        "candidates": Replace({"ridge": {"alpha": [1.0]}}),
        "acceptance": Replace({"minimums": {"r2": -1.0}}),
    },
    "progression_visits": {
        "data": {"path": "data/small/pbcseq.csv", "min_targets": 50},
        "split": {"cv_folds": 3},
        "bootstrap_resamples": 50,
        "candidates": Replace({"last_observation": {}}),
    },
    "prognosis": {
        "data": {"path": "data/small/gbsg2.csv", "min_rows": 40, "min_events": 20},
        "split": {"cv_folds": 3},
        "bootstrap_resamples": 50,
        "candidates": Replace({"cox_ph": {"alpha": [1.0]}}),
        "acceptance": Replace({"minimums": {"uno_c_index": 0.5}}),
    },
    "recommendation": {
        "bootstrap_resamples": 50,
        "candidates": Replace({"popularity": {"shrinkage": [0]}}),
    },  # the bundled file is small already (438 rows)
    "bioactivity": {
        "data": {"path": "data/small/b3db.csv", "min_rows": 50},
        "split": {"cv_folds": 2, "grouped_folds": 2},
        "bootstrap_resamples": 50,
        "candidates": Replace({"logistic_regression": {"C": [0.3]}}),
        "acceptance": Replace({"minimums": {"roc_auc": 0.5}}),
    },
    "imaging": {
        "data": {"path": "data/small/br35h", "image_size": 32, "min_images_per_class": 10, "min_rows": 20},
        "bootstrap_resamples": 50,
        "error_grid": False,
        "candidates": Replace({"pixel_logistic_regression": {"pixels": 16, "C": [0.1]}}),
        "acceptance": Replace({"minimums": {"roc_auc": 0.5, "sensitivity": 0.0}}),
    },
    "clinical_text": {
        "data": {"path": "data/small/icd10cm_chapters.csv", "min_rows": 50, "min_texts_per_label": 10},
        "bootstrap_resamples": 50,
        "candidates": Replace({"tfidf_logistic_regression": {"C": [3.0]}}),
        "acceptance": Replace({"minimums": {"macro_f1": 0.3, "top_k_accuracy": 0.5}}),
    },
}


def shrink_exports(repo: Path) -> None:
    """A few dozen rows (or images) per family from the ingest stages' exports, seeded, written under data/small/."""
    raw, small = repo / "data" / "raw", repo / "data" / "small"
    small.mkdir(parents=True, exist_ok=True)

    def per_class(frame: pd.DataFrame, column: str, n: int) -> pd.DataFrame:
        return pd.concat([rows.sample(min(n, len(rows)), random_state=0) for _, rows in frame.groupby(column)])

    per_class(pd.read_csv(raw / "wdbc.csv"), "diagnosis", 30).to_csv(small / "wdbc.csv", index=False)
    pd.read_csv(raw / "diabetes.csv").sample(60, random_state=0).to_csv(small / "diabetes.csv", index=False)
    visits = pd.read_csv(raw / "pbcseq.csv")
    visits[visits["patient_id"].isin(visits["patient_id"].drop_duplicates().head(40))].to_csv(
        small / "pbcseq.csv", index=False
    )
    pd.read_csv(raw / "gbsg2.csv").sample(100, random_state=0).to_csv(small / "gbsg2.csv", index=False)
    per_class(pd.read_csv(raw / "b3db.csv"), "bbb", 60).to_csv(small / "b3db.csv", index=False)
    descriptions = pd.read_csv(raw / "icd10cm_chapters.csv")
    three_chapters = descriptions[descriptions["chapter"].isin(["C00-D49", "I00-I99", "S00-T88"])]
    one_per_category = three_chapters.drop_duplicates("category")  # many small groups, so the grouped split has room
    per_class(one_per_category, "chapter", 30).to_csv(small / "icd10cm_chapters.csv", index=False)
    for label in ("tumour", "normal"):
        (small / "br35h" / label).mkdir(parents=True, exist_ok=True)
        for image in sorted((raw / "br35h" / label).iterdir())[:20]:
            shutil.copyfile(image, small / "br35h" / label / image.name)


def dvc(args: list[str], repo: Path, env: dict, timeout_s: float = 300) -> subprocess.CompletedProcess:
    return run_to_end(["dvc", *args], waiting_for=f"dvc {' '.join(args)}", timeout_s=timeout_s, cwd=repo, env=env)


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> tuple[Path, dict]:
    """The tracked tree in a fresh git repo with its own state, every family trimmed to its small run."""
    repo = tmp_path_factory.mktemp("clone")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if name.startswith("data/raw/") and not name.endswith(".gitignore"):
            continue  # DVC outputs: `dvc repro` must make them
        if (PROJECT_ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    params = merged(yaml.safe_load((repo / "params.yaml").read_text()), SMALL_RUNS)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDMAAS_", "MLFLOW_", "PREFECT_"))}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "MEDMAAS_STATE_DIR": str(repo / ".medmaas"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        subprocess.run(command, cwd=repo, env=env, check=True)
    return repo, env


def test_repro_trains_then_skips_reports_metrics_and_tracks_params(repo_copy):
    repo, env = repo_copy
    exported = dvc(["repro", "--glob", "ingest_*"], repo, env)
    assert exported.returncode == 0, exported.stdout[-3000:] + exported.stderr[-3000:]
    assert "Running stage 'ingest_diagnosis'" in exported.stdout and "train_" not in exported.stdout
    assert (repo / "data" / "raw" / "wdbc.csv").is_file()
    shrink_exports(repo)

    first = dvc(["repro"], repo, env, timeout_s=900)  # about 4 minutes here under `-n 2`
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert {stage for stage in TRAIN_STAGES if f"Running stage '{stage}'" in first.stdout} == TRAIN_STAGES
    assert "Running stage 'ingest_" not in first.stdout  # the exports are as the first repro left them

    second = dvc(["repro"], repo, env)
    assert second.returncode == 0
    assert "Running stage" not in second.stdout
    assert "Stage 'train_diagnosis' didn't change" in second.stdout

    # and editing a module makes exactly the stages that import it stale (a function-level import included); `dvc
    # status` trains nothing
    for module, importers in CODE_CHANGES.items():
        edited = repo / module
        original = edited.read_text()
        edited.write_text(original + "\n# edited\n")
        report = json.loads(dvc(["status", "--json"], repo, env).stdout)
        edited.write_text(original)
        stale = {
            stage
            for stage, changes in report.items()
            for change in changes
            if isinstance(change, dict)
            and any(module == dep or module.startswith(f"{dep}/") for dep in change.get("changed deps", {}))
        }
        assert stale == importers, module

    metrics = json.loads(dvc(["metrics", "show", "--json"], repo, env).stdout)
    shown = next(iter(metrics.values()))["data"]
    assert {Path(name).stem for name in shown} == set(FAMILIES)
    figures = shown["metrics/diagnosis.json"]["data"]
    assert figures["version"] == 1 and figures["promoted"] is True and figures["roc_auc"] >= 0.9

    # and a change to the family's params block makes only its training stage stale
    status = dvc(["status", "train_diagnosis"], repo, env)
    assert "changed" not in status.stdout
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["diagnosis"]["decision_threshold"] = 0.4
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = dvc(["status", "train_diagnosis"], repo, env)
    assert "train_diagnosis" in status.stdout and "modified" in status.stdout and "diagnosis" in status.stdout
    assert "ingest_diagnosis" not in status.stdout  # the data export does not depend on training params

    # and pointing the family at the user's own file makes the stage track that file instead
    (repo / "data" / "mine.csv").write_bytes((repo / "data" / "small" / "wdbc.csv").read_bytes())
    params["diagnosis"]["data"]["path"] = "data/mine.csv"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = dvc(["status", "train_diagnosis"], repo, env)
    assert "data/mine.csv" in status.stdout, status.stdout + status.stderr
