"""OpenTelemetry spans of a service: one per request, named by its route template and carrying the service, model,
version and status (never an input, a header or a raw path), with children around the guard's checks of the body,
the model's load, the preparation of the features and the forward pass.

The provider is the service's own, not the process-wide one BentoML configures for its tracing (whose request spans
carry the raw path). Spans are always made, so the audit line carries a trace id (continuing the caller's W3C
``traceparent`` when it sends one); they leave the process only when ``serving.tracing.otlp_endpoint`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from medmaas.settings import TracingSettings

_providers: dict[str, TracerProvider] = {}
_W3C = TraceContextTextMapPropagator()


def provider(service: str, settings: TracingSettings | None = None) -> TracerProvider:
    """The service's provider, made on first use (at import of the service, with its settings)."""
    if service not in _providers:
        settings = settings or TracingSettings()
        made = TracerProvider(
            resource=Resource.create({"service.name": f"medmaas-{service}"}),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        if settings.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            made.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
        _providers[service] = made
    return _providers[service]


def tracer(service: str) -> trace.Tracer:
    return provider(service).get_tracer("medmaas.serving")


def caller_context(scope: dict) -> Any:
    """The caller's trace, from its ``traceparent`` header (W3C); else a new trace. Never BentoML's span around the
    request: BentoML does not sample it (its tracing is off), and our sampler would follow it."""
    carrier = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope.get("headers") or []
        if name in (b"traceparent", b"tracestate")
    }
    return _W3C.extract(carrier) if carrier else Context()


def naming(model: str, version: str) -> dict[str, str]:
    """The attributes that name the model a span is about."""
    return {"medmaas.model": model, "medmaas.version": version}


def trace_id(span: trace.Span) -> str | None:
    context = span.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@contextmanager
def step(service: str, name: str, **attributes: str | int | float | bool) -> Iterator[trace.Span]:
    """A child span of the request (or a span of its own at start-up) around one step of the service's work."""
    with tracer(service).start_as_current_span(name, attributes=attributes) as span:
        yield span
