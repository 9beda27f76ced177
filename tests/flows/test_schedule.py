"""Scheduled retraining: the deployments a `schedule:` block makes, and one scheduled run on a real Prefect server."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support import Replace, free_port

from families import load_params
from medmaas.environment import PROJECT_ROOT
from medmaas.settings import ConfigError

MEDMAAS = str(Path(sys.executable).parent / "medmaas")
WEEKLY = {"cron": "0 3 * * 1", "timezone": "Europe/Berlin"}


def test_a_schedule_block_makes_one_deployment_with_its_cron_timezone_and_parameters(write_params):
    from prefect.server.schemas.schedules import CronSchedule

    from flows.schedule import deployments

    params = load_params(write_params({"diagnosis": {"schedule": WEEKLY}}, keep_families=("diagnosis", "progression")))
    (deployment,) = deployments(params)  # progression has no schedule: no deployment
    assert deployment.name == "retrain-diagnosis"
    assert deployment.parameters == {"family_name": "diagnosis", "params_path": str(params.path), "started_by": "schedule 0 3 * * 1 (Europe/Berlin)"}
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * 1", "Europe/Berlin")
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    dates = asyncio.run(CronSchedule(cron=schedule.schedule.cron, timezone=schedule.schedule.timezone).get_dates(n=3, start=start))
    local = [d.astimezone(ZoneInfo("Europe/Berlin")) for d in dates]
    assert [(d.weekday(), d.hour, d.minute) for d in local] == [(0, 3, 0)] * 3 and local[0].date().isoformat() == "2026-12-07"


@pytest.mark.parametrize(("schedule", "named"), [({"cron": "every monday"}, "cron"), ({"cron": "0 3 * * 1", "timezone": "Mars/Olympus"}, "timezone"),
                                                 ({"timezone": "UTC"}, "cron")])
def test_a_bad_schedule_is_a_config_error_naming_the_key(write_params, schedule, named):
    with pytest.raises(ConfigError, match=rf"diagnosis.schedule.*{named}|{named}"):
        load_params(write_params({"diagnosis": {"schedule": schedule}}))


def test_medmaas_schedule_refuses_without_a_prefect_server(write_params):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = subprocess.run([MEDMAAS, "schedule", "--params", str(write_params({"diagnosis": {"schedule": WEEKLY}}))],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "medmaas up" in result.stderr and "temporary API cannot run schedules" in result.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("servers")
def test_a_scheduled_run_on_a_real_server_registers_a_challenger_that_says_what_started_it(tmp_path, write_params):
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "PREFECT_HOME")}
    env.update(MEDMAAS_STATE_DIR=str(state), MEDMAAS_OUTPUT_DIR=str(tmp_path / "out"))
    mlflow_port = free_port()
    params = write_params({"diagnosis": {"schedule": WEEKLY, "candidates": Replace({"logistic_regression": {"C": [0.1]}})}})
    up = subprocess.run([MEDMAAS, "up", "--prefect-port", str(free_port()), "--mlflow-port", str(mlflow_port)], cwd=PROJECT_ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    served = subprocess.Popen([MEDMAAS, "schedule", "--params", str(params)], cwd=PROJECT_ROOT, env=env, start_new_session=True,
                              stdout=open(tmp_path / "schedule.log", "w"), stderr=subprocess.STDOUT)
    try:
        run_once = ("import medmaas, sys\nfrom prefect.deployments import run_deployment\n"
                    "run = run_deployment('train-family/retrain-diagnosis', timeout=300)\nprint(run.state.type.value)")
        deadline = time.monotonic() + 120
        while True:  # until `serve` has registered the deployment
            ran = subprocess.run([sys.executable, "-c", run_once], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=400)
            if ran.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert ran.returncode == 0 and ran.stdout.strip().endswith("COMPLETED"), ran.stderr[-2000:] + (tmp_path / "schedule.log").read_text()[-2000:]
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
        subprocess.run([MEDMAAS, "down"], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=120)
