"""CDS Hooks latency: an EHR's patient-view calls, 8 at a time, against a tabular service on loopback.

    python benchmarks/cds_latency.py [--family diagnosis|prognosis|progression] [--calls 400] [--concurrency 8]
                                     [--workers 1]

Runs in a temporary state (the repo's registry is not touched): trains the family's model with its CDS block (diagnosis:
the birthwt example, examples/birthwt.yaml; prognosis and progression: the bundled blocks of params.yaml, on GBSG2 and
the diabetes data), each with its default candidates, serves it with `bentoml serve` and an EHR registered by a JWKS
made here (ES384), and sends hook calls with the tests' FHIR record for that model, each with its own signed JWT
(signed before the clock starts). Prints the latency per call (p50, p95, max) for the CDS route, the same route with
an API key instead of a JWT, and /explain with the same patient as raw values, then the discovery document, the first
card, /metrics after the load and the trace of the first call.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]
from loadgen import free_port, server_env, start_bento, stop, temporary_state, throwaway_key  # noqa: E402
from support import otlp_collector, spans_received  # noqa: E402

STATE = temporary_state("medmaas-cds-")
ISSUER, AUDIENCE = "https://ehr.example.org", "https://cds.example.org"


def ehr_jwks() -> tuple[object, Path]:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    path = STATE / "jwks.json"
    path.write_text(json.dumps({"keys": [public | {"kid": "ehr-1", "alg": "ES384", "use": "sig"}]}))
    return key, path


@dataclass(frozen=True)
class Target:
    service: str  # module:class
    record: str  # the prefetch builder in tests/fhir_records.py
    values: str  # the same patient as raw values


TARGETS = {
    "diagnosis": Target("serving.diagnosis:DiagnosisService", "mother", "MOTHER_AS_VALUES"),
    "prognosis": Target("serving.prognosis:PrognosisService", "breast_cancer_record", "BREAST_CANCER_AS_VALUES"),
    "progression": Target("serving.progression:ProgressionService", "diabetes_record", "DIABETES_AS_VALUES"),
}


def trained_params(family: str, jwks: Path, otlp_endpoint: str) -> Path:
    from families import family_class

    if family == "diagnosis":
        params = yaml.safe_load((ROOT / "examples" / "birthwt.yaml").read_text())
        data = family_class(family).export_bundled(STATE / "wdbc.csv").parent / "birthwt.csv"
    else:
        bundled = yaml.safe_load((ROOT / "params.yaml").read_text())
        params = {"project": bundled["project"], family: bundled[family]}
        data = family_class(family).export_bundled(STATE / f"{family}.csv")
    block = params[family]
    block["data"]["path"] = str(data)
    block["serving"]["cds_hooks"] |= {"audience": AUDIENCE, "clients": [{"iss": ISSUER, "jwks_path": str(jwks)}]}
    block["serving"]["tracing"] = {"otlp_endpoint": otlp_endpoint}
    path = STATE / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    trained = subprocess.run([sys.executable, "-m", "flows.train", family, "--params", str(path)], cwd=ROOT)
    assert trained.returncode == 0, f"training the {family} model failed"
    return path


def print_tree(spans: list) -> None:
    """The first request's spans as a tree: name, duration, attributes."""
    calls = sorted((s for s in spans if s.name.startswith("POST /cds")), key=lambda s: s.start_time_unix_nano)
    request = calls[0]
    children: dict[bytes, list] = {}
    for span in spans:
        if span.trace_id == request.trace_id:
            children.setdefault(span.parent_span_id, []).append(span)

    def show(span, depth: int) -> None:
        attributes = ", ".join(f"{a.key}={_value(a.value)}" for a in span.attributes)
        took = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
        print(f"  {'  ' * depth}{span.name} ({took:.1f} ms) {attributes}")
        for child in sorted(children.get(span.span_id, []), key=lambda s: s.start_time_unix_nano):
            show(child, depth + 1)

    show(request, 0)


def _value(value) -> object:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else ""


def timed(calls: list[tuple[str, dict, dict]], concurrency: int) -> tuple[list[float], list[int]]:
    import httpx

    def one(call: tuple[str, dict, dict]) -> tuple[float, int]:
        url, body, headers = call
        started = time.perf_counter()
        status = httpx.post(url, json=body, headers=headers, timeout=60).status_code
        return time.perf_counter() - started, status

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, calls))
    return [r[0] * 1000 for r in results], [r[1] for r in results]


def summary(name: str, latencies: list[float], statuses: list[int]) -> str:
    import numpy as np

    p50, p95 = np.percentile(latencies, [50, 95])
    ok = sum(s == 200 for s in statuses)
    return f"| {name} | {len(latencies)} | {ok} | {p50:.0f} | {p95:.0f} | {max(latencies):.0f} |"


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(TARGETS), default="diagnosis")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    key, jwks = ehr_jwks()
    with otlp_collector() as (endpoint, received):
        measure(args, key, trained_params(args.family, jwks, endpoint), received)


def measure(args: argparse.Namespace, key: object, params: Path, received: list) -> None:
    import fhir_records
    import httpx
    import jwt
    from fhir_records import PATIENT_ID, hook_request

    target = TARGETS[args.family]
    cds_id = yaml.safe_load(params.read_text())[args.family]["serving"]["cds_hooks"]["id"]
    key_env, key_headers = throwaway_key()
    port = free_port()
    env = server_env(
        MEDMAAS_PARAMS=str(params), BENTOML_CONFIG_OPTIONS=f"services.{args.family}.workers={args.workers}", **key_env
    )
    server, cold = start_bento(target.service, port, ROOT, env)
    base, route = f"http://127.0.0.1:{port}", f"/cds-services/{cds_id}"
    try:
        body = hook_request(getattr(fhir_records, target.record)())
        now = int(time.time())
        tokens = [
            jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE + route, "exp": now + 900, "iat": now, "jti": uuid.uuid4().hex},
                key,
                algorithm="ES384",
                headers={"kid": "ehr-1"},
            )
            for _ in range(args.calls)
        ]
        discovered = httpx.get(base + "/cds-services", headers=key_headers, timeout=60).json()
        first = httpx.post(base + route, json=body, headers={"Authorization": f"Bearer {tokens.pop()}"}, timeout=60)
        patient = getattr(fhir_records, target.values)
        runs = {
            "CDS hook, ES384 JWT": [(base + route, body, {"Authorization": f"Bearer {t}"}) for t in tokens],
            "CDS hook, API key": [(base + route, body, key_headers)] * len(tokens),
            "/explain, API key": [(base + "/explain", {"patient": patient}, key_headers)] * len(tokens),
        }
        print(
            f"{args.family}: service ready in {cold:.1f} s; {args.concurrency} concurrent callers, loopback, 2 cores, "
            f"{args.workers} worker(s)\n"
        )
        print("| route | calls | 200 | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|---|")
        for name, calls in runs.items():
            print(summary(name, *timed(calls, args.concurrency)))
        card = first.json()["cards"][0]
        assert PATIENT_ID not in first.text
        print(f"\ndiscovery:\n{json.dumps(discovered, indent=2)}")
        print(f"\nfirst card ({first.status_code}):\n{json.dumps(card, indent=2)}")
        print("\n/metrics after the load (the CDS route's series, predictions, the champion):")
        metrics = httpx.get(base + "/metrics", headers=key_headers, timeout=60)
        assert metrics.status_code == 200, f"/metrics answered {metrics.status_code}: {metrics.text[:300]}"
        scraped = metrics.text.splitlines()
        for line in scraped:
            if line.startswith(("medmaas_requests_total", "medmaas_predictions_total", "medmaas_model_info")) or (
                "cds-services" in line and "_bucket" in line and ('le="0.5"' in line or 'le="1.0"' in line)
            ):
                print(" ", line)
        print("\ntrace of the first call (OTLP, as a collector received it):")
        deadline = time.monotonic() + 30  # the service's batch exporter sends every few seconds
        while not any(s.name.startswith("POST /cds") for s in spans_received(received)) and time.monotonic() < deadline:
            time.sleep(1)
        print_tree(spans_received(received))
    finally:
        stop(server)


if __name__ == "__main__":
    main()
