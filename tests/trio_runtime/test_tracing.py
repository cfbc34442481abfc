"""Tracing: one trace follows a call from the REST request through the bridge to the tool's span
on the Trio runtime (another process), into a job and a queued task, and over a P2P frame; with
tracing off nothing is traced and nothing is carried.

The web side runs in this process with the SDK's in-memory exporter; the Trio runtime is a real
child process that writes its spans as JSON lines (MCP_PLATFORM_TRACE_FILE)."""

from __future__ import annotations

import contextlib
import http.server
import json
import secrets
import threading

import anyio
import httpx
import pytest
import trio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from apps.access.principals import Principal
from apps.access.services import create_api_token
from apps.jobs import execution
from apps.jobs.models import Job
from apps.peers.models import Peer
from apps.routing import shared_secret
from apps.taskqueue import services as taskqueue
from apps.taskqueue.workers import execute_locally
from apps.tools import call_log, services
from apps.tools.models import Tool
from mcp_platform import tracing
from tests.harness import TrioRuntimeProcess, free_port, wait_until
from trio_runtime.p2p.protocol import McpP2PServer

from .conftest import FIXTURE_MODULES

PEER_ID = "12D3KooWTracingTestPeer"


def traceparent() -> tuple[str, str, str]:
    """A caller's W3C traceparent: (header, trace id, span id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


@pytest.fixture
def spans():
    """Tracing on in this process, into the SDK's in-memory exporter; off again after."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.uninstall()
    provider.shutdown()


def in_trace(exporter: InMemorySpanExporter, trace_id: str) -> dict[str, object]:
    """This process's spans of one trace, by name."""
    return {
        span.name: span
        for span in exporter.get_finished_spans()
        if format(span.context.trace_id, "032x") == trace_id
    }


def hex_id(span_id: int) -> str:
    return format(span_id, "016x")


@contextlib.asynccontextmanager
async def web_process():
    """The web process's ASGI application, started as Uvicorn starts it (its lifespan)."""
    from mcp_platform import asgi

    async with asgi.lifespan():
        transport = httpx.ASGITransport(app=asgi.application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            yield http


@pytest.fixture
def tracing_runtime(test_tools, counter_file, tmp_path, settings):
    """A Trio runtime process writing its spans to a file; this process bridges to it."""
    trace_file = tmp_path / "runtime-spans.jsonl"
    runtime = TrioRuntimeProcess(
        tmp_path / "runtime",
        env={
            "MCP_PLATFORM_TOOL_MODULES": FIXTURE_MODULES,
            "MCP_PLATFORM_TEST_COUNTER_FILE": str(counter_file),
            tracing.TRACE_FILE_ENV: str(trace_file),
            # This process's secret (read once, cached): the runtime must accept our bridge.
            shared_secret.ENV: shared_secret.bridge_secret(),
        },
    )
    runtime.start()
    settings.MCP_PLATFORM_HOST = "127.0.0.1"
    settings.MCP_PLATFORM_TRIO_PORT = runtime.port
    yield runtime, trace_file
    runtime.stop()


def runtime_spans(trace_file, trace_id: str) -> dict[str, dict]:
    if not trace_file.exists():
        return {}
    lines = [json.loads(line) for line in trace_file.read_text().splitlines() if line]
    return {span["name"]: span for span in lines if span["trace_id"] == trace_id}


@pytest.mark.slow  # a real Trio runtime process
def test_one_trace_links_the_rest_request_the_bridge_and_the_tool_on_the_trio_runtime(
    tracing_runtime, spans
):
    runtime, trace_file = tracing_runtime
    services.update_tool(
        tool=Tool.objects.get(name="test_where_async"), changes={"runtime": "trio"}
    )
    _, secret = create_api_token(name="tracer", scopes=["tools:read", "tools:call"])
    header, trace_id, caller_span = traceparent()

    async def scenario() -> httpx.Response:
        async with web_process() as http:
            return await http.post(
                "/api/v2/tools/test_where_async/call",
                json={},
                headers={"Authorization": f"Bearer {secret}", "traceparent": header},
            )

    try:
        response = anyio.run(scenario)
    finally:
        call_log.flush()
    assert response.status_code == 200, response.text
    ran_in = response.json()["structuredContent"]
    assert ran_in["loop"] == "trio" and ran_in["pid"] == runtime.process.pid

    web = in_trace(spans, trace_id)
    request = web["POST /api/v2/tools/<name>/call"]  # named for its route, not the path
    assert hex_id(request.parent.span_id) == caller_span  # the REST request joins the caller
    door = web["call test_where_async"]
    assert door.parent.span_id == request.context.span_id
    assert web["authorize"].parent.span_id == door.context.span_id
    assert web["route"].parent.span_id == door.context.span_id
    bridge = web["bridge"]
    assert bridge.parent.span_id == door.context.span_id
    assert "tool test_where_async" not in web  # it ran over there, not here

    there = wait_until(
        lambda: (found := runtime_spans(trace_file, trace_id)).get("bridged call") and found,
        timeout=30,
        what="the runtime's spans",
    )
    served = there["bridged call"]
    assert served["pid"] == runtime.process.pid
    assert served["parent_span_id"] == hex_id(bridge.context.span_id)  # across the processes
    tool = there["tool test_where_async"]
    assert tool["parent_span_id"] == served["span_id"]
    assert there["record"]["parent_span_id"] == served["span_id"]


@pytest.mark.django_db(transaction=True)
def test_an_mcp_call_joins_the_trace_of_its_http_request(catalogue, spans):
    _, secret = create_api_token(name="mcp", scopes=["tools:read", "tools:call"])
    header, trace_id, caller_span = traceparent()
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": "echo", "arguments": {"message": "m"}, "_meta": meta}
    headers = {
        "Authorization": f"Bearer {secret}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "echo",
        "traceparent": header,
    }

    async def call() -> httpx.Response:
        async with web_process() as http:
            message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
            return await http.post("/mcp", json=message, headers=headers)

    try:
        response = anyio.run(call)
    finally:
        call_log.flush()
    assert response.json()["result"]["structuredContent"] == {"message": "m"}
    door = in_trace(spans, trace_id)["call echo"]
    assert hex_id(door.parent.span_id) == caller_span
    assert door.attributes["mcp_platform.via"] == "mcp"


@pytest.mark.django_db(transaction=True)
def test_a_job_carries_the_trace_of_its_submission(catalogue, spans):
    _, secret = create_api_token(name="jobs", scopes=["tools:read", "tools:call"])
    header, trace_id, _ = traceparent()

    async def submit() -> httpx.Response:
        async with web_process() as http:
            return await http.post(
                "/api/v2/jobs",
                json={"tool": "echo", "arguments": {"message": "later"}},
                headers={"Authorization": f"Bearer {secret}", "traceparent": header},
            )

    response = anyio.run(submit)
    assert response.status_code == 202, response.text
    job = Job.objects.get(pk=response.json()["id"])
    assert job.trace_context["traceparent"].split("-")[1] == trace_id
    submitted = in_trace(spans, trace_id)

    try:
        assert execution.run_job(job_id=str(job.pk), worker="tracing-test") == "succeeded"
    finally:
        call_log.flush()
    ran = in_trace(spans, trace_id)["call echo"]
    assert ran.attributes["mcp_platform.via"] == "job"
    assert ran.attributes["mcp_platform.outcome"] == "success"
    request = next(span for name, span in submitted.items() if name.startswith("POST "))
    assert ran.parent.span_id == request.context.span_id


@pytest.mark.django_db(transaction=True)
def test_a_queued_task_carries_the_trace_of_its_submission(catalogue, spans):
    submitter = Principal(name="queuer", kind="token", scopes=frozenset({"tools:call"}))
    with tracing.span("submit") as submitting:
        task, _ = taskqueue.submit_task(
            tool="echo", arguments={"message": "q"}, submitter=submitter
        )
    trace_id = format(submitting.get_span_context().trace_id, "032x")
    assert task.trace_context["traceparent"].split("-")[1] == trace_id

    try:
        ok, value = trio.run(execute_locally, task)
    finally:
        call_log.flush()
    assert ok and value == {"message": "q"}
    ran = in_trace(spans, trace_id)["call echo"]
    assert ran.parent.span_id == submitting.get_span_context().span_id


@pytest.mark.django_db(transaction=True)
def test_a_p2p_frame_may_carry_the_callers_trace(catalogue, spans):
    Peer.objects.create(peer_id=PEER_ID, trusted=True, enabled=True)
    header, trace_id, caller_span = traceparent()
    server = McpP2PServer(server_info={"name": "tracing-test"})
    params = {"name": "echo", "arguments": {"message": "p"}, "_meta": {"traceparent": header}}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    try:
        reply, _ = trio.run(server._answer, message, PEER_ID, True)
        # A frame without the field, or with junk in it, is served as before.
        params["_meta"] = {"traceparent": 7}
        plain, _ = trio.run(server._answer, message, PEER_ID, True)
    finally:
        call_log.flush()
    assert reply["result"]["structuredContent"] == {"message": "p"}
    assert plain["result"]["structuredContent"] == {"message": "p"}
    door = in_trace(spans, trace_id)["call echo"]
    assert (
        hex_id(door.parent.span_id) == caller_span and door.attributes["mcp_platform.via"] == "p2p"
    )


def test_tracing_off_traces_and_carries_nothing():
    assert not tracing.enabled()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)  # no SDK installed
    assert tracing.span("anything") is tracing.span("else")  # one shared do-nothing context
    with tracing.span("anything"):
        assert tracing.carrier() == {}
    header, _, _ = traceparent()
    assert tracing.continued({"traceparent": header}) is tracing.span("x")


class Collector:
    """A small OTLP/HTTP trace collector on loopback: the spans the node's processes export."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self.spans: list[dict] = []
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                batch = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                for resource_spans in batch.resource_spans:
                    resource = {a.key: a.value for a in resource_spans.resource.attributes}
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            collector.spans.append(
                                {
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                    "span_id": span.span_id.hex(),
                                    "parent_span_id": span.parent_span_id.hex(),
                                    "pid": resource["process.pid"].int_value,
                                }
                            )
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, trace_id: str) -> dict[str, dict]:
        return {span["name"]: span for span in list(self.spans) if span["trace_id"] == trace_id}


@pytest.fixture
def collector():
    running = Collector()
    yield running
    running.server.shutdown()


@pytest.fixture
def node_env(counter_file, collector) -> dict[str, str]:
    """The node of `trio_node` exports its traces over OTLP to the test's collector."""
    return {
        "MCP_PLATFORM_TOOL_MODULES": FIXTURE_MODULES,
        "MCP_PLATFORM_TEST_COUNTER_FILE": str(counter_file),
        "MCP_PLATFORM_HEARTBEAT_SECONDS": "0.5",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # milliseconds: export soon after each span
    }


@pytest.mark.slow  # a real Trio runtime process
def test_a_node_exports_one_trace_over_otlp_from_its_web_process_and_trio_runtime(
    trio_node, collector, make_token
):
    trio_pid = httpx.get(f"{trio_node.url}/health/runtime", timeout=5).json()["trio_pid"]
    token = make_token(scopes=("admin",))
    headers = {"Authorization": f"Bearer {token}"}
    flip = httpx.patch(
        f"{trio_node.url}/api/v2/tools/test_where_async", json={"runtime": "trio"}, headers=headers
    )
    assert flip.status_code == 200, flip.text
    header, trace_id, caller_span = traceparent()
    reply = httpx.post(
        f"{trio_node.url}/api/v2/tools/test_where_async/call",
        json={},
        headers={**headers, "traceparent": header},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["meta"]["runtime"] == "trio"

    wanted = {"bridge", "bridged call", "tool test_where_async", "POST /api/v2/tools/<name>/call"}
    # Each process exports in its own batches: wait for all of them.
    spans = wait_until(
        lambda: wanted <= (found := collector.of(trace_id)).keys() and found,
        timeout=30,
        what="the node's spans at the collector",
    )
    bridge, served = spans["bridge"], spans["bridged call"]
    assert bridge["pid"] != trio_pid and served["pid"] == trio_pid
    assert served["parent_span_id"] == bridge["span_id"]
    assert spans["tool test_where_async"]["parent_span_id"] == served["span_id"]
    request = spans["POST /api/v2/tools/<name>/call"]  # named for its route, not the path
    assert request["parent_span_id"] == caller_span and request["pid"] == bridge["pid"]
