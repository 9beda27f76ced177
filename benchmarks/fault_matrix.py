"""The fault matrix: the diagnosis training killed with SIGKILL at the start of each step, then run again.

    python benchmarks/fault_matrix.py

Runs in a temporary state (the repo's registry is not touched), two candidates, the bundled WDBC table. First a
clean run makes a champion. Then, per step: a run killed there (``MEDMAAS_KILL_AT``), what it left (RUNNING runs,
versions without an alias, where ``champion`` points, whether the champion has a Bento), and what the next clean run
found and did. Acceptance is unmeetable in the recovery runs, so the champion can change only through a kill.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from loadgen import temporary_state  # noqa: E402

STATE = temporary_state("medmaas-faults-")

STEPS = ("load", "gate", "train", "evaluate", "register", "package", "promote")  # the order the flow runs them


def write_params(name: str, data: Path, acceptance: dict | None = None) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    block = params["diagnosis"] | {
        "data": params["diagnosis"]["data"] | {"path": str(data)},
        "candidates": {"logistic_regression": {"C": [1.0]}, "decision_tree": {"max_depth": [3]}},
    }
    if acceptance:
        block["acceptance"] = block["acceptance"] | acceptance
    path = STATE / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"project": params["project"], "diagnosis": block}, sort_keys=False))
    return path


def train(params: Path, kill_at: str | None = None) -> int:
    environment = {k: v for k, v in os.environ.items() if k != "MEDMAAS_KILL_AT"}
    if kill_at:
        environment["MEDMAAS_KILL_AT"] = kill_at
    command = [sys.executable, "-m", "flows.train", "diagnosis", "--params", str(params)]
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, timeout=900, start_new_session=True
    ).returncode


def record() -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name("diagnosis")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.family = 'diagnosis'")
    versions = client.search_model_versions("name = 'diagnosis'")
    served = {str(v) for a, v in client.get_registered_model("diagnosis").aliases.items() if a != "challenger"}
    champion = client.get_model_version_by_alias("diagnosis", "champion")
    return {
        "running": sum(r.info.status == "RUNNING" for r in runs),
        "failed_with_reason": sum(r.info.status == "FAILED" and "interrupted" in r.data.tags for r in runs),
        "versions": len(versions),
        "unpromoted_unmarked": sum(
            str(v.version) not in served and "interrupted" not in v.tags and v.tags.get("promotion") != "rejected"
            for v in versions
        ),
        "champion": champion.version,
        "champion_bento": "bento" in champion.tags and champion.tags["bento"] != "failed",
    }


def main() -> None:
    from families.diagnosis.family import Diagnosis

    data = Diagnosis.export_bundled(STATE / "wdbc.csv")
    normal, keep = write_params("normal", data), write_params("keep", data, {"minimums": {"roc_auc": 1.01}})
    assert train(normal) == 0, "the clean first run failed"
    print(f"state: {STATE}\nfirst clean run: {record()}\n")
    print("| killed at | exit | left: RUNNING runs | left: champion (Bento) | next run: exit | closed FAILED (total) |")
    print("|---|---|---|---|---|---|")
    for step in STEPS:
        code = train(normal, kill_at=step)
        left = record()
        again = train(keep)
        after = record()
        print(
            f"| {step} | {code} | {left['running']} | v{left['champion']} ({'yes' if left['champion_bento'] else 'no'})"
            f" | {again} | {after['failed_with_reason']} |"
        )
        print(
            f"|  | after the next run: RUNNING {after['running']}, champion v{after['champion']} "
            f"(Bento {'yes' if after['champion_bento'] else 'no'}), versions neither served, kept by the rule nor "
            f"marked interrupted: {after['unpromoted_unmarked']} of {after['versions']} |||||"
        )


if __name__ == "__main__":
    main()
