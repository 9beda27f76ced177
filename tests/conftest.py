"""Every test session gets its own MLflow store, Prefect home and report folder (never the repo's)."""

import os
import tempfile
from pathlib import Path

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="medmaas-test-"))
os.environ["MEDMAAS_STATE_DIR"] = str(_SESSION_DIR / "state")
os.environ["MEDMAAS_OUTPUT_DIR"] = str(_SESSION_DIR / "output")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_DIR / 'state' / 'mlflow' / 'mlflow.db'}"
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "state" / "prefect")

import copy  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

import medmaas  # noqa: E402, F401
from medmaas.environment import PROJECT_ROOT  # noqa: E402

REPO_PARAMS = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())


class Replace:
    """An override that replaces a block of params.yaml instead of merging into it."""

    def __init__(self, value):
        self.value = value


def merged(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Replace):
            out[key] = value.value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def wdbc_csv(session_dir) -> Path:
    from families.diagnosis.family import Diagnosis

    return Diagnosis.export_bundled(session_dir / "data" / "wdbc.csv")


@pytest.fixture(scope="session")
def diabetes_csv(session_dir) -> Path:
    from families.progression.family import Progression

    return Progression.export_bundled(session_dir / "data" / "diabetes.csv")


@pytest.fixture(scope="session")
def pbcseq_csv(session_dir) -> Path:
    from families.progression_visits.family import ProgressionVisits

    return ProgressionVisits.export_bundled(session_dir / "data" / "pbcseq.csv")


@pytest.fixture(scope="session")
def gbsg2_csv(session_dir) -> Path:
    """GBSG2; the export writes NCCTG lung (ncctg_lung.csv) beside it."""
    from families.prognosis.family import Prognosis

    return Prognosis.export_bundled(session_dir / "data" / "gbsg2.csv")


@pytest.fixture(scope="session")
def drug_reviews_csv(session_dir) -> Path:
    from families.recommendation.family import Recommendation

    return Recommendation.export_bundled(session_dir / "data" / "drug_reviews.csv")


@pytest.fixture(scope="session")
def write_params(session_dir, wdbc_csv, diabetes_csv, pbcseq_csv, gbsg2_csv, drug_reviews_csv):
    """Write a params file: the repo's, pointed at the test's copies of the data, with overrides merged in."""
    counter = iter(range(10_000))
    copies = {"diagnosis": wdbc_csv, "progression": diabetes_csv, "progression_visits": pbcseq_csv, "prognosis": gbsg2_csv,
              "recommendation": drug_reviews_csv}

    def write(overrides: dict | None = None, keep_families: tuple[str, ...] = ("diagnosis",)) -> Path:
        params = {k: v for k, v in REPO_PARAMS.items() if k == "project" or k in keep_families}
        params = merged(params, {name: {"data": {"path": str(copies[name])}} for name in keep_families})
        params = merged(params, overrides or {})
        path = session_dir / f"params-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def registry_snapshot() -> dict:
    """Every registered model's versions and aliases: what a failed run must leave untouched."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    snapshot = {}
    for model in client.search_registered_models():
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{model.name}'"))
        snapshot[model.name] = {"versions": versions, "aliases": dict(model.aliases)}
    return snapshot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`bentoml serve` in its own process group on loopback; stopped with the whole group."""

    def __init__(self, target: str, cwd: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bentoml-", suffix=".log", delete=False)  # a pipe would fill and block it
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "bentoml"), "serve", target, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=cwd, env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        started = time.monotonic()
        while time.monotonic() - started < 180:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    self.cold_start = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError("server not ready in 180 s")

    def post(self, route: str, body=None, content: str | None = None) -> httpx.Response:
        if content is not None:
            return httpx.post(f"{self.url}/{route}", content=content, headers={"content-type": "application/json"}, timeout=30)
        return httpx.post(f"{self.url}/{route}", json=body, timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
