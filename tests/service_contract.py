"""What every service promises, checked the same way on each running server: keys, audit, and a fuzz
from its own OpenAPI schema (no server error, nothing the client sent repeated back)."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter

import httpx
from support import Server, api_key, wait_for

from medmaas.access import KeyStore
from medmaas.environment import STATE_DIR
from medmaas.settings import LEARNED_FROM_TRAINING

OPEN = ("healthz", "livez", "readyz")


def routes(server: Server) -> list[str]:
    schema = server.get("docs.json").json()
    return sorted(
        path.lstrip("/") for path, item in schema["paths"].items() if "post" in item and path.lstrip("/") not in OPEN
    )


def assert_keys_required(server: Server, sample_route: str = "model_info", sample_body: dict | None = None) -> None:
    """401 with WWW-Authenticate on every route without a key, with a wrong one and with a revoked one; probes stay
    open, and so do the service's page and its schema, which then holds no value learned from training data."""
    page = httpx.get(f"{server.url}/", timeout=30)
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text and "googletagmanager" not in page.text
    anonymous, whole = httpx.get(f"{server.url}/docs.json", timeout=30).json(), server.get("docs.json").json()
    assert anonymous["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer" and set(
        anonymous["paths"]
    ) == set(whole["paths"])
    assert not _learned_values(anonymous) and (_learned_values(whole) or LEARNED_FROM_TRAINING not in json.dumps(whole))
    for route in routes(server):
        for headers in ({}, {"Authorization": "Bearer mm_not-a-key"}, {"Authorization": f"Basic {api_key()}"}):
            answer = server.post(route, {}, headers=headers)
            assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer"), (
                route,
                answer.status_code,
            )
            assert "mm_not-a-key" not in answer.text
    for probe in OPEN:
        assert httpx.get(f"{server.url}/{probe}", timeout=30).status_code == 200, probe
    assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 401  # a scraper needs a key too
    name = f"revoked-{os.getpid()}-{len(KeyStore().read())}"
    secret = KeyStore().create(name)
    assert (
        server.post(sample_route, sample_body or {}, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    )
    KeyStore().revoke(name)
    assert (
        server.post(sample_route, sample_body or {}, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )


def _learned_values(node) -> list:
    """The enums and examples of schema fields marked as learned from training data."""
    if isinstance(node, list):
        return [v for item in node for v in _learned_values(item)]
    if not isinstance(node, dict):
        return []
    found = [
        node[k]
        for k in ("enum", "examples", "example", "const", "default")
        if node.get(LEARNED_FROM_TRAINING) and k in node
    ]
    return found + [v for value in node.values() for v in _learned_values(value)]


def audit_lines(service: str) -> list[dict]:
    path = STATE_DIR / "audit" / f"{service}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _settled_line_count(service: str, quiet_s: float = 2.0, timeout_s: float = 60) -> int:
    """The audit file's line count once no line has arrived for ``quiet_s``."""
    deadline = time.monotonic() + timeout_s
    count = len(audit_lines(service))
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = len(audit_lines(service))
        if now == count:
            return count
        count = now
    return count


def assert_one_audit_line_per_request(
    server: Server, service: str, route: str, body: dict, secret_values: list[str]
) -> None:
    """N requests (good, bad, unauthenticated, a made-up path) -> N new lines naming key, route, model, version, status;
    nothing the client sent (a body value, a path) in them."""
    before = _settled_line_count(
        service
    )  # the guard writes a request's line after its answer has gone out: earlier ones may still come
    made_up_path = secret_values[0].replace(" ", "-")
    statuses = [
        server.post(route, body).status_code,
        server.post(route, {"unknown": secret_values[0]}).status_code,
        server.post(route, body, headers={}).status_code,
        server.post(made_up_path, body).status_code,
    ]
    httpx.get(f"{server.url}/healthz", timeout=30)  # probes are not audited
    wait_for(
        lambda: len(audit_lines(service)) >= before + len(statuses),
        waiting_for=f"{len(statuses)} new lines in the {service} audit log",
        timeout_s=60,
        every_s=0.2,
    )
    _settled_line_count(service)  # and no more than those
    lines = audit_lines(service)[before:]
    assert [line["status"] for line in lines] == statuses == [200, 400, 401, 404]
    assert [line["key"] for line in lines] == ["tests", "tests", None, "tests"]
    assert [line["endpoint"] for line in lines] == [f"/{route}"] * 3 + ["(unknown route)"]
    assert all(line["model"] and line["version"] and line["latency_ms"] >= 0 for line in lines[:3])
    text = json.dumps(lines)
    assert not any(value in text for value in secret_values) and made_up_path not in text


def _strings(value, into: set[str]) -> set[str]:
    """Every key and string value in a generated body."""
    if isinstance(value, dict):
        for key, item in value.items():
            into.add(str(key))
            _strings(item, into)
    elif isinstance(value, list):
        for item in value:
            _strings(item, into)
    elif isinstance(value, str):
        into.add(value)
    return into


def _distinctive(text: str) -> bool:
    """Long enough, and not hex digits alone (a log line's trace ids and times hold those by chance: "000000")."""
    return len(text) >= 8 and not re.fullmatch(r"[0-9a-fA-F\s.:+-]*", text)


def fuzz(server: Server, examples: int = 20, answers_repeat_valid_input: bool = False) -> Counter:
    """Positive and negative cases for every route from the schema; returns the status counts per route.

    Fails on any 5xx, and on any distinctive generated text (a key or a value) that comes back in an answer or
    reaches the server log, unless the schema itself holds it (an allowed category, a field name).
    ``answers_repeat_valid_input``: a 2xx answer may hold what was sent (bioactivity returns the canonical SMILES)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    schema_text = server.get("docs.json").text
    schema = schemathesis.openapi.from_url(f"{server.url}/docs.json", headers=server.headers)
    counts: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.lstrip("/") in OPEN or operation.method.lower() != "post":
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                logged_before = len(server.log_text())
                response = case.call(base_url=server.url, headers=server.headers, timeout=60)
                counts[(operation.path, response.status_code)] += 1
                assert response.status_code < 500, (operation.path, response.status_code, response.text[:300])
                sent = {
                    s
                    for s in _strings(case.body, set())
                    if _distinctive(s) and s not in schema_text and json.dumps(s)[1:-1] not in schema_text
                }
                echoed = [s for s in sent if s in response.text or json.dumps(s)[1:-1] in response.text]
                assert not echoed or (answers_repeat_valid_input and response.status_code < 300), (
                    operation.path,
                    response.status_code,
                    "echoed a generated value",
                )
                logged = server.log_text()[logged_before:]
                assert not [s for s in sent if s in logged], (
                    operation.path,
                    "a generated value reached the server log",
                )

            call()
    return counts


def scraped(server: Server) -> dict[tuple[str, tuple], float]:
    """The service's /metrics as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = server.get("metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain"), answer.status_code
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
