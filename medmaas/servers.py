"""`medmaas up`: a Prefect server and an MLflow tracking server on loopback, as background processes.

Without them everything runs on the embedded defaults (MLflow on SQLite in-process, Prefect's temporary
API started by each flow). With them, their URLs are written to ``.medmaas/servers.json`` and
``medmaas.environment`` picks them up at import (an explicit ``PREFECT_API_URL`` or
``MLFLOW_TRACKING_URI`` still wins). Schedules need the real Prefect server; the temporary API cannot
run them. The MLflow server keeps the same SQLite store, so the registry carries on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from medmaas.environment import CLIENT_VARIABLES, MLFLOW_DIR, SERVERS_FILE, STATE_DIR, group_alive

READY_TIMEOUT_S = 120


def answers(health_url: str, timeout_s: float = 2) -> bool:
    """Whether a server's health check answers 200."""
    try:
        with urllib.request.urlopen(health_url, timeout=timeout_s) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):  # ValueError: not a URL at all
        return False


@dataclass(frozen=True)
class RunningServer:
    name: str
    pid: int
    url: str  # what clients are pointed at
    health_url: str
    log: str

    def alive(self) -> bool:
        return group_alive(self.pid)

    def healthy(self) -> bool:
        return answers(self.health_url)


class ServersError(RuntimeError):
    """`medmaas up` could not start what it was asked to; the message says why (and where the log is)."""


def recorded() -> list[RunningServer]:
    if not SERVERS_FILE.is_file():
        return []
    return [RunningServer(**entry) for entry in json.loads(SERVERS_FILE.read_text())]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _commands(prefect_port: int, mlflow_port: int) -> dict[str, tuple[list[str], str, str]]:
    """name -> (command, client URL, health URL); both on loopback, their state under .medmaas/."""
    bin_dir = Path(sys.executable).parent
    return {
        "prefect": (
            [
                str(bin_dir / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(prefect_port),
                "--no-ui",
                "--analytics-off",
            ],
            f"http://127.0.0.1:{prefect_port}/api",
            f"http://127.0.0.1:{prefect_port}/api/health",
        ),
        "mlflow": (
            [
                str(bin_dir / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}",
                "--artifacts-destination",
                str(MLFLOW_DIR / "artifacts"),
                "--serve-artifacts",
            ],
            f"http://127.0.0.1:{mlflow_port}",
            f"http://127.0.0.1:{mlflow_port}/health",
        ),
    }


def start(
    prefect_port: int = 4200, mlflow_port: int = 5000, progress: Callable[[str], object] = print
) -> list[RunningServer]:
    """Start both servers (or leave the ones already running), wait for their health checks, record them."""
    already = {s.name: s for s in recorded() if s.alive()}
    started: list[RunningServer] = []
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_VARIABLES.values()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    (STATE_DIR / "logs").mkdir(parents=True, exist_ok=True)
    try:
        for name, (command, url, health) in _commands(prefect_port, mlflow_port).items():
            if name in already:
                progress(f"{name}: already running at {already[name].url}")
                continue
            port = int(url.split(":")[2].split("/")[0])
            if not _port_free(port):
                raise ServersError(f"{name}: port {port} is taken on 127.0.0.1; choose another with --{name}-port")
            log = STATE_DIR / "logs" / f"{name}-server.log"
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    command,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            server = RunningServer(name, process.pid, url, health, str(log))
            started.append(server)
            progress(f"{name}: starting (pid {process.pid}, log {log}) ...")
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not server.healthy():
                if process.poll() is not None:
                    raise ServersError(f"{name} server exited with code {process.returncode}; see {log}")
                if time.monotonic() > deadline:
                    raise ServersError(f"{name} server not healthy after {READY_TIMEOUT_S} s; see {log}")
                time.sleep(0.5)
            progress(f"{name}: ready at {url}")
    except BaseException:
        for server in started:  # nothing half-started is left behind, nothing is recorded
            _stop(server)
        raise
    servers = [*already.values(), *started]
    SERVERS_FILE.parent.mkdir(parents=True, exist_ok=True)
    SERVERS_FILE.write_text(json.dumps([asdict(s) for s in servers], indent=1))
    return servers


def _stop(server: RunningServer, grace_s: float = 20) -> None:
    if not server.alive():
        return
    os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while server.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if server.alive():
        os.killpg(server.pid, signal.SIGKILL)


def stop() -> list[RunningServer]:
    """Stop exactly the processes `up` recorded (their whole process groups) and forget them."""
    servers = recorded()
    for server in servers:
        _stop(server)
    SERVERS_FILE.unlink(missing_ok=True)
    return servers
