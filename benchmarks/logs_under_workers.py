"""The prediction log and the audit log under several workers: sent vs logged.

    python benchmarks/logs_under_workers.py [--workers 4] [--clients 32] [--seconds 60] [--audit-max-bytes N]

Runs in a temporary state (the repo's registry is not touched): trains diagnosis on the bundled WDBC table (two
candidates), serves its champion with ``bentoml serve`` and N workers (``BENTOML_CONFIG_OPTIONS``), and sends
``predict`` requests of 1 to 3 patients from C clients for S seconds while a reader polls the prediction log as
`medmaas monitor` does. Prints the patients answered vs the rows in the prediction log, the requests answered vs the
audit lines (rotated files included), SQLite's integrity check, and the reader's errors. ``--audit-max-bytes`` small
makes every worker rotate the audit file many times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from loadgen import temporary_state  # noqa: E402

STATE = temporary_state("medmaas-workers-")


def trained_params(audit_max_bytes: int | None) -> tuple[Path, list[dict]]:
    """A params file for a quick diagnosis champion, trained; and request rows (features only)."""
    import pandas as pd

    from families.diagnosis.family import Diagnosis

    data = Diagnosis.export_bundled(STATE / "wdbc.csv")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    block = params["diagnosis"] | {
        "data": params["diagnosis"]["data"] | {"path": str(data)},
        "candidates": {"logistic_regression": {"C": [1.0]}, "decision_tree": {"max_depth": [3]}},
    }
    if audit_max_bytes:
        block["serving"] = block.get("serving", {}) | {"audit_max_bytes": audit_max_bytes}
    path = STATE / "params.yaml"
    path.write_text(yaml.safe_dump({"project": params["project"], "diagnosis": block}, sort_keys=False))
    trained = subprocess.run([sys.executable, "-m", "flows.train", "diagnosis", "--params", str(path)], cwd=ROOT)
    assert trained.returncode == 0, "training the champion failed"
    table = pd.read_csv(data)
    drop = [c for c in table.columns if c in ("id", "patient_id", "diagnosis", "target", "label")]
    return path, table.drop(columns=drop).head(300).to_dict("records")


async def send(url: str, rows: list[dict], clients: int, seconds: float, headers: dict) -> tuple[int, int, int]:
    """(requests answered 200, patients in them, other answers)."""
    import httpx

    answered = patients = other = 0
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60, headers=headers) as client:

        async def one(worker: int) -> None:
            nonlocal answered, patients, other
            i = worker
            while time.perf_counter() - started < seconds:
                size = 1 + i % 3
                body = {"patients": [rows[(i + k) % len(rows)] for k in range(size)]}
                i += clients
                try:
                    response = await client.post(url, json=body)
                except httpx.HTTPError:
                    other += 1
                    continue
                if response.status_code == 200:
                    answered, patients = answered + 1, patients + size
                else:
                    other += 1

        await asyncio.gather(*(one(w) for w in range(clients)))
    return answered, patients, other


def poll(path: Path, stop: threading.Event, seen: dict) -> None:
    """Read the log while it is written, as `medmaas monitor` does (read_log), counting errors."""
    from medmaas.prediction_log import read_log

    while not stop.is_set():
        try:
            if path.exists():
                seen["rows"] = max(seen["rows"], len(read_log("diagnosis").features))
                seen["reads"] += 1
        except Exception as error:  # noqa: BLE001 (counted and shown: the point of the benchmark)
            seen["errors"].append(repr(error)[:200])
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--audit-max-bytes", type=int, default=None)
    args = parser.parse_args()
    from loadgen import free_port, server_env, start_bento, stop, throwaway_key

    from medmaas.environment import STATE_DIR
    from medmaas.prediction_log import log_path

    params, rows = trained_params(args.audit_max_bytes)
    key_env, headers = throwaway_key()
    port = free_port()
    environment = server_env(
        **key_env,
        MEDMAAS_PARAMS=str(params),
        BENTOML_CONFIG_OPTIONS=f"services.diagnosis.workers={args.workers}",
    )
    server, _ = start_bento("serving.diagnosis:DiagnosisService", port, ROOT, environment)
    stop_polling, seen = threading.Event(), {"rows": 0, "reads": 0, "errors": []}
    reader = threading.Thread(target=poll, args=(log_path("diagnosis"), stop_polling, seen))
    reader.start()
    try:
        answered, patients, other = asyncio.run(
            send(f"http://127.0.0.1:{port}/predict", rows, args.clients, args.seconds, headers)
        )
        time.sleep(2)  # the last appends
    finally:
        stop(server)
        stop_polling.set()
        reader.join()
    with sqlite3.connect(log_path("diagnosis")) as connection:
        logged = connection.execute("SELECT COUNT(*) FROM predictions WHERE endpoint = 'predict'").fetchone()[0]
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    audit_files = sorted((STATE_DIR / "audit").glob("*.jsonl*"))
    audit_lines = [json.loads(line) for f in audit_files for line in f.read_text().splitlines() if line.strip()]
    audited = sum(
        1 for line in audit_lines if str(line.get("endpoint", "")).endswith("predict") and line.get("status") == 200
    )
    print(
        f"\n{args.workers} workers, {args.clients} clients, {args.seconds:.0f} s (2 cores shared with the clients)\n"
        f"requests answered 200: {answered} (other answers: {other}); audit lines for them: {audited} "
        f"in {len(audit_files)} file(s)\n"
        f"patients answered: {patients}; prediction-log rows: {logged}; integrity_check: {integrity}\n"
        f"reader during the load: {seen['reads']} reads, most rows seen {seen['rows']}, errors {len(seen['errors'])}"
        + (f" (first: {seen['errors'][0]})" if seen["errors"] else "")
    )


if __name__ == "__main__":
    main()
