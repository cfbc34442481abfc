"""The Trio runtime as a process of its own: health, heartbeat, the bridge and its secret,
tools executed on Trio, the routing reloader, and draining on SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import httpx
import pytest
from django.db import transaction

from apps.routing import selectors, services
from apps.routing.models import RuntimeInstance
from apps.tools.models import ToolCall
from tests.harness import wait_until
from tests.trio_runtime.conftest import executions

pytestmark = pytest.mark.slow


def bridge_body(tool: str, arguments: dict | None = None, *, budget: float = 30) -> dict:
    return {
        # What the web side sends: the plan it made for a call it already checked.
        "plan": {"tool": tool, "timeout_seconds": 30, "retry_policy": "none", "retries": 0},
        "arguments": arguments or {},
        "principal": {"name": "tester", "kind": "system", "scopes": ["admin"], "tool_patterns": []},
        "via": "test",
        "request_id": uuid.uuid4().hex,
        "deadline": time.time() + budget,
    }


def bridge_call(runtime, tool: str, arguments: dict | None = None, **kwargs) -> httpx.Response:
    return httpx.post(
        f"{runtime.url}/internal/bridge/call",
        json=bridge_body(tool, arguments),
        headers=runtime.auth,
        timeout=60,
        **kwargs,
    )


def test_health_and_heartbeat_report_pid_port_status_and_routing_version(trio_runtime):
    health = httpx.get(f"{trio_runtime.url}/health", timeout=5).json()
    assert health["status"] == "up" and health["pid"] == trio_runtime.process.pid

    def beat():
        row = RuntimeInstance.objects.filter(port=trio_runtime.port).first()
        current = row and row.routing_version == selectors.current_version()
        return row if current and row.status == "up" else None  # the first beat may say starting

    row = wait_until(beat, timeout=20, what="an 'up' heartbeat at the current routing version")
    assert (row.pid, row.host, row.status, row.runtime) == (
        trio_runtime.process.pid,
        "127.0.0.1",
        "up",
        "trio",
    )
    first = row.last_heartbeat
    wait_until(
        lambda: RuntimeInstance.objects.get(pk=row.pk).last_heartbeat > first,
        timeout=20,
        what="the next heartbeat",
    )


def test_bridge_requires_the_shared_secret(trio_runtime):
    url = f"{trio_runtime.url}/internal/bridge/call"
    assert httpx.post(url, json=bridge_body("echo", {"message": "x"})).status_code == 401
    wrong = {"Authorization": "Bearer not-the-secret"}
    response = httpx.post(url, json=bridge_body("echo", {"message": "x"}), headers=wrong)
    assert response.status_code == 401 and response.json()["started"] is False
    control = f"{trio_runtime.url}/internal/control/reload"
    assert httpx.post(control, headers=wrong).status_code == 401


def test_bridged_tools_run_inside_the_runtime_on_trio(trio_runtime, counter_file):
    pid = trio_runtime.process.pid
    reply = bridge_call(trio_runtime, "test_where_async")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["structuredContent"] == {"pid": pid, "loop": "trio"}  # on the Trio loop
    assert (body["meta"]["runtime"], body["meta"]["pid"]) == ("trio", pid)
    sync = bridge_call(trio_runtime, "test_where_sync").json()["structuredContent"]
    assert sync["pid"] == pid and sync["thread"] != "MainThread"  # Trio's thread pool
    call_id = uuid.uuid4().hex
    assert bridge_call(trio_runtime, "test_counter", {"call_id": call_id}).status_code == 200
    assert executions(counter_file)[call_id] == [str(pid)]


def test_bridge_refuses_invalid_calls_without_starting_them(trio_runtime):
    missing = bridge_call(trio_runtime, "no_such_tool")
    assert missing.status_code == 404
    assert missing.json() | {"error": ""} == {
        "started": False,
        "call_error": "tool_not_found",
        "error": "",
        "details": {},
    }
    invalid = bridge_call(trio_runtime, "echo", {"wrong": 1})
    assert invalid.status_code == 422 and invalid.json()["call_error"] == "invalid_arguments"


def test_runtime_follows_the_routing_version_by_polling(trio_runtime):
    with transaction.atomic():
        version = services.bump_routing_version(reason="test")
    wait_until(
        lambda: httpx.get(f"{trio_runtime.url}/health").json()["routing_version"] == version,
        timeout=20,
        what="the runtime to load the new routing version",
    )


def test_control_call_reloads_at_once(trio_runtime):
    with transaction.atomic():
        version = services.bump_routing_version(reason="test")
    reply = httpx.post(f"{trio_runtime.url}/internal/control/reload", headers=trio_runtime.auth)
    assert reply.status_code == 200 and reply.json()["routing_version"] == version


def test_sigterm_finishes_the_call_in_flight_refuses_new_ones_then_exits(trio_runtime):
    outcome: dict = {}

    def slow_call():
        outcome["reply"] = bridge_call(trio_runtime, "sleep", {"seconds": 3})

    caller = threading.Thread(target=slow_call)
    caller.start()
    wait_until(
        lambda: httpx.get(f"{trio_runtime.url}/health").json()["in_flight"] == 1,
        timeout=20,
        what="the slow call to start",
    )
    trio_runtime.process.send_signal(signal.SIGTERM)
    refused = wait_until(
        lambda: (
            (r := bridge_call(trio_runtime, "echo", {"message": "late"})).status_code == 503 and r
        ),
        timeout=20,
        what="new calls to be refused while draining",
    )
    assert refused.json()["started"] is False
    caller.join(timeout=60)
    reply = outcome["reply"]
    assert reply.status_code == 200, reply.text
    assert reply.json()["isError"] is False and reply.json()["structuredContent"]["slept"] == 3
    assert trio_runtime.process.wait(timeout=60) == 0
    row = RuntimeInstance.objects.get(port=trio_runtime.port)
    assert row.status == "down"


def _rows(request_id: str) -> list[ToolCall]:
    return list(ToolCall.objects.filter(request_id=request_id))


def test_a_bridged_call_is_recorded_once_by_the_runtime_that_ran_it(trio_runtime):
    body = bridge_body("echo", {"message": "on record"})
    reply = httpx.post(
        f"{trio_runtime.url}/internal/bridge/call", json=body, headers=trio_runtime.auth, timeout=60
    )
    assert reply.status_code == 200, reply.text
    rows = wait_until(lambda: _rows(body["request_id"]), timeout=30, what="the call's row")
    pid = httpx.get(f"{trio_runtime.url}/health").json()["pid"]
    assert [(r.runtime, r.pid, r.outcome, r.via, r.caller) for r in rows] == [
        ("trio", pid, "success", "test", "tester")
    ]


def test_a_bridged_call_stops_when_its_caller_goes_away(trio_runtime):
    body = bridge_body("sleep", {"seconds": 60}, budget=120)
    with pytest.raises(httpx.ReadTimeout):  # the caller gives up: its connection closes
        httpx.post(
            f"{trio_runtime.url}/internal/bridge/call",
            json=body,
            headers=trio_runtime.auth,
            timeout=httpx.Timeout(30, read=2),
        )
    wait_until(
        lambda: httpx.get(f"{trio_runtime.url}/health").json()["in_flight"] == 0,
        timeout=30,
        what="the runtime to stop the call",
    )
    rows = wait_until(lambda: _rows(body["request_id"]), timeout=30, what="the call's row")
    assert [(r.outcome, r.error) for r in rows] == [("cancelled", "the caller went away")]
    assert rows[0].duration_ms < 30_000  # stopped, not slept out
