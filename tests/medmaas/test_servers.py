"""`medmaas up / status / down`: real Prefect and MLflow servers on free loopback ports, used by a flow, then
stopped."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import Replace, free_port, own_state_env, run_to_end

from medmaas.environment import PROJECT_ROOT, group_alive

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("servers")]
MEDMAAS = str(Path(sys.executable).parent / "medmaas")


def _run(args: list[str], env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return run_to_end(
        args,
        waiting_for=" ".join(Path(args[0]).name if i == 0 else a for i, a in enumerate(args[:2])),
        timeout_s=timeout,
        cwd=PROJECT_ROOT,
        env=env,
    )


def test_up_serves_flows_from_real_servers_and_down_stops_exactly_them(tmp_path, write_params):
    state = tmp_path / "state"
    env = own_state_env(tmp_path)
    prefect_port, mlflow_port = free_port(), free_port()
    params = write_params({"diagnosis": {"candidates": Replace({"logistic_regression": {"C": [0.1]}})}})
    try:
        started = _run([MEDMAAS, "up", "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port)], env)
        assert started.returncode == 0, started.stderr
        recorded = json.loads((state / "servers.json").read_text())
        assert {s["name"]: s["url"] for s in recorded} == {
            "prefect": f"http://127.0.0.1:{prefect_port}/api",
            "mlflow": f"http://127.0.0.1:{mlflow_port}",
        }
        # every command of the project now points at them (an explicit variable would still win)
        seen = _run(
            [
                sys.executable,
                "-c",
                "import os, medmaas; print(os.environ['PREFECT_API_URL'], os.environ['MLFLOW_TRACKING_URI'])",
            ],
            env,
        )
        assert seen.stdout.split() == [f"http://127.0.0.1:{prefect_port}/api", f"http://127.0.0.1:{mlflow_port}"]
        # a flow runs against the Prefect server (no temporary API) and registers in the MLflow server
        trained = _run([MEDMAAS, "train", "diagnosis", "--params", str(params)], env, timeout=600)
        assert trained.returncode == 0, trained.stderr[-2000:]
        assert "Starting temporary server" not in trained.stdout + trained.stderr
        assert f"127.0.0.1:{prefect_port}/runs/flow-run/" in trained.stdout + trained.stderr
        from mlflow.tracking import MlflowClient

        assert (
            MlflowClient(tracking_uri=f"http://127.0.0.1:{mlflow_port}")
            .get_registered_model("diagnosis")
            .aliases["champion"]
            == "1"
        )
        # up again leaves them; a second project on the same ports gets a clear error and records nothing
        assert (
            "already running"
            in _run([MEDMAAS, "up", "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port)], env).stdout
        )
        other = {**env, "MEDMAAS_STATE_DIR": str(tmp_path / "other")}
        clash = _run([MEDMAAS, "up", "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port)], other)
        assert (
            clash.returncode == 1
            and f"port {prefect_port} is taken" in clash.stderr
            and not (tmp_path / "other" / "servers.json").exists()
        )
        status = _run([MEDMAAS, "status"], env).stdout
        assert "healthy" in status  # and a link to the trained family's runs in the UI's model-training view
        assert (
            f"diagnosis runs: http://127.0.0.1:{mlflow_port}/#/experiments/" in status
            and "workflowType=machine_learning" in status
        )
    finally:
        stopped = _run([MEDMAAS, "down"], env)
    assert stopped.returncode == 0 and "stopped prefect" in stopped.stdout and "stopped mlflow" in stopped.stdout
    assert not any(group_alive(s["pid"]) for s in recorded) and not (state / "servers.json").exists()
    assert "embedded defaults" in _run([MEDMAAS, "status"], env).stdout


def test_down_with_nothing_recorded_says_so(tmp_path):
    env = {**os.environ, "MEDMAAS_STATE_DIR": str(tmp_path)}
    assert "no servers were running" in _run([MEDMAAS, "down"], env).stdout


def test_after_its_servers_are_killed_status_says_gone_and_up_starts_them_again_on_the_same_ports(tmp_path):
    import signal
    import time

    state = tmp_path / "state"
    env = own_state_env(tmp_path)
    ports = ["--prefect-port", str(free_port()), "--mlflow-port", str(free_port())]
    try:
        assert _run([MEDMAAS, "up", *ports], env).returncode == 0
        killed = json.loads((state / "servers.json").read_text())
        for server in killed:  # a crash: SIGKILL to each whole process group, pid file and ports left behind
            os.killpg(server["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(group_alive(s["pid"]) for s in killed) and time.monotonic() < deadline:
            time.sleep(0.5)  # the kernel and init reap them
        status = _run([MEDMAAS, "status"], env).stdout
        assert status.count("gone (run `medmaas down`, then `up`)") == 2, status
        again = _run([MEDMAAS, "up", *ports], env)
        assert again.returncode == 0, again.stderr
        restarted = json.loads((state / "servers.json").read_text())
        assert {s["url"] for s in restarted} == {s["url"] for s in killed}
        assert {s["pid"] for s in restarted}.isdisjoint(s["pid"] for s in killed)
        assert _run([MEDMAAS, "status"], env).stdout.count("healthy") == 2
    finally:
        _run([MEDMAAS, "down"], env)


def test_machines_sharing_one_prefect_server_train_a_model_one_at_a_time(tmp_path, write_params):
    # two machines: each its own state folder (so its own file locks), one Prefect server and one MLflow registry
    import signal

    from support import wait_for

    env = own_state_env(tmp_path)
    ports = ["--prefect-port", str(free_port()), "--mlflow-port", str(free_port())]
    params = write_params({"diagnosis": {"candidates": Replace({"logistic_regression": {"C": [0.1]}})}})
    try:
        assert _run([MEDMAAS, "up", *ports], env).returncode == 0
        shared = {s["name"]: s["url"] for s in json.loads((tmp_path / "state" / "servers.json").read_text())}
        machine = {
            n: {**env, "PREFECT_API_URL": shared["prefect"], "MLFLOW_TRACKING_URI": shared["mlflow"]}
            | {"MEDMAAS_STATE_DIR": str(tmp_path / n)}
            for n in ("a", "b")
        }
        holding = (
            "import medmaas, time\nfrom tasks.concurrency import training_slot\n"
            "with training_slot('diagnosis'):\n    print('held', flush=True)\n    time.sleep(600)"
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", holding], cwd=PROJECT_ROOT, env=machine["a"], stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"  # machine a trains
        refused = _run([MEDMAAS, "train", "diagnosis", "--params", str(params)], machine["b"], timeout=600)
        assert refused.returncode == 0, refused.stderr[-2000:]
        assert "coalesced into the training already running" in refused.stdout
        assert "Prefect concurrency limit medmaas-train-diagnosis" in refused.stdout
        assert "Traceback" not in refused.stdout + refused.stderr and "failed to process" not in refused.stderr
        from mlflow.tracking import MlflowClient

        assert not MlflowClient(tracking_uri=shared["mlflow"]).search_registered_models()  # b registered nothing

        holder.send_signal(signal.SIGKILL)  # machine a loses power: its slot's lease runs out by itself
        holder.wait()
        probe = (
            "import medmaas\nfrom medmaas.crash_safety import TrainingInProgress\n"
            "from tasks.concurrency import training_slot\n"
            "try:\n    with training_slot('diagnosis'): print('free')\nexcept TrainingInProgress: print('held')"
        )
        wait_for(
            lambda: _run([sys.executable, "-c", probe], machine["b"]).stdout.strip() == "free",
            waiting_for="machine a's slot to be freed after its lease",
            timeout_s=240,
            every_s=10,
        )
    finally:
        _run([MEDMAAS, "down"], env)
