"""Load on every service, keys and audit on: N clients for S seconds per endpoint, on loopback only.

    python benchmarks/load_services.py [--clients 32] [--seconds 60] [--services diagnosis prognosis ...]

Needs the champions of `make pipeline` in the registry. Each service runs under `bentoml serve` in its own process group
with a throwaway API key and is stopped after its endpoints; requests are real patients' rows from data/raw (features
only). Prints req/s, p50, p99 and the count of non-200 answers per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from loadgen import BIN, free_port, load, server_env, start, stop, throwaway_key  # noqa: E402

import medmaas  # noqa: E402,F401
from medmaas.environment import PROJECT_ROOT  # noqa: E402

RAW = PROJECT_ROOT / "data" / "raw"
MARKERS = ["bili", "albumin", "alk_phos", "ast", "platelet", "protime", "edema", "ascites", "hepato", "spiders"]


def _records(file: str, drop: list[str], n: int = 200) -> list[dict]:
    return pd.read_csv(RAW / file).drop(columns=drop).head(n).to_dict("records")


def _histories() -> list[dict]:
    visits = pd.read_csv(RAW / "pbcseq.csv").dropna(subset=MARKERS)
    bodies = []
    for _, patient in list(visits.groupby("patient_id"))[:100]:
        first = patient.iloc[0]
        bodies.append(
            {
                "history": {
                    "age": float(first["age"]),
                    "female": int(first["female"]),
                    "days_ahead": 365,
                    "visits": patient[["day", *MARKERS]].head(5).to_dict("records"),
                }
            }
        )
    return bodies


def workloads() -> dict[str, tuple[str, dict[str, list[dict]]]]:
    """service -> (bentoml target, {route: request bodies})."""
    reviews = pd.read_csv(RAW / "drug_reviews.csv")
    return {
        "diagnosis": (
            "serving.diagnosis:DiagnosisService",
            {"predict": [{"patients": [p]} for p in _records("wdbc.csv", ["patient_id", "diagnosis"])]},
        ),
        "progression": (
            "serving.progression:ProgressionService",
            {
                "predict": [{"patients": [p]} for p in _records("diabetes.csv", ["patient_id", "progression"])],
                "predict_next": _histories(),
            },
        ),
        "prognosis": (
            "serving.prognosis:PrognosisService",
            {"predict": [{"patients": [p]} for p in _records("gbsg2.csv", ["patient_id", "days", "event"])]},
        ),
        "recommendation": (
            "serving.recommendation:RecommendationService",
            {"recommend": [{"patient_id": str(p), "k": 10} for p in reviews.iloc[:, 0].unique()[:100]]},
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--services", nargs="+", default=list(workloads()))
    args = parser.parse_args()
    key_env, headers = throwaway_key()
    rows = []
    for service, (target, routes) in workloads().items():
        if service not in args.services:
            continue
        port = free_port()
        server, cold = start(
            [str(BIN / "bentoml"), "serve", target, "--host", "127.0.0.1", "--port", str(port)],
            f"http://127.0.0.1:{port}/readyz",
            PROJECT_ROOT,
            server_env(**key_env),
        )
        try:
            for route, bodies in routes.items():
                measured = asyncio.run(
                    load(f"http://127.0.0.1:{port}/{route}", bodies, args.clients, headers, args.seconds)
                )
                rows.append(
                    {"service": service, "endpoint": route, "clients": args.clients, "cold start s": cold, **measured}
                )
                print(rows[-1], flush=True)
        finally:
            stop(server)
    print(pd.DataFrame(rows).drop(columns=["seconds"]).to_markdown(index=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()
