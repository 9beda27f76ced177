"""Helpers the test modules share (fixtures live in conftest.py): params overrides, registry snapshots, a server on
loopback."""

import copy
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest


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


def registry_snapshot() -> dict:
    """Every registered model's versions and aliases: what a failed run must leave untouched."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    snapshot = {}
    for model in client.search_registered_models():
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{model.name}'"))
        snapshot[model.name] = {"versions": versions, "aliases": dict(model.aliases)}
    return snapshot


def own_state_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a process with a state and outputs of its own under ``tmp_path`` (for `medmaas up`): the
    session's registry, Prefect home and keys are not passed on."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "PREFECT_HOME", "MEDMAAS_API_KEYS")
    }
    env.update(MEDMAAS_STATE_DIR=str(tmp_path / "state"), MEDMAAS_OUTPUT_DIR=str(tmp_path / "out"))
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_KEYS: dict[str, str] = {}


def api_key(name: str = "tests") -> str:
    """A key in this test process's keys file (each xdist worker has its own state dir, so its own file)."""
    if name not in _KEYS:
        from medmaas.access import KeyStore

        _KEYS[name] = KeyStore().create(name)
    return _KEYS[name]


def run_to_end(args: list[str], *, waiting_for: str, timeout_s: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` capturing text; past the deadline the test fails naming what it waited for, with the output so
    far.

    Deadlines are generous (at least 3x what the command takes here under ``-n 2``): they catch a hang, never a slow
    machine.
    """
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, **kwargs)
    except subprocess.TimeoutExpired as expired:
        so_far = "".join(
            part.decode(errors="replace") if isinstance(part, bytes) else part
            for part in (expired.stdout or "", expired.stderr or "")
        )
        pytest.fail(f"{waiting_for}: not finished after {timeout_s:.0f} s; its last output:\n{so_far[-3000:]}")


def wait_for(condition, *, waiting_for: str, timeout_s: float, every_s: float = 2.0, explain=lambda: ""):
    """Poll ``condition`` until it returns something truthy (returned); past the deadline the test fails naming what it
    waited for."""
    deadline = time.monotonic() + timeout_s
    while True:
        if found := condition():
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{waiting_for}: not seen after {timeout_s:.0f} s\n{explain()}"[:6000])
        time.sleep(every_s)


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 180) -> float:
    """Seconds until ``url`` answers 200; an error with the log's tail if the process exits first or time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready in {timeout_s:.0f} s: {log.read_text(errors='replace')[-3000:]}")


class Server:
    """`bentoml serve` in its own process group on loopback; stopped with the whole group. Requests carry a valid
    key."""

    def __init__(self, target: str, cwd: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.headers = {"Authorization": f"Bearer {api_key()}"}
        self.log = tempfile.NamedTemporaryFile(
            "w+", prefix="bentoml-", suffix=".log", delete=False
        )  # a pipe would fill and block it
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "bentoml"),
                "serve",
                target,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.cold_start = wait_until_ready(f"{self.url}/readyz", self.process, Path(self.log.name))
        except TimeoutError:
            self.stop()
            raise

    def post(self, route: str, body=None, content: str | None = None, headers: dict | None = None) -> httpx.Response:
        headers = self.headers if headers is None else headers
        if content is not None:
            return httpx.post(
                f"{self.url}/{route}",
                content=content,
                headers={**headers, "content-type": "application/json"},
                timeout=30,
            )
        return httpx.post(f"{self.url}/{route}", json=body, headers=headers, timeout=30)

    def get(self, route: str) -> httpx.Response:
        return httpx.get(f"{self.url}/{route}", headers=self.headers, timeout=30)

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def corrupt(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """WDBC with one kind of fault the gate must catch."""
    frame = frame.copy()
    if kind == "missing column":
        return frame.drop(columns=["mean_area"])
    if kind == "nans beyond the allowed rate":
        frame.loc[frame.index[:60], "mean_texture"] = np.nan  # 10.5% > 5% allowed
    elif kind == "out of range":
        frame.loc[frame.index[3], "mean_radius"] = -4.0
    elif kind == "wrong type":
        frame["worst_area"] = frame["worst_area"].astype(str)
        frame.loc[frame.index[7], "worst_area"] = "n/a"
    elif kind == "unknown label":
        frame.loc[frame.index[5], "diagnosis"] = "maybe"
    elif kind == "duplicated id":
        frame.loc[frame.index[9], "patient_id"] = frame.loc[frame.index[8], "patient_id"]
    return frame


def malformed_dicom(value: bytes, tag: bytes = b"\x28\x00\x30\x00") -> bytes:
    """pydicom's CT_small.dcm with a header field overwritten in place (default: PixelSpacing), as a broken export would
    have it."""
    from pydicom.data import get_testdata_file

    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    start = data.find(tag + b"DS")  # explicit VR little endian: tag, VR, 2-byte length, value
    length = int.from_bytes(data[start + 6 : start + 8], "little")
    return data[: start + 8] + value.ljust(length)[:length] + data[start + 8 + length :]


def chromium():
    """A headless Chromium driven by Selenium, or the test skips naming what is missing. The browser and its driver are
    the system's (Debian's chromium and chromium-driver, which .ci/run installs; a hosted runner's Chrome): Selenium
    must never fetch one."""
    import shutil

    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver") or shutil.which("chromedriver", path=os.environ.get("CHROMEWEBDRIVER", ""))
    if not (browser and driver):
        pytest.skip(
            "browser test: needs a system Chromium and its chromedriver (Debian: apt-get install chromium "
            "chromium-driver); "
            f"found browser={browser}, driver={driver}"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1600,1200",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(driver))


@contextmanager
def mlflow_server(backend_store_uri: str, log: Path, *extra: str, env: dict | None = None) -> Iterator[str]:
    """`mlflow server` on a free loopback port, in its own process group; yields its URL once /health answers, and stops
    the whole group (the server starts worker processes of its own) at the end."""
    port = free_port()
    with open(log, "wb") as out:
        command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", "1", "--backend-store-uri", backend_store_uri, *extra]
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/health", process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """An OTLP/HTTP endpoint on loopback that keeps what it receives: (its URL, [(path, content type, body)])."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.path, self.headers["content-type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/traces", received
    finally:
        server.shutdown()


def spans_received(received: list[tuple[str, str, bytes]]) -> list:
    """The spans in what an OTLP collector received."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return [
        span
        for _, _, body in received
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
