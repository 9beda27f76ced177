"""A training killed at a step (SIGKILL: no handler runs, as in a power cut) leaves a record the next run makes
true, and two trainings of one model never run at once. The trainings run as the CLI does, in their own processes."""

import json
import os
import subprocess
import sys
import threading

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from support import Replace, Server, registry_snapshot

from medmaas.crash_safety import INTERRUPTED, KILL_AT, model_lock
from medmaas.environment import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry"), pytest.mark.usefixtures("prefect_harness")]
MODEL = "diagnosis_crash"  # a registered model of its own: the other flow tests' versions stay out of the counts


def _params(write_params, model: str, acceptance: dict | None = None):
    block = {
        "registered_model": model,
        "candidates": Replace({"logistic_regression": {"C": [1.0]}, "decision_tree": {"max_depth": [3]}}),
    }
    return write_params({"diagnosis": block | ({"acceptance": acceptance} if acceptance else {})})


@pytest.fixture(scope="module")
def params(write_params):
    return _params(write_params, MODEL)


def train(
    params, kill_at: str | None = None, *, env: dict | None = None, log=None, leads_its_group: bool = True
) -> subprocess.CompletedProcess:
    """The CLI's training in a process of its own. Leading its group, a kill takes its temporary Prefect API too;
    not leading it, the API outlives it (then ``log``, a file: the orphan keeps a pipe open and would hang a read)."""
    environment = {k: v for k, v in (env or os.environ).items() if k != KILL_AT} | (
        {KILL_AT: kill_at} if kill_at else {}
    )
    output = {"stdout": log, "stderr": subprocess.STDOUT} if log else {"capture_output": True, "text": True}
    return subprocess.run(
        [sys.executable, "-m", "flows.train", "diagnosis", "--params", str(params)],
        cwd=PROJECT_ROOT,
        env=environment,
        timeout=600,
        start_new_session=leads_its_group,
        **output,
    )


def runs_of(model: str) -> list:
    client = MlflowClient()
    experiment = client.get_experiment_by_name(model)
    if experiment is None:  # nothing trained it yet
        return []
    return client.search_runs([experiment.experiment_id], filter_string="tags.family = 'diagnosis'")


def test_a_run_killed_at_evaluation_then_while_packaging_moves_no_alias_and_the_next_champion_serves(
    write_params, wdbc_csv, tmp_path
):
    model = f"{MODEL}_package"  # a model of its own: the tests of this module may run in any order
    params = _params(write_params, model)
    killed = train(params, kill_at="evaluate")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert [r.info.status for r in runs_of(model)] == ["RUNNING"]  # what a power cut leaves
    killed_while_packaging = train(params, kill_at="package")  # its challenger would have been promoted
    assert killed_while_packaging.returncode == -9, killed_while_packaging.stderr[-2000:]
    client = MlflowClient()
    orphan = client.get_model_version_by_alias(model, "challenger")
    assert "champion" not in client.get_registered_model(model).aliases  # the alias moves after the Bento, not before

    last = train(params)
    assert last.returncode == 0, last.stderr[-2000:]
    for recovery in (killed_while_packaging, last):  # each closed the run killed before it, in MLflow and in Prefect
        assert f"1 run(s) of {model} left RUNNING" in recovery.stdout + recovery.stderr
        assert "and 1 Prefect flow run(s) Crashed" in recovery.stdout + recovery.stderr
    runs = sorted(runs_of(model), key=lambda r: r.info.start_time)
    assert [r.info.status for r in runs] == ["FAILED", "FAILED", "FINISHED"]
    assert all(r.data.tags[INTERRUPTED].startswith("interrupted: still RUNNING") for r in runs[:2])
    assert client.get_model_version(model, orphan.version).tags[INTERRUPTED].startswith("interrupted:")
    champion = client.get_model_version_by_alias(model, "champion")
    assert int(champion.version) > int(orphan.version)

    # the champion's Bento answers, served with no registry at all (all it needs travels inside it)
    empty = tmp_path / "no-registry"
    empty.mkdir()
    server = Server(
        champion.tags["bento"], empty, env={"MLFLOW_TRACKING_URI": f"sqlite:///{empty / 'r.db'}", "MEDMAAS_PARAMS": ""}
    )
    try:
        features = server.post("model_info", {}).json()["features"]
        patient = pd.read_csv(wdbc_csv)[features].iloc[0].to_dict()
        answer = server.post("predict", {"patients": [patient]})
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    assert answer.json()[0]["model"] == model and answer.json()[0]["version"] == str(champion.version)


def test_a_run_killed_after_registering_its_challenger_leaves_the_champion_and_marks_the_version(write_params):
    model = f"{MODEL}_promote"  # a model of its own: the tests of this module may run in any order
    params = _params(write_params, model)
    assert train(params).returncode == 0  # a champion
    client = MlflowClient()
    before = client.get_model_version_by_alias(model, "champion").version
    killed = train(params, kill_at="promote")
    assert killed.returncode == -9, killed.stderr[-2000:]
    orphan = max(int(v.version) for v in client.search_model_versions(f"name = '{model}'"))
    assert client.get_model_version_by_alias(model, "champion").version == before  # the alias moves last
    last = train(params)
    assert last.returncode == 0, last.stderr[-2000:]
    assert client.get_model_version(model, str(orphan)).tags[INTERRUPTED].startswith("interrupted:")
    assert int(client.get_model_version_by_alias(model, "champion").version) != orphan  # never an interrupted version
    assert not [r for r in runs_of(model) if r.info.status == "RUNNING"]


def test_the_temporary_prefect_api_of_a_killed_training_is_stopped_by_the_next(write_params, tmp_path):
    import psutil

    from medmaas.crash_safety import EPHEMERAL_API
    from medmaas.environment import STATE_DIR

    params = _params(write_params, f"{MODEL}_api")
    alone = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}  # each starts its own API
    with (tmp_path / "killed.log").open("w") as log:  # as when an operator kills the training's pid alone
        killed = train(params, kill_at="evaluate", env=alone, log=log, leads_its_group=False)
    assert killed.returncode == -9, (tmp_path / "killed.log").read_text()[-2000:]
    records = [json.loads(p.read_text()) for p in (STATE_DIR / "prefect" / "temporary-apis").glob("*.json")]
    [record] = [r for r in records if not psutil.pid_exists(r["owner_pid"])]  # this session's own API: alive
    orphan = psutil.Process(record["api_pid"])
    assert EPHEMERAL_API in " ".join(orphan.cmdline()) and not psutil.pid_exists(record["owner_pid"])

    nxt = train(params, env=alone)
    assert nxt.returncode == 0, nxt.stderr[-2000:]
    assert "stopped 1 temporary Prefect API(s) left running by killed trainings" in nxt.stdout + nxt.stderr
    assert not psutil.pid_exists(record["api_pid"]) or orphan.status() == psutil.STATUS_ZOMBIE


def test_a_training_while_another_holds_the_model_is_coalesced_and_registers_nothing(params):
    before = registry_snapshot()
    with model_lock(MODEL):  # this process plays the running training
        second = train(params)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "coalesced into the training already running" in second.stdout and f"pid {os.getpid()}" in second.stdout
    assert registry_snapshot() == before


def test_two_trainings_started_together_register_exactly_one_version(params):
    before = len(MlflowClient().search_model_versions(f"name = '{MODEL}'"))
    results: list[subprocess.CompletedProcess] = []
    threads = [threading.Thread(target=lambda: results.append(train(params))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-1500:] for r in results]
    assert sum("coalesced" in r.stdout for r in results) == 1, [r.stdout for r in results]
    assert len(MlflowClient().search_model_versions(f"name = '{MODEL}'")) == before + 1


def test_a_full_disk_stops_the_training_with_one_line_naming_the_path_and_the_champion_stays(params, monkeypatch):
    import errno

    from typer.testing import CliRunner

    from cli import app

    before = registry_snapshot()
    started = {r.info.run_id for r in runs_of(MODEL)}

    def full(*args, **kwargs):  # as the artifact store answers on a full disk
        raise OSError(errno.ENOSPC, "No space left on device", "/state/mlflow/artifacts/x/data_gate.md")

    monkeypatch.setattr(MlflowClient, "log_artifacts", full)
    result = CliRunner().invoke(app, ["train", "diagnosis", "--params", str(params)])
    assert result.exit_code == 2, result.output
    assert "cannot write /state/mlflow/artifacts/x/data_gate.md: No space left on device" in result.output
    assert "champion unchanged" in result.output and "Traceback" not in result.output
    assert registry_snapshot() == before
    assert [r.info.status for r in runs_of(MODEL) if r.info.run_id not in started] == ["FAILED"]


def test_only_runs_whose_process_is_gone_on_this_machine_are_closed():
    # a registry shared by several machines: another machine's RUNNING run is alive as far as this lock knows
    import socket

    from medmaas.crash_safety import HOST, PID, close_interrupted_runs

    client = MlflowClient()
    experiment = client.create_experiment("crash_owners")
    here, dead = (
        socket.gethostname(),
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout.strip(),
    )
    runs = {
        "dead here": client.create_run(experiment, tags={HOST: here, PID: dead}).info.run_id,
        "alive here": client.create_run(experiment, tags={HOST: here, PID: str(os.getpid())}).info.run_id,
        "elsewhere": client.create_run(experiment, tags={HOST: "another-host", PID: dead}).info.run_id,
    }
    assert close_interrupted_runs("crash_owners", "crash_owners") == [runs["dead here"]]
    assert {name: client.get_run(run).info.status for name, run in runs.items()} == {
        "dead here": "FAILED",
        "alive here": "RUNNING",
        "elsewhere": "RUNNING",
    }
