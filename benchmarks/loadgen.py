"""What the serving benchmarks share: servers on loopback in their own process groups, a throwaway API key,
and an asyncio HTTP load generator (httpx) with N concurrent clients.

The servers get the virtualenv's bin/ on PATH (`mlflow models serve` starts `uvicorn` from PATH), so the
scripts run with the venv's python alone, activated or not.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


def throwaway_key() -> tuple[dict[str, str], dict[str, str]]:
    """(environment for a server, headers for its clients): a key in a temporary keys file, gone with it."""
    from medmaas.access import KeyStore

    path = Path(tempfile.mkdtemp(prefix="medmaas-bench-")) / "api_keys.json"
    secret = KeyStore(path).create("benchmark")
    return {"MEDMAAS_API_KEYS": str(path)}, {"Authorization": f"Bearer {secret}"}


def start(
    command: list[str], ready_url: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, float]:
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=cwd, env=env or server_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    while time.monotonic() - started < 240:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited; see {log.name}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return process, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop(process)
    raise TimeoutError(f"{command} not ready; see {log.name}")


def start_bento(target: str, port: int, cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    """`bentoml serve <target>` on loopback, ready (its /readyz answers); returns it and its cold start in seconds."""
    command = [str(BIN / "bentoml"), "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    return start(command, f"http://127.0.0.1:{port}/readyz", cwd, env)


def temporary_state(prefix: str) -> Path:
    """Before medmaas is imported: a temporary state, outputs, registry and Prefect home (the repo's stay untouched)."""
    state = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ |= {
        "MEDMAAS_STATE_DIR": str(state / "state"),
        "MEDMAAS_OUTPUT_DIR": str(state / "out"),
        "PREFECT_HOME": str(state / "state" / "prefect"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'state' / 'mlflow' / 'mlflow.db'}",
    }
    return state


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Upload:
    """A multipart body: (field, (file name, bytes)) pairs, sent as a form instead of JSON."""

    files: list[tuple[str, tuple[str, bytes]]]


async def load(
    url: str, bodies: list[dict | Upload], concurrency: int, headers: dict | None = None, seconds: float | None = None
) -> dict:
    """Send ``bodies`` (cycled when ``seconds`` bounds the run instead) with ``concurrency`` clients; errors are
    counted, not raised."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=60, headers=headers) as client:

        async def worker():
            nonlocal sent, errors
            while True:
                if (
                    seconds is None
                    and sent >= len(bodies)
                    or seconds is not None
                    and time.perf_counter() - started >= seconds
                ):
                    return
                body = bodies[sent % len(bodies)]
                sent += 1
                t = time.perf_counter()
                try:
                    response = await (
                        client.post(url, files=body.files) if isinstance(body, Upload) else client.post(url, json=body)
                    )
                    errors += response.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    lat = np.asarray(latencies)
    return {
        "requests": len(lat),
        "seconds": elapsed,
        "req/s": len(lat) / elapsed,
        "p50 ms": float(np.percentile(lat, 50) * 1000),
        "p99 ms": float(np.percentile(lat, 99) * 1000),
        "errors": errors,
    }
