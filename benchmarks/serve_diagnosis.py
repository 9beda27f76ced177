"""Serving benchmark: the Bento service vs `mlflow models serve` vs in-process, same model version.

    python benchmarks/serve_diagnosis.py [--requests 2000] [--concurrency 1 8 32] [--rows 1]

Needs a diagnosis champion in the registry (`make pipeline`). Both servers run on loopback in
their own process groups and are stopped at the end; the load generator is an asyncio HTTP
client (httpx) with N concurrent clients sending a fixed number of requests. Client and server
share this machine's cores, so absolute figures are lower bounds; the ratios are the point.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from loadgen import BIN, free_port, load, server_env, start, stop, throwaway_key  # noqa: E402

import medmaas  # noqa: E402,F401
from medmaas.environment import PROJECT_ROOT  # noqa: E402


def row(name, clients, n, rows, seconds, latencies) -> dict:
    return {
        "server": name,
        "clients": clients,
        "req/s": n / seconds,
        "rows/s": n * rows / seconds,
        "p50 ms": float(np.percentile(latencies, 50) * 1000),
        "p99 ms": float(np.percentile(latencies, 99) * 1000),
        "errors": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rows", type=int, default=1, help="patients per request")
    args = parser.parse_args()

    key_env, key_headers = throwaway_key()  # keys and the audit log on, as in production
    os.environ.update(key_env)  # the in-process service checks for a key at import too
    import serving.diagnosis as service_module

    champion = service_module.CHAMPION
    features = service_module.FEATURES
    frame = pd.read_csv(PROJECT_ROOT / "data" / "raw" / "wdbc.csv")[features]
    rng = np.random.default_rng(0)
    batches = [frame.iloc[rng.integers(0, len(frame), args.rows)] for _ in range(args.requests)]
    bento_bodies = [{"features": b.to_numpy(dtype=float).tolist()} for b in batches]
    mlflow_bodies = [
        {"dataframe_split": {"columns": features, "data": b.to_numpy(dtype=float).tolist()}} for b in batches
    ]

    results = []
    service = service_module.DiagnosisService()
    arrays = [b.to_numpy(dtype=float) for b in batches]
    latencies = np.zeros(len(arrays))
    started = time.perf_counter()
    for i, array in enumerate(arrays):
        t = time.perf_counter()
        service.predict_array(array)
        latencies[i] = time.perf_counter() - t
    results.append(row("in-process", 1, len(arrays), args.rows, time.perf_counter() - started, latencies))

    def measure(
        name: str, command: list[str], port: int, ready: str, route: str, bodies: list[dict], env=None, headers=None
    ) -> float:
        server, cold = start(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            f"http://127.0.0.1:{port}/{ready}",
            PROJECT_ROOT,
            env,
        )
        try:
            for clients in args.concurrency:
                measured = asyncio.run(load(f"http://127.0.0.1:{port}/{route}", bodies, clients, headers))
                results.append(
                    {
                        "server": name,
                        "clients": clients,
                        **{k: measured[k] for k in ("req/s", "p50 ms", "p99 ms", "errors")},
                        "rows/s": measured["req/s"] * args.rows,
                    }
                )
        finally:
            stop(server)
        return cold

    bento_cold = measure(
        "bento (batching, keys, audit)",
        [str(BIN / "bentoml"), "serve", "serving.diagnosis:DiagnosisService"],
        free_port(),
        "readyz",
        "predict_array",
        bento_bodies,
        server_env(**key_env),
        key_headers,
    )
    mlflow_cold = measure(
        "mlflow models serve",
        [str(BIN / "mlflow"), "models", "serve", "-m", champion.model_uri, "--env-manager", "local", "--workers", "1"],
        free_port(),
        "ping",
        "invocations",
        mlflow_bodies,
    )

    table = pd.DataFrame(results)
    print(
        f"\n{champion.registered_model} v{champion.version} ({champion.info.get('candidate')}), {args.requests} "
        f"requests x {args.rows} rows, {os.cpu_count()} cores"
    )
    print(table.to_markdown(index=False, floatfmt=".1f"))
    in_process = table[table.server == "in-process"]["req/s"].iloc[0]
    print(
        "\n| clients | bento / mlflow (req/s) | bento / in-process (rows/s) | bento p99 / mlflow p99 "
        "|\n|---|---|---|---|"
    )
    for clients in args.concurrency:
        bento = table[(table.server.str.startswith("bento")) & (table.clients == clients)].iloc[0]
        mlflow = table[(table.server == "mlflow models serve") & (table.clients == clients)].iloc[0]
        print(
            f"| {clients} | {bento['req/s'] / mlflow['req/s']:.2f} | {bento['req/s'] / in_process:.3f} | "
            f"{bento['p99 ms'] / mlflow['p99 ms']:.2f} |"
        )
    print(f"\ncold start to ready: bento {bento_cold:.1f} s, mlflow models serve {mlflow_cold:.1f} s")


if __name__ == "__main__":
    main()
