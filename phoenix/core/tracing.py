"""OpenTelemetry traces: Django, psycopg, Redis, Celery and outbound HTTP (Stripe's client).

Off by default: ``OTEL_TRACES_EXPORTER`` (the standard variable) unset or ``none`` installs
nothing, so no instrumentation runs on any request. ``otlp`` exports over OTLP/HTTP, the
exporter configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers,
timeout); ``console`` prints spans (development). ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` name the service (``phoenix`` unless set).

The Celery instrumentation writes the current trace context into the headers of every task
it publishes and continues it in the worker, so a task enqueued by a request is a span of
that request's trace. With tracing on, the log lines' ``request_id`` is the trace id and
every line carries ``trace_id`` / ``span_id`` (``add_trace_ids``).
"""

from __future__ import annotations

import os

import structlog
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

EXPORTERS = ("otlp", "console")
_state: dict = {"configured": False, "provider": None}


def tracing_exporter_name() -> str:
    """The exporter ``OTEL_TRACES_EXPORTER`` names, or "" when tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    return name if name in EXPORTERS else ""


def tracing_is_on() -> bool:
    return _state["configured"]


def tracing_configure(*, exporter: SpanExporter | None = None) -> bool:
    """Install the tracer provider and the instrumentations once; True when tracing is on.

    ``exporter`` (tests: an in-memory exporter) is used as given, synchronously; otherwise
    the one named by ``OTEL_TRACES_EXPORTER``, batched (the batch thread is restarted in a
    forked child: gunicorn and Celery workers).
    """
    if _state["configured"]:
        return True
    if exporter is None:
        name = tracing_exporter_name()
        if not name:
            return False
        processor = BatchSpanProcessor(OTLPSpanExporter() if name == "otlp" else ConsoleSpanExporter())
    else:
        processor = SimpleSpanProcessor(exporter)
    provider = _state.get("provider")
    if provider is None:  # the global provider can be set once per process: re-used after uninstrument
        resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or "phoenix"})
        provider = _state["provider"] = TracerProvider(resource=resource)
        trace.set_tracer_provider(provider)
    provider.add_span_processor(processor)
    # /metrics and /health/ are scraped every few seconds: not worth a trace each.
    DjangoInstrumentor().instrument(excluded_urls="metrics,health/")
    PsycopgInstrumentor().instrument(enable_commenter=False)
    RedisInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    RequestsInstrumentor().instrument()
    _state["configured"] = True
    return True


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), or None outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def add_trace_ids(logger, method_name: str, event_dict: dict) -> dict:
    """structlog processor: ``trace_id`` / ``span_id`` of the current span, when tracing."""
    if _state["configured"]:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
            event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def bind_trace_id_as_request_id(request=None, logger=None, **kwargs) -> None:
    """django-structlog's ``bind_extra_request_metadata`` receiver: the request id is the
    trace id, so a log line leads to its trace and back."""
    trace_id = current_trace_id() if _state["configured"] else None
    if trace_id:
        structlog.contextvars.bind_contextvars(request_id=trace_id)


def tracing_uninstrument() -> None:
    """Remove every instrumentation (the provider stays, recording nothing new): the
    process goes back to untraced requests. For a test that turned tracing on."""
    if not _state["configured"]:
        return
    for instrumentor in (DjangoInstrumentor(), PsycopgInstrumentor(), RedisInstrumentor(),
                         CeleryInstrumentor(), RequestsInstrumentor()):
        instrumentor.uninstrument()
    _state["configured"] = False
