"""MLflow on PostgreSQL, exercised: a throwaway PostgreSQL, `mlflow server` on it, one family's flow, its champion
served."""

import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from support import Replace, Server, free_port, mlflow_server, run_to_end

from medmaas.environment import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("servers")]
MEDMAAS = str(Path(sys.executable).parent / "medmaas")


def _postgres_bin() -> Path | None:
    """Debian keeps every server tool in /usr/lib/postgresql/<version>/bin (only some are linked onto PATH)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@contextmanager
def throwaway_postgres():
    """A cluster in a temporary folder on a free loopback port, trust auth, stopped and deleted after."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL is not installed here (Debian: apt-get install postgresql; .ci/run installs it when it can)"
        )
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses to run as root
    root = Path(tempfile.mkdtemp(prefix="medmaas-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    if as_postgres:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()

    def run(*args):
        done = run_to_end([*as_postgres, *map(str, args)], waiting_for=Path(str(args[0])).name, timeout_s=120)
        assert done.returncode == 0, f"{Path(str(args[0])).name}: {done.stderr[-1000:]}"

    try:
        run(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "medmaas", "--no-sync")
        run(
            bin_dir / "pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            data / "server.log",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "start",
        )
        run(bin_dir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "medmaas", "mlflow")
        yield f"postgresql+psycopg://medmaas@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_a_flow_registers_in_mlflow_on_postgresql_and_its_champion_is_served_from_there(
    tmp_path, write_params, wdbc_csv
):
    with throwaway_postgres() as database:
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        artifacts = ("--artifacts-destination", str(tmp_path / "artifacts"), "--serve-artifacts")
        with mlflow_server(database, tmp_path / "mlflow.log", *artifacts, env=env) as url:
            params = write_params(
                {
                    "diagnosis": {
                        "registered_model": "diagnosis_on_postgres",
                        "candidates": Replace({"logistic_regression": {"C": [0.1]}}),
                    }
                }
            )
            trained = run_to_end(
                [MEDMAAS, "train", "diagnosis", "--params", str(params)],
                waiting_for="medmaas train diagnosis on PostgreSQL",
                timeout_s=600,
                cwd=PROJECT_ROOT,
                env={**env, "MLFLOW_TRACKING_URI": url},
            )
            assert trained.returncode == 0, trained.stderr[-2000:]
            import psycopg

            with psycopg.connect(
                database.replace("postgresql+psycopg", "postgresql")
            ) as connection:  # the registry is in PostgreSQL itself
                rows = connection.execute(
                    "select alias, version from registered_model_aliases where name = 'diagnosis_on_postgres'"
                ).fetchall()
            assert ("champion", 1) in rows
            service = Server(
                "serving.diagnosis:DiagnosisService",
                PROJECT_ROOT,
                env={"MLFLOW_TRACKING_URI": url, "MEDMAAS_PARAMS": str(params)},
            )
            try:
                patient = pd.read_csv(wdbc_csv).drop(columns=["patient_id", "diagnosis"]).iloc[:1].to_dict("records")
                answer = service.post("predict", {"patients": patient})
                assert (
                    answer.status_code == 200
                    and answer.json()[0]["version"] == "1"
                    and answer.json()[0]["model"] == "diagnosis_on_postgres"
                )
            finally:
                service.stop()
