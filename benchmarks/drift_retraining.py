"""From a drift event to a promoted retrained version, on real servers: how long a model stays stale once drift is seen.

    python benchmarks/drift_retraining.py [--family diagnosis]

In a temporary state: `medmaas up`, one manual training (v1), `medmaas schedule` serving the
retraining deployment and its drift trigger, then `medmaas monitor` on WDBC rows with one feature
scaled by 1.4. Prints the seconds from the event to the retraining run's start, to the new
version's registration and to its promotion (or rejection), then stops everything.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MEDMAAS = str(Path(sys.executable).parent / "medmaas")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="medmaas-drift-"))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "PREFECT_HOME")}
    env |= {"MEDMAAS_STATE_DIR": str(work / "state"), "MEDMAAS_OUTPUT_DIR": str(work / "out")}
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params = {
        "project": params["project"],
        "diagnosis": {**params["diagnosis"], "monitoring": {"schedule": {"cron": "0 4 * * *"}}},
    }
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    shifted = pd.read_csv(ROOT / "data/raw/wdbc.csv").drop(columns=["diagnosis"]).sample(150, random_state=3)
    shifted["mean_texture"] *= 1.4
    shifted.to_csv(work / "shifted.csv", index=False)
    mlflow_port = free_port()

    def medmaas(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([MEDMAAS, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)

    medmaas("up", "--prefect-port", str(free_port()), "--mlflow-port", str(mlflow_port))
    served = None
    try:
        assert medmaas("train", "diagnosis", "--params", str(work / "params.yaml")).returncode == 0
        served = subprocess.Popen(
            [MEDMAAS, "schedule", "--params", str(work / "params.yaml")],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(20)
        checked = medmaas("monitor", "diagnosis", str(work / "shifted.csv"), "--params", str(work / "params.yaml"))
        sent = time.time()
        event = re.search(r"medmaas\.drift\.detected (\S+) sent", checked.stdout)
        print(
            f"monitor: exit {checked.returncode}, {'event ' + event.group(1) if event else 'no event'}, "
            f"{time.time() - sent:.1f} s after its report"
        )
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{mlflow_port}")
        while time.time() - sent < 900:
            versions = client.search_model_versions("name='diagnosis'")
            new = [v for v in versions if v.version == "2"]
            if new and "promotion" in new[0].tags:
                registered = new[0].creation_timestamp / 1000 - sent
                print(f"event -> version 2 registered: {registered:.1f} s")
                print(
                    f"event -> version 2 {new[0].tags['promotion']} (tag written): {time.time() - sent:.1f} s (polled "
                    "every 2 s)"
                )
                print(f"version 2 started_by: {new[0].tags.get('started_by')}")
                break
            time.sleep(2)
    finally:
        if served is not None and served.poll() is None:
            os.killpg(served.pid, signal.SIGTERM)
        medmaas("down")


if __name__ == "__main__":
    main()
