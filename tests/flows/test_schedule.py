"""Scheduled retraining: the deployments a `schedule:` block makes, and one scheduled run on a real Prefect server."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support import Replace, free_port, own_state_env, run_to_end, wait_for

from families import load_params
from medmaas.environment import PROJECT_ROOT
from medmaas.settings import ConfigError

MEDMAAS = str(Path(sys.executable).parent / "medmaas")
WEEKLY = {"cron": "0 3 * * 1", "timezone": "Europe/Berlin"}


def medmaas_command(env: dict, *args: str, timeout_s: float = 600):
    return run_to_end(
        [MEDMAAS, *args], waiting_for=f"medmaas {args[0]}", timeout_s=timeout_s, cwd=PROJECT_ROOT, env=env
    )


def ask_prefect(env: dict, body: str, waiting_for: str, timeout_s: float = 120) -> str:
    """Run ``body`` (async code using ``c``, a Prefect client, printing JSON) against the server ``env`` points at; its
    stdout, or "" on failure."""
    code = (
        "import json, asyncio, medmaas\nfrom prefect.client.orchestration import get_client\n"
        "from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName\n"
        "async def main():\n    async with get_client() as c:\n"
        + "".join(f"        {line}\n" for line in body.splitlines())
        + "asyncio.run(main())"
    )
    out = run_to_end(
        [sys.executable, "-c", code], waiting_for=waiting_for, timeout_s=timeout_s, cwd=PROJECT_ROOT, env=env
    )
    return out.stdout if out.returncode == 0 else ""


def deployments_served(env: dict, *names: str, triggers: int = 0) -> bool:
    """Whether `medmaas schedule` has registered every named deployment and at least ``triggers`` automations (made
    after them)."""
    listed = ask_prefect(
        env,
        "print(json.dumps([[d.name for d in await c.read_deployments()], len(await c.read_automations())]))",
        "the Prefect server's deployments and automations",
    )
    return bool(listed) and set(names) <= set(json.loads(listed)[0]) and json.loads(listed)[1] >= triggers


def test_a_schedule_block_makes_one_deployment_with_its_cron_timezone_and_parameters(write_params):
    from prefect.server.schemas.schedules import CronSchedule

    from flows.schedule import deployments

    params = load_params(write_params({"diagnosis": {"schedule": WEEKLY}}, keep_families=("diagnosis", "progression")))
    (deployment,) = deployments(params)  # progression has no schedule: no deployment
    assert deployment.name == "retrain-diagnosis"
    assert deployment.parameters == {
        "family_name": "diagnosis",
        "params_path": str(params.path),
        "started_by": "schedule 0 3 * * 1 (Europe/Berlin)",
    }
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * 1", "Europe/Berlin")
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    dates = asyncio.run(
        CronSchedule(cron=schedule.schedule.cron, timezone=schedule.schedule.timezone).get_dates(n=3, start=start)
    )
    local = [d.astimezone(ZoneInfo("Europe/Berlin")) for d in dates]
    assert [(d.weekday(), d.hour, d.minute) for d in local] == [(0, 3, 0)] * 3 and local[
        0
    ].date().isoformat() == "2026-12-07"


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        ({"cron": "every monday"}, "cron"),
        ({"cron": "0 3 * * 1", "timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "UTC"}, "cron"),
    ],
)
def test_a_bad_schedule_is_a_config_error_naming_the_key(write_params, schedule, named):
    with pytest.raises(ConfigError, match=rf"diagnosis.schedule.*{named}|{named}"):
        load_params(write_params({"diagnosis": {"schedule": schedule}}))


def test_medmaas_schedule_refuses_without_a_prefect_server(write_params):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = medmaas_command(
        env, "schedule", "--params", str(write_params({"diagnosis": {"schedule": WEEKLY}})), timeout_s=120
    )
    assert (
        result.returncode == 2
        and "medmaas up" in result.stderr
        and "temporary API cannot run schedules" in result.stderr
    )


@pytest.mark.slow
@pytest.mark.xdist_group("servers")
def test_a_scheduled_run_on_a_real_server_registers_a_challenger_that_says_what_started_it(tmp_path, write_params):
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "PREFECT_HOME")}
    env.update(MEDMAAS_STATE_DIR=str(state), MEDMAAS_OUTPUT_DIR=str(tmp_path / "out"))
    mlflow_port = free_port()
    params = write_params(
        {"diagnosis": {"schedule": WEEKLY, "candidates": Replace({"logistic_regression": {"C": [0.1]}})}}
    )
    up = medmaas_command(
        env, "up", "--prefect-port", str(free_port()), "--mlflow-port", str(mlflow_port), timeout_s=300
    )
    assert up.returncode == 0, up.stderr
    served = subprocess.Popen(
        [MEDMAAS, "schedule", "--params", str(params)],
        cwd=PROJECT_ROOT,
        env=env,
        start_new_session=True,
        stdout=open(tmp_path / "schedule.log", "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: deployments_served(env, "retrain-diagnosis"),
            waiting_for="medmaas schedule registering retrain-diagnosis",
            timeout_s=300,
            explain=lambda: (tmp_path / "schedule.log").read_text()[-3000:],
        )
        run_once = (
            "import medmaas, sys\nfrom prefect.deployments import run_deployment\n"
            "run = run_deployment('train-family/retrain-diagnosis', timeout=600)\nprint(run.state.type.value)"
        )
        ran = run_to_end(
            [sys.executable, "-c", run_once],
            waiting_for="the scheduled retraining run",
            timeout_s=700,
            cwd=PROJECT_ROOT,
            env=env,
        )
        assert ran.returncode == 0 and ran.stdout.strip().endswith("COMPLETED"), (
            ran.stderr[-2000:] + (tmp_path / "schedule.log").read_text()[-2000:]
        )
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{mlflow_port}")
        version = client.get_model_version("diagnosis", "1")
        assert version.tags["started_by"] == "schedule 0 3 * * 1 (Europe/Berlin)"
        card = client.download_artifacts(version.run_id, "promotion/model_card.md", str(tmp_path))
        assert "started by: schedule 0 3 * * 1 (Europe/Berlin)" in Path(card).read_text()
    finally:
        if served.poll() is None:
            os.killpg(served.pid, signal.SIGTERM)
            served.wait(timeout=30)
        medmaas_command(env, "down", timeout_s=120)


def test_deployments_of_a_monitored_family_listen_for_its_drift_events(write_params):
    from flows.schedule import deployments

    params = load_params(
        write_params({"diagnosis": {"registered_model": "dx", "monitoring": {"schedule": {"cron": "0 * * * *"}}}})
    )
    retrain, monitor = deployments(params)
    assert (retrain.name, monitor.name) == ("retrain-diagnosis", "monitor-diagnosis")
    assert (
        retrain.schedules == [] and retrain.parameters["started_by"] == "manual"
    )  # no `schedule:`: it runs on drift only
    (trigger,) = retrain.triggers
    assert (
        trigger.expect == {"medmaas.drift.detected"}
        and trigger.match.model_dump()["prefect.resource.id"] == "medmaas.model.dx"
    )
    assert (trigger.posture, trigger.threshold) == ("Reactive", 1) and trigger.parameters["family_name"] == "diagnosis"
    (schedule,) = monitor.schedules
    assert (
        schedule.schedule.cron == "0 * * * *"
        and monitor.parameters["started_by"] == "monitoring schedule 0 * * * * (UTC)"
    )
    quiet = load_params(write_params({"diagnosis": {"schedule": WEEKLY, "monitoring": {"retrain_on_drift": False}}}))
    (only,) = deployments(quiet)
    assert only.triggers == []


@pytest.mark.slow
@pytest.mark.xdist_group("servers")
def test_drift_found_by_monitor_starts_exactly_one_retraining_that_says_so(tmp_path, write_params, wdbc_csv):
    """up -> train v1 -> schedule serves the trigger -> monitor finds drift -> one retraining registers v2, started by
    the event."""
    import json

    import pandas as pd

    env = own_state_env(tmp_path)
    mlflow_port, prefect_port = free_port(), free_port()
    params = write_params(
        {
            "diagnosis": {
                "monitoring": {"schedule": {"cron": "0 4 * * *"}},
                "acceptance": {"max_regression": 0.05},
                "candidates": Replace({"logistic_regression": {"C": [0.1]}}),
            }
        }
    )
    shifted = pd.read_csv(wdbc_csv).drop(columns=["diagnosis"]).sample(150, random_state=3)
    shifted["mean_texture"] *= 1.4
    shifted.to_csv(tmp_path / "shifted.csv", index=False)

    def runs_of_retraining() -> list[dict]:
        listed = ask_prefect(
            env,
            "runs = await "
            "c.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=['retrain-diagnosis'])))\n"
            "print(json.dumps([{'state': r.state.type.value, 'started_by': r.parameters.get('started_by')} for r in "
            "runs]))",
            "the Prefect server's runs of retrain-diagnosis",
        )
        return json.loads(listed) if listed else []

    def schedule_log() -> str:
        return (tmp_path / "schedule.log").read_text()[-3000:]

    assert (
        medmaas_command(
            env, "up", "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port), timeout_s=300
        ).returncode
        == 0
    )
    served = None
    try:
        trained = medmaas_command(env, "train", "diagnosis", "--params", str(params))
        assert trained.returncode == 0, trained.stderr[-2000:]
        served = subprocess.Popen(
            [MEDMAAS, "schedule", "--params", str(params)],
            cwd=PROJECT_ROOT,
            env=env,
            start_new_session=True,
            stdout=open(tmp_path / "schedule.log", "w"),
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: deployments_served(env, "retrain-diagnosis", "monitor-diagnosis", triggers=1),
            timeout_s=300,
            explain=schedule_log,
            waiting_for="medmaas schedule registering retrain-diagnosis and its drift trigger",
        )
        checked = medmaas_command(env, "monitor", "diagnosis", str(tmp_path / "shifted.csv"), "--params", str(params))
        assert checked.returncode == 1 and "DRIFT (mean_texture" in checked.stdout, (
            checked.stdout[-2000:] + checked.stderr[-2000:]
        )
        event_id = re.search(r"medmaas\.drift\.detected ([0-9a-f-]{36}) sent to", checked.stdout).group(1)
        wait_for(
            lambda: any(r["state"] == "COMPLETED" for r in runs_of_retraining()),
            every_s=5,
            timeout_s=900,
            explain=schedule_log,
            waiting_for=f"a completed retraining started by drift event {event_id}",
        )
        time.sleep(15)  # a second run, if the trigger fired twice, would be scheduled by now
        runs = runs_of_retraining()
        assert [r["started_by"] for r in runs] == [f"drift event {event_id}"], (runs, schedule_log())
        assert runs[0]["state"] == "COMPLETED"
        from mlflow.tracking import MlflowClient

        version = MlflowClient(tracking_uri=f"http://127.0.0.1:{mlflow_port}").get_model_version("diagnosis", "2")
        assert version.tags["started_by"] == f"drift event {event_id}"
    finally:
        if served is not None and served.poll() is None:
            os.killpg(served.pid, signal.SIGTERM)
            served.wait(timeout=30)
        medmaas_command(env, "down", timeout_s=120)
