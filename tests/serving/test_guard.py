"""The guard in front of every service, on a stand-in ASGI app: keys, body limit, audit lines, 4xx and log lines
without the client's text. (The real services are checked the same way over HTTP in their own modules.)"""

import asyncio
import json
import logging
import sys

import httpx
import pytest

from medmaas.access import KeyStore
from medmaas.settings import LEARNED_FROM_TRAINING, ServingSettings
from serving.guard import Guard
from serving.redaction import RedactRejectedInputs, SafeLines, without_echo

SPEC = {
    "openapi": "3.0.2",
    "paths": {"/score": {"post": {}}, "/healthz": {"get": {}}},
    "components": {
        "schemas": {
            "Patient": {
                "properties": {
                    "sex": {
                        "enum": ["female", "male"],
                        "examples": ["female"],
                        "type": "string",
                        LEARNED_FROM_TRAINING: True,
                    },
                    "age": {"examples": [61.4], "maximum": 120, "type": "number", LEARNED_FROM_TRAINING: True},
                    "note": {"examples": ["a hand-written example"], "type": "string"},
                }
            }
        }
    },
}


async def _stand_in(scope, receive, send):
    """Echoes the body's size; answers a pydantic-style 400 naming an unknown key, as BentoML does; serves a schema."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/docs.json":
        payload, status = json.dumps(SPEC).encode(), 200
    elif scope["path"] == "/reject":
        payload = json.dumps(
            {
                "error": "1 validation error",
                "detail": [
                    {
                        "type": "extra_forbidden",
                        "loc": ["patients", 0, "Jane Roe"],
                        "msg": "Extra inputs are not permitted",
                        "url": "https://errors",
                    }
                ],
            }
        ).encode()
        status = 400
    else:
        payload, status = json.dumps({"size": len(body)}).encode(), 200
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture
def guarded(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDMAAS_API_KEYS", str(tmp_path / "api_keys.json"))
    monkeypatch.setattr("serving.guard.STATE_DIR", tmp_path)
    secret = KeyStore().create("clinic")
    settings = ServingSettings(max_body_bytes=1000)
    app = Guard(
        _stand_in,
        service_name=f"stand_in_{tmp_path.name}",
        settings=settings,
        models={"/score": ("m", "3"), "/reject": ("m", "3")},
        file_fields={"/score": frozenset({"images"})},
    )

    def request(path, body=b"{}", key=secret, method="POST", through=app, **headers):
        async def go():
            transport = httpx.ASGITransport(app=through)
            async with httpx.AsyncClient(transport=transport, base_url="http://guarded") as client:
                auth = {"authorization": f"Bearer {key}"} if key else {}
                return await client.request(method, path, content=body, headers={**auth, **headers})

        return asyncio.run(go())

    request.wrap = lambda inner: Guard(inner, service_name=f"stand_in_{tmp_path.name}", settings=settings, models={})

    request.audit = lambda: [
        json.loads(line) for line in (tmp_path / "audit" / f"stand_in_{tmp_path.name}.jsonl").read_text().splitlines()
    ]
    request.secret = secret
    request.service = f"stand_in_{tmp_path.name}"
    return request


def test_no_key_a_wrong_key_or_another_scheme_gets_401_with_www_authenticate(guarded):
    for response in (
        guarded("/score", key=None),
        guarded("/score", key="mm_wrong"),
        guarded("/score", key=None, authorization=f"Basic {guarded.secret}"),
    ):
        assert response.status_code == 401 and response.headers["www-authenticate"] == 'Bearer realm="medmaas"'
        assert "Authorization: Bearer" in response.json()["error"]
    assert guarded("/score").json() == {"size": 2}


def test_health_probes_stay_open_and_are_not_audited(guarded):
    assert guarded("/healthz", key=None).status_code == 200
    guarded("/score")
    assert [line["endpoint"] for line in guarded.audit()] == ["/score"]


def test_a_body_over_the_limit_gets_413_before_the_service_reads_it(guarded):
    assert guarded("/score", body=b"x" * 1001).status_code == 413
    assert guarded("/score", body=b"x" * 1000).json() == {"size": 1000}


def test_every_request_is_one_audit_line_with_key_route_model_status_and_latency_only(guarded):
    guarded("/score", body=b'{"name": "Jane Roe"}')
    guarded("/score", key="mm_wrong")
    guarded("/Jane-Roe")
    lines = guarded.audit()
    assert [(line["key"], line["endpoint"], line["status"]) for line in lines] == [
        ("clinic", "/score", 200),
        (None, "/score", 401),
        ("clinic", "(unknown route)", 200),
    ]
    assert lines[0]["model"] == "m" and lines[0]["version"] == "3" and lines[0]["latency_ms"] >= 0
    assert set(lines[0]) == {
        "time",
        "key",
        "method",
        "endpoint",
        "model",
        "version",
        "status",
        "latency_ms",
        "trace_id",
    }
    assert "Jane" not in json.dumps(lines)


def test_an_unknown_field_is_named_by_its_place_never_by_its_key(guarded):
    response = guarded("/reject")
    assert response.status_code == 400 and "Jane" not in response.text
    detail = response.json()["detail"][0]
    assert (
        detail["loc"] == ["patients", 0] and detail["msg"] == "an unknown field at patients[0]" and "url" not in detail
    )
    assert int(response.headers["content-length"]) == len(response.content)


def test_without_echo_leaves_other_answers_alone():
    assert without_echo([{"error": "x"}]) == [{"error": "x"}]
    assert without_echo({"detail": [{"type": "missing", "loc": ["k"], "msg": "Field required"}]})["detail"][0][
        "loc"
    ] == ["k"]
    assert (
        without_echo({"detail": [{"type": "extra_forbidden", "loc": ["name"], "msg": "x"}]})["detail"][0]["msg"]
        == "an unknown field at the top level"
    )


def test_server_log_lines_lose_control_characters_and_are_bounded():
    record = logging.LogRecord("bentoml", logging.INFO, __file__, 1, "path=%s", ("/p\x00\x1b[31m" + "a" * 5000,), None)
    SafeLines().filter(record)
    message = record.getMessage()
    assert "\x00" not in message and "\x1b" not in message and len(message) < 2100 and message.endswith("(cut)")


def _logged_exception(error: Exception) -> logging.LogRecord:
    try:
        raise error
    except Exception:
        return logging.LogRecord("x", logging.ERROR, __file__, 1, "Exception on /r [POST]", None, sys.exc_info())


def test_a_rejection_the_service_raised_is_one_line_with_its_reason_and_a_fault_keeps_its_traceback():
    from bentoml.exceptions import InternalServerError, NotFound

    rejected = _logged_exception(NotFound("patient_id: not a patient this model was trained on"))
    RedactRejectedInputs().filter(rejected)
    assert rejected.exc_info is None
    assert rejected.getMessage().endswith("(rejected: patient_id: not a patient this model was trained on)")
    fault = _logged_exception(InternalServerError("the model failed"))
    RedactRejectedInputs().filter(fault)
    assert fault.exc_info is not None and "rejected" not in fault.getMessage()


def test_a_streamed_file_answer_gets_through(guarded, tmp_path):
    """Starlette's FileResponse listens for a disconnect while it sends: the guard must hand it the client's channel."""
    from starlette.responses import FileResponse

    page = tmp_path / "index.html"
    page.write_text("<h1>docs</h1>")
    response = guarded("/static_content/index.html", method="GET", body=b"", through=guarded.wrap(FileResponse(page)))
    assert response.status_code == 200 and response.text == "<h1>docs</h1>"


def test_a_made_up_method_or_path_is_not_written_to_the_audit_log(guarded):
    guarded("/Jane-Roe", method="JANE-ROE")
    (line,) = guarded.audit()
    assert line["method"] == "OTHER" and line["endpoint"] == "(unknown route)"


def test_a_body_sent_in_chunks_is_read_whole_and_counted_against_the_limit(guarded):
    async def chunks(n):
        for _ in range(n):
            yield b"x" * 100

    assert guarded("/score", body=chunks(10)).json() == {"size": 1000}
    assert guarded("/score", body=chunks(11)).status_code == 413


def test_a_malformed_multipart_body_gets_a_400_before_the_service_parses_it(guarded):
    form = "multipart/form-data; boundary=xx"
    good = b'--xx\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\n\r\nPNG\r\n--xx--\r\n'
    assert guarded("/score", body=good, **{"content-type": form}).json() == {"size": len(good)}
    for body, content_type in ((b"Jane Roe", form), (good[:-8], form), (good, "multipart/form-data")):
        response = guarded("/score", body=body, **{"content-type": content_type})
        assert (
            response.status_code == 400
            and "multipart/form-data" in response.json()["error"]
            and "Jane" not in response.text
        )
    url = b'--xx\r\nContent-Disposition: form-data; name="images"\r\n\r\nhttp://10.0.0.1/Jane-Roe.png\r\n--xx--\r\n'
    fetched = guarded("/score", body=url, **{"content-type": form})  # BentoML would download it
    assert (
        fetched.status_code == 400
        and "images: each must be an uploaded file" in fetched.text
        and "Jane" not in fetched.text
    )
    encoded = guarded(
        "/score",
        body=b"images=http%3A%2F%2F10.0.0.1%2FJane-Roe.png",
        **{"content-type": "application/x-www-form-urlencoded"},
    )
    assert (
        encoded.status_code == 400
        and "images: each must be an uploaded file" in encoded.text
        and "Jane" not in encoded.text
    )
    assert [line["status"] for line in guarded.audit()] == [200, 400, 400, 400, 400, 400]


def test_the_service_page_opens_without_a_key_and_runs_only_its_own_scripts(guarded):
    page = guarded("/", method="GET", body=b"", key=None)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "swagger-ui-bundle.js" in page.text and "googletagmanager" not in page.text and "<script>" not in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert guarded("/static_content/swagger-ui.css", method="GET", body=b"", key=None).status_code == 200
    assert guarded("/", method="POST", key=None).status_code == 401  # only reading the page is open
    assert guarded("/static_content/x", method="POST", key=None).status_code == 401
    assert [(line["endpoint"], line["key"]) for line in guarded.audit()][:2] == [("/", None), ("(page asset)", None)]


def test_the_schema_without_a_key_offers_the_bearer_scheme_and_hides_what_was_learned_from_training(guarded):
    anonymous = guarded("/docs.json", method="GET", body=b"", key=None)
    assert anonymous.status_code == 200 and int(anonymous.headers["content-length"]) == len(anonymous.content)
    spec = anonymous.json()
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        **spec["components"]["securitySchemes"]["apiKey"],
        "type": "http",
        "scheme": "bearer",
    }
    assert spec["security"] == [{"apiKey": []}] and spec["paths"]["/healthz"]["get"]["security"] == []
    fields = spec["components"]["schemas"]["Patient"]["properties"]
    assert fields["sex"] == {"type": "string", LEARNED_FROM_TRAINING: True} and fields["age"] == {
        "maximum": 120,
        "type": "number",
        LEARNED_FROM_TRAINING: True,
    }
    assert fields["note"]["examples"] == ["a hand-written example"]  # written by us, not learned
    assert "female" not in anonymous.text and "61.4" not in anonymous.text
    whole = guarded("/docs.json", method="GET", body=b"").json()["components"]["schemas"]["Patient"]["properties"]
    assert whole["sex"]["enum"] == ["female", "male"] and whole["age"]["examples"] == [61.4]
    assert (
        guarded("/docs.json", method="GET", body=b"", key="mm_wrong")
        .json()["components"]["schemas"]["Patient"]["properties"]["sex"]
        .get("enum")
        is None
    )


def test_each_request_is_a_span_named_by_its_route_continuing_the_caller_s_trace_and_naming_no_input(guarded):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from serving import tracing

    exporter = InMemorySpanExporter()
    tracing.provider(guarded.service).add_span_processor(SimpleSpanProcessor(exporter))
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    guarded("/score", body=b'{"name": "Jane Roe"}', traceparent=f"00-{caller_trace}-{caller_span}-01")
    guarded("/Jane-Roe")
    guarded("/score", body=b"x" * 1001)
    spans = exporter.get_finished_spans()
    requests = [s for s in spans if s.kind == SpanKind.SERVER]
    assert [s.name for s in requests] == ["POST /score", "POST (unknown route)", "POST /score"]
    first = requests[0]
    assert first.context.trace_id == int(caller_trace, 16) and first.parent.span_id == int(caller_span, 16)
    assert {k: first.attributes[k] for k in ("medmaas.model", "medmaas.version", "http.response.status_code")} == {
        "medmaas.model": "m",
        "medmaas.version": "3",
        "http.response.status_code": 200,
    }
    assert requests[2].attributes["http.response.status_code"] == 413
    checks = [s for s in spans if s.name == "check body"]
    assert [c.parent.span_id for c in checks] == [r.context.span_id for r in requests]
    audit = guarded.audit()
    assert audit[0]["trace_id"] == caller_trace and audit[1]["trace_id"] == format(requests[1].context.trace_id, "032x")
    assert "Jane" not in json.dumps([dict(s.attributes or {}) for s in spans]) + " ".join(s.name for s in spans)


def test_spans_leave_the_service_over_otlp_only_when_an_endpoint_is_set(tmp_path):
    from support import otlp_collector, spans_received

    from medmaas.settings import TracingSettings
    from serving import tracing

    with otlp_collector() as (endpoint, received):
        exported = tracing.provider(f"otlp_{tmp_path.name}", TracingSettings(otlp_endpoint=endpoint))
        silent = tracing.provider(f"silent_{tmp_path.name}", TracingSettings())
        with tracing.step(f"otlp_{tmp_path.name}", "forward pass", items=3):
            pass
        with tracing.step(f"silent_{tmp_path.name}", "forward pass", items=3):
            pass
        assert exported.force_flush() and silent.force_flush()
    [(path, content_type, _)] = received  # the silent service sent nothing
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    [span] = spans_received(received)
    assert span.name == "forward pass" and [a.value.int_value for a in span.attributes if a.key == "items"] == [3]
