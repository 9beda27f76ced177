"""What stands between the network and every service: API keys, an audit line per request, bounded
bodies, 4xx answers and log lines that never repeat what a client sent.

    protect(DiagnosisService, settings.serving, ("diagnosis", "7"))

BentoML 1.4 has no access control of its own; this is a plain ASGI middleware (``Service.add_asgi_middleware``), created
in each server worker. The health probes stay open for load balancers, and the service's page opens in a browser: ``/``
(the Swagger UI, served by the guard without BentoML's third-party analytics script), its static assets, and
``/docs.json``. The schema a client without a key gets has the bearer scheme the page's "Authorize" button takes, and no
value learned from training data (categories, example centroids); with a key it is whole. Every other route needs a key.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import time
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

from medmaas.access import KeyRing, keys_path
from medmaas.environment import BUILDING_BENTO, STATE_DIR
from medmaas.settings import ServingSettings
from serving import metrics, tracing
from serving.bodies import form_problem
from serving.cds_auth import ROOT as CDS_ROOT
from serving.cds_auth import CdsAuth, CdsUnauthorized
from serving.cds_auth import routes as cds_routes
from serving.page import PAGE_HEADERS, PAGE_HTML, documented
from serving.redaction import safe_server_logs, without_echo

# every service's BentoML settings. The audit log replaces BentoML's access log, which would print the client's paths.
# BentoML's request metrics sit outside this guard and label their series with the raw path (a made-up path, a
# patient's name, would become a series): they are off, and the guard answers /metrics itself (serving/metrics.py).
SERVICE_CONFIG = {"traffic": {"timeout": 30}, "logging": {"access": {"enabled": False}}, "metrics": {"enabled": False}}
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
OPEN_ROUTES = frozenset({"/healthz", "/livez", "/readyz"})
METRICS = "/metrics"  # behind a key like the routes that score: a scraper gets a key of its own
UNKNOWN_ROUTE = "(unknown route)"
PAGE, SCHEMA, ASSETS = "/", "/docs.json", "/static_content/"  # what a browser needs before it has a key
ASSET_ROUTE = "(page asset)"  # the audit line's endpoint for any asset: the rest of the path is the client's text
READING = frozenset({"GET", "HEAD"})


class NoApiKeys(RuntimeError):
    """Keys are required and none is active: the service would refuse every request, so it does not start."""


def check_keys(settings: ServingSettings, service: str) -> None:
    """At import of a service: refuse to start without a key, or say loudly that there is no access control."""
    if os.environ.get(BUILDING_BENTO):
        return
    if settings.auth == "none":
        print(
            f"*** {service}: serving.auth is none: ANYONE WHO CAN REACH THIS PORT CAN SCORE PATIENTS (local "
            "experiments only) ***",
            file=sys.stderr,
            flush=True,
        )  # a logger of ours would not reach `bentoml serve`'s output
        return
    if not KeyRing().active_count():
        raise NoApiKeys(
            f"no active API key in {keys_path()}: create one with `medmaas keys create NAME` "
            "(or point MEDMAAS_API_KEYS at a keys file, or set serving.auth: none for a local experiment)"
        )


def protect(
    service: Any,
    settings: ServingSettings,
    answered_by: tuple[str, str],
    routes: dict[str, tuple[str, str]] | None = None,
) -> None:
    """Put the guard in front of ``service``. Its audit lines name the (model, version) ``answered_by``, or for a
    route of a service with several models (progression) the one in ``routes``."""
    check_keys(settings, service.name)
    tracing.provider(service.name, settings.tracing)  # before the service's first span: with the block's exporter
    models = {api.route: (routes or {}).get(api.route, answered_by) for api in service.apis.values()}
    models |= {route: answered_by for route in cds_routes(settings.cds_hooks)}
    file_fields = {api.route: frozenset(api.input_spec.multipart_fields) for api in service.apis.values()}
    service.add_asgi_middleware(
        Guard, service_name=service.name, settings=settings, models=models, file_fields=file_fields
    )


def audit_logger(service_name: str, settings: ServingSettings) -> logging.Logger:
    """Its own file (a logger of ours does not reach `bentoml serve`'s output), JSON lines, rotated by size."""
    logger = logging.getLogger(f"medmaas.audit.{service_name}")
    if not logger.handlers:
        path = STATE_DIR / "audit" / f"{service_name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=settings.audit_max_bytes, backupCount=settings.audit_backups, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class Guard:
    """The ASGI middleware: authenticate, bound the body, call the service, clean a 4xx, write the audit line."""

    def __init__(
        self,
        app: Any,
        service_name: str,
        settings: ServingSettings,
        models: dict[str, tuple[str, str]],
        file_fields: dict[str, frozenset[str]] | None = None,
    ):
        self.app = app
        self.service_name = service_name
        self.settings = settings
        self.models = models
        self.file_fields = file_fields or {}  # route -> its fields that take uploaded files
        self.keys = KeyRing() if settings.auth == "api_keys" else None
        self.audit = audit_logger(service_name, settings)
        self.served = sorted(set(models.values()))
        metrics.serving(service_name, self.served)
        self.tracer = tracing.provider(service_name, settings.tracing).get_tracer("medmaas.serving")
        self.cds_routes = frozenset(cds_routes(settings.cds_hooks))  # an EHR's JWT is accepted there, besides a key
        self.cds_auth = CdsAuth(settings.cds_hooks) if settings.cds_hooks and self.keys is not None else None
        safe_server_logs()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" or scope["type"] == "http" and scope.get("path") in OPEN_ROUTES:
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no service speaks WebSocket: refuse it rather than let it past the keys
            await send({"type": "websocket.close", "code": 1008})
            return
        started = time.perf_counter()
        route = _audited_route(scope.get("path") or "", self.models)
        model, version = self.models.get(route, (None, None))
        method = scope.get("method") if scope.get("method") in METHODS else "OTHER"  # h11 accepts any token
        status = {"code": 500}
        key_name: list[str | None] = [None]
        attributes = {"http.route": route, "http.request.method": method, "medmaas.service": self.service_name}
        attributes |= tracing.naming(model, version) if model and version else {}
        with self.tracer.start_as_current_span(
            f"{method} {route}", context=tracing.caller_context(scope), kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                await self._guarded(scope, receive, send, route, status, key_name)
            finally:
                span.set_attribute("http.response.status_code", status["code"])
                if status["code"] >= 500:
                    span.set_status(StatusCode.ERROR)
                elapsed = time.perf_counter() - started
                metrics.REQUESTS.labels(self.service_name, route, method, metrics.status_class(status["code"])).inc()
                metrics.LATENCY.labels(self.service_name, route).observe(elapsed)
                self.audit.info(
                    json.dumps(
                        {
                            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                            "key": key_name[0],
                            "method": method,
                            "endpoint": route,
                            "model": model,
                            "version": version,
                            "status": status["code"],
                            "latency_ms": round(elapsed * 1000, 2),
                            "trace_id": tracing.trace_id(span),
                        }
                    )
                )

    async def _guarded(
        self, scope: dict, receive: Any, send: Any, route: str, status: dict, key_name: list[str | None]
    ) -> None:
        """Authenticate, check the body, answer what the guard answers itself, else call the service."""
        if self.keys is not None:
            bearer = _bearer(scope)
            key_name[0] = self.keys.name_of(bearer)
            refusal = (
                "a valid API key is required: send the header `Authorization: Bearer <key>` (keys come from "
                "`medmaas keys create NAME`)"
            )
            if key_name[0] is None and route in self.cds_routes and self.cds_auth is not None:
                try:
                    key_name[0] = self.cds_auth.client_of(bearer, route)
                except CdsUnauthorized as why:
                    refusal = f"{why} (or send an API key)"
            if key_name[0] is None and not (route in (PAGE, SCHEMA, ASSET_ROUTE) and scope.get("method") in READING):
                status["code"] = 401
                await _reply(send, 401, {"error": refusal}, [(b"www-authenticate", b'Bearer realm="medmaas"')])
                return
        with self.tracer.start_as_current_span("check body"):
            body = await read_body(receive, self.settings.max_body_bytes)
            problem = (
                form_problem(scope, body, self.file_fields.get(route, frozenset())) if isinstance(body, bytes) else None
            )
        if body is Unread.TOO_LARGE:
            status["code"] = 413
            await _reply(
                send,
                413,
                {
                    "error": f"the request body is larger than {self.settings.max_body_bytes} bytes "
                    "(serving.max_body_bytes)"
                },
            )
            return
        if body is Unread.DISCONNECTED:
            status["code"] = 499  # the client left before its body arrived: nothing to answer
            return
        if problem:
            status["code"] = 400
            await _reply(send, 400, {"error": problem})
            return
        if route == METRICS:
            status["code"] = 200 if scope.get("method") in READING else 405
            await _reply(
                send,
                status["code"],
                metrics.exposition(self.service_name, self.served)
                if status["code"] == 200
                else {"error": "/metrics answers GET"},
                content_type=metrics.CONTENT_TYPE if status["code"] == 200 else b"application/json",
            )
            return
        if route == PAGE and scope.get("method") in READING:
            status["code"] = 200
            await _reply(
                send, 200, PAGE_HTML.format(name=self.service_name).encode(), PAGE_HEADERS, b"text/html; charset=utf-8"
            )
            return
        answer = _cleaning(send, status)
        if route == SCHEMA:
            whole = self.keys is None or key_name[0] is not None
            answer = _rewriting_json(answer, lambda spec: documented(spec, whole=whole, open_routes=OPEN_ROUTES))
        if route == CDS_ROOT and scope.get("path") == CDS_ROOT:  # the mounted app's root: no redirect to a slash
            scope = {**scope, "path": f"{CDS_ROOT}/", "raw_path": f"{CDS_ROOT}/".encode()}
        await self.app(scope, _replay(body, receive), answer)


def _audited_route(path: str, models: dict[str, tuple[str, str]]) -> str:
    """The endpoint an audit line names: a route of the service or of its page; never a made-up path (the client's
    text)."""
    if path in models or path in (PAGE, SCHEMA, METRICS):
        return path
    return ASSET_ROUTE if path.startswith(ASSETS) else UNKNOWN_ROUTE


def _bearer(scope: dict) -> str:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class Unread(Enum):
    """Why read_body has no body (an enum, so a type checker tells these from bytes)."""

    TOO_LARGE = "too large"  # it passed the limit: the rest is never read
    DISCONNECTED = "disconnected"  # the client left before its body was in


async def read_body(receive: Any, limit: int) -> bytes | Unread:
    """The whole body, or why not: TOO_LARGE as soon as it passes ``limit``, DISCONNECTED if the client left first."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return Unread.DISCONNECTED
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return Unread.TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Any):
    """The body read above, once; then the client's own channel (a streamed answer waits on it for a disconnect)."""
    replayed = False

    async def replay() -> dict:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _rewriting_json(send: Any, rewrite):
    """Pass the answer through; a 200 JSON body is held whole and sent as ``rewrite`` makes it."""
    held: dict[str, Any] = {}

    async def wrapped(message: dict) -> None:
        if (
            message["type"] == "http.response.start"
            and message["status"] == 200
            and dict(message.get("headers") or []).get(b"content-type", b"").startswith(b"application/json")
        ):
            held.update(start=message, body=b"")
            return
        if message["type"] == "http.response.body" and held:
            held["body"] += message.get("body", b"")
            if not message.get("more_body"):
                try:
                    body = json.dumps(rewrite(json.loads(held["body"]))).encode()
                except ValueError:  # not JSON after all: as it came
                    body = held["body"]
                await _send_whole(send, held["start"], body)
            return
        await send(message)

    return wrapped


async def _send_whole(send: Any, start: dict, body: bytes) -> None:
    headers = [(k, v) for k, v in start.get("headers") or [] if k != b"content-length"] + [
        (b"content-length", str(len(body)).encode())
    ]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _cleaning(send: Any, status: dict):
    """Pass the answer through, recording its status; hold a 4xx JSON body to take out what the client sent."""
    held: dict[str, Any] = {}

    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]
            headers = dict(message.get("headers") or [])
            if 400 <= message["status"] < 500 and headers.get(b"content-type", b"").startswith(b"application/json"):
                held.update(start=message, body=b"")
                return
        elif message["type"] == "http.response.body" and held:
            held["body"] += message.get("body", b"")
            if message.get("more_body"):
                return
            try:
                cleaned = json.dumps(without_echo(json.loads(held["body"]))).encode()
            except ValueError:
                cleaned = held["body"]
            await _send_whole(send, held["start"], cleaned)
            return
        await send(message)

    return wrapped


async def _reply(
    send: Any,
    code: int,
    body: dict | bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})
