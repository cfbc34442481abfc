"""Tracing: OpenTelemetry spans along the call path, and the W3C trace context carried between
processes (an incoming request's `traceparent`, the bridge, `/mcp+p2p/1.0.0`, jobs, queued
tasks).

Off unless configured, and then free: no SDK tracer provider is installed, `span()` hands back
one shared do-nothing context manager and `carrier()` an empty dict, so a call pays a flag
check. On when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (spans batched to that collector over
OTLP/HTTP; the exporter reads the other `OTEL_EXPORTER_OTLP_*` variables itself), or when
`MCP_PLATFORM_TRACE_FILE` names a file (each span one JSON line, written as it ends: for tests
that follow a trace across processes). `OTEL_SDK_DISABLED=true` keeps it off.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

TRACE_FILE_ENV = "MCP_PLATFORM_TRACE_FILE"
SERVICE_NAME = "mcp-platform"
TRACE_HEADERS = ("traceparent", "tracestate")

_tracer: trace.Tracer | None = None
_NOTHING = contextlib.nullcontext()


def enabled() -> bool:
    return _tracer is not None


def configure_from_env() -> bool:
    """Install the SDK's tracer provider when the environment asks for one (see the module's
    docstring); True when tracing is on. Called once per process, at startup."""
    if _tracer is not None:
        return True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    trace_file = os.environ.get(TRACE_FILE_ENV, "").strip()
    if not endpoint and not trace_file:
        return False
    # The SDK is imported only here: a process that does not trace never loads it.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME,
            "process.pid": os.getpid(),  # which process of the node (web, runtime, worker)
        }
    )
    provider = TracerProvider(resource=resource)
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if trace_file:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(trace_file)))
    trace.set_tracer_provider(provider)
    install(provider)
    return True


def install(provider: Any) -> None:
    """Trace through `provider` (an SDK TracerProvider) from now on."""
    global _tracer
    _tracer = provider.get_tracer("mcp_platform")


def uninstall() -> None:
    """Stop tracing (tests)."""
    global _tracer
    _tracer = None


def span(name: str, *, kind: trace.SpanKind = trace.SpanKind.INTERNAL, **attributes: Any):
    """A context manager: a span named `name`, current while it is open (a child of the
    current one); nothing at all when tracing is off."""
    if _tracer is None:
        return _NOTHING
    return _tracer.start_as_current_span(
        name,
        kind=kind,
        attributes={f"mcp_platform.{key}": value for key, value in attributes.items()},
    )


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`), to send along
    or store with a job; empty when tracing is off or no span is current."""
    if _tracer is None:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return {key: headers[key] for key in TRACE_HEADERS if key in headers}


@contextlib.contextmanager
def _attached(headers: Mapping[str, Any]) -> Iterator[None]:
    token = otel_context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


def continued(headers: Mapping[str, Any] | None):
    """A context manager: the trace context that came with a request, job or frame (its
    `traceparent` header or field) is the current one inside, so the spans opened there are
    its children. Nothing when tracing is off or no `traceparent` came."""
    if _tracer is None or not headers:
        return _NOTHING
    try:
        parent, state = headers.get("traceparent"), headers.get("tracestate")
    except (AttributeError, TypeError):  # a peer's frame may carry anything
        return _NOTHING
    if not isinstance(parent, str) or not parent:
        return _NOTHING
    carried = {"traceparent": parent}
    if isinstance(state, str) and state:
        carried["tracestate"] = state
    return _attached(carried)


def record_outcome(outcome: str, *, failed: bool) -> None:
    """Note how the call of the current span ended (a tool's failure or timeout is an error)."""
    if _tracer is None:
        return
    current = trace.get_current_span()
    current.set_attribute("mcp_platform.outcome", outcome)
    if failed:
        current.set_status(trace.Status(trace.StatusCode.ERROR, outcome))


def record_error(exc: BaseException) -> None:
    """Mark the current span failed with `exc` (a call that could not be made)."""
    if _tracer is None:
        return
    current = trace.get_current_span()
    current.record_exception(exc)
    current.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)[:200]))


class TraceContextMiddleware:
    """The API's request span (Django middleware, async only): a child of the trace the client
    sent (`traceparent`), current while the view runs, so a call's spans and a submitted job's
    stored context join that trace. One flag check per request when tracing is off."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Any):
        from asgiref.sync import markcoroutinefunction

        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: Any) -> Any:
        if _tracer is None:
            return await self.get_response(request)
        with (
            continued(request.headers),
            span(f"{request.method} {request.path}", kind=trace.SpanKind.SERVER) as current,
        ):
            current.set_attribute("http.request.method", request.method)
            current.set_attribute("url.path", request.path)
            response = await self.get_response(request)
            current.set_attribute("http.response.status_code", response.status_code)
            match = getattr(request, "resolver_match", None)
            if match is not None and match.route:
                # Named for the route, not the path: ids in paths would make every span unique.
                current.update_name(f"{request.method} /{match.route}")
            return response


class JsonLinesExporter:
    """A span exporter writing each span as one JSON line to a file (append): a test reads
    the spans another process (the Trio runtime) made. Not for production: use OTLP."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = [json.dumps(_span_dict(item)) + "\n" for item in spans]
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.writelines(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _span_dict(item: Any) -> dict[str, Any]:
    """The fields a test compares: ids as the W3C hex strings."""
    ctx = item.get_span_context()
    return {
        "name": item.name,
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_span_id": format(item.parent.span_id, "016x") if item.parent else None,
        "kind": item.kind.name,
        "attributes": dict(item.attributes or {}),
        "status": item.status.status_code.name,
        "pid": os.getpid(),
    }
