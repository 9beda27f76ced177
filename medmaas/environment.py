"""Embedded defaults: everything runs on a laptop with no server started by hand.

Each value is only a default (``os.environ.setdefault``): pointing ``MLFLOW_TRACKING_URI``
at a tracking server or ``PREFECT_API_URL`` at a Prefect server switches engines without a
code edit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# run state (MLflow store, Prefect home, Bento store) and run outputs (reports/, metrics/);
# both default to the repository and move with an environment variable (tests use temp dirs)
STATE_DIR = Path(os.environ.get("MEDMAAS_STATE_DIR", PROJECT_ROOT / ".medmaas"))
OUTPUT_DIR = Path(os.environ.get("MEDMAAS_OUTPUT_DIR", PROJECT_ROOT))
MLFLOW_DIR = STATE_DIR / "mlflow"
REPORTS_DIR = OUTPUT_DIR / "reports"
METRICS_DIR = OUTPUT_DIR / "metrics"
BUILDING_BENTO = (
    "MEDMAAS_BUILDING_BENTO"  # set while `bentoml build` imports a service: it reads its shape and serves nothing
)
# the registered model whose challenger a Bento is being built for: its Bento is verified before `champion` moves
BUILDING_FOR_CHALLENGER = "MEDMAAS_BUILDING_FOR_CHALLENGER"


SERVERS_FILE = STATE_DIR / "servers.json"  # written by `medmaas up` (medmaas/servers.py)
CLIENT_VARIABLES = {"prefect": "PREFECT_API_URL", "mlflow": "MLFLOW_TRACKING_URI"}


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def servers_environment() -> dict[str, str]:
    """The URLs of the servers `medmaas up` started, if they still run; nothing (embedded defaults) otherwise."""
    try:
        running = [s for s in json.loads(SERVERS_FILE.read_text()) if group_alive(s["pid"])]
    except (OSError, ValueError, TypeError, KeyError):
        return {}
    return {CLIENT_VARIABLES[s["name"]]: s["url"] for s in running if s.get("name") in CLIENT_VARIABLES}


def default_tracking_uri() -> str:
    return f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}"


def apply_embedded_defaults() -> None:
    """Set offline, quiet, project-local defaults unless the user has set them."""
    defaults = {
        "PREFECT_HOME": str(STATE_DIR / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "MLFLOW_TRACKING_URI": default_tracking_uri(),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "BENTOML_HOME": str(STATE_DIR / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GIT_PYTHON_REFRESH": "quiet",
        "MPLBACKEND": "Agg",
    }
    for key, value in {
        **defaults,
        **servers_environment(),
    }.items():  # servers of `medmaas up` replace the embedded ones
        os.environ.setdefault(key, value)
    try:
        MLFLOW_DIR.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only image (a containerised Bento) has no local store to create
        pass
