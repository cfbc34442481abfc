"""Rate and concurrency limits (apps.ratelimits): rows made through the management API, one
check in the call path, and every door refusing the call over the limit in its own way."""

from __future__ import annotations

import json

import anyio
import pytest
import trio
from asgiref.sync import async_to_sync
from django.test import Client
from mcp import Client as McpClient
from mcp.shared.exceptions import MCPError

from apps.access.principals import Principal
from apps.access.services import create_api_token
from apps.audit.models import AuditEvent
from apps.peers.models import Peer
from apps.ratelimits import limiter
from apps.tools import registry
from apps.tools.call_service import RateLimited, call_tool
from apps.tools.mcp_server import CatalogueServer
from apps.tools.services import sync_tools
from trio_runtime.p2p.protocol import McpP2PServer

PEER_ID = "12D3KooWRateLimitPeer"
DOORS = ("rest_execute", "rest_v2", "legacy_mcp_tools_call", "mcp", "p2p")
CALLER = Principal(name="user:rl", kind="jwt", scopes=frozenset({"tools:read", "tools:call"}))
ECHO_3_PER_MINUTE = {"name": "echo-3", "tool": "echo", "principal": "*", "limit": 3}


@pytest.fixture(autouse=True)
def fresh_counts():
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture
def admin_client(transactional_db):
    _, secret = create_api_token(name="rl-admin", scopes=["admin", "tools:read", "tools:call"])
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def tools(transactional_db):
    sync_tools()
    _, CALLER_TOKEN["secret"] = create_api_token(
        name="rl-caller", scopes=["tools:read", "tools:call"]
    )
    Peer.objects.create(peer_id=PEER_ID, trusted=True, enabled=True)


def _post(client: Client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


CALLER_TOKEN: dict = {}


def _call(door: str, arguments: dict) -> tuple[int, dict, dict]:
    """Call echo through `door` as one caller: (HTTP status or 0, the reply, its headers)."""
    if door in ("rest_execute", "rest_v2", "legacy_mcp_tools_call"):
        secret = CALLER_TOKEN["secret"]
        client = Client(headers={"Authorization": f"Bearer {secret}"})
        path, body = {
            "rest_execute": ("/tools/execute/echo", arguments),
            "rest_v2": ("/api/v2/tools/echo/call", arguments),
            "legacy_mcp_tools_call": ("/mcp/tools/call", {"name": "echo", "arguments": arguments}),
        }[door]
        response = _post(client, path, body)
        return response.status_code, response.json(), dict(response.headers)
    if door == "mcp":
        server = CatalogueServer(principal=CALLER)

        async def call() -> dict:
            async with McpClient(server.server, mode="legacy") as client:
                try:
                    result = await client.call_tool("echo", arguments)
                except MCPError as exc:
                    return {"error": {"code": exc.error.code, "data": exc.error.data}}
                return {"isError": result.is_error}

        return 0, async_to_sync(call)(), {}
    server = McpP2PServer(server_info={"name": "rl-test"})
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    message["params"] = {"name": "echo", "arguments": arguments}
    reply, _ = trio.run(server._answer, message, PEER_ID, True)
    return 0, reply, {}


def _served(door: str, status: int, reply: dict) -> bool:
    if door in ("rest_execute", "rest_v2"):
        return status == 200
    if door == "legacy_mcp_tools_call":
        return status == 200 and reply["result"]["isError"] is False
    if door == "mcp":
        return reply == {"isError": False}
    return reply["result"]["isError"] is False


@pytest.mark.parametrize("door", DOORS)
def test_the_fourth_call_in_a_minute_is_refused_on_every_door(tools, admin_client, door):
    assert _post(admin_client, "/api/v2/rate-limits", ECHO_3_PER_MINUTE).status_code == 201
    for n in range(3):
        status, reply, _ = _call(door, {"message": f"call {n}"})
        assert _served(door, status, reply), (n, status, reply)

    status, reply, headers = _call(door, {"message": "one too many"})
    if door in ("rest_execute", "rest_v2"):
        assert status == 429
        assert 1 <= int(headers["Retry-After"]) <= 60
        assert reply["status_code"] == 429 and "echo-3" in reply["error"]  # the legacy body
        assert reply["retry_after"] == int(headers["Retry-After"])
    elif door == "legacy_mcp_tools_call":
        assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60
        assert reply["error"]["code"] == -32010
    elif door == "mcp":
        assert reply["error"]["code"] == -32010
        assert 1 <= reply["error"]["data"]["retry_after"] <= 60
        assert reply["error"]["data"]["limit"] == "echo-3"
    else:
        assert reply["error"]["code"] == -32010  # the P2P protocol's rate-limit code
        assert 1 <= reply["error"]["data"]["retry_after"] <= 60


def test_a_refused_call_is_counted_in_metrics_and_the_call_log(tools, admin_client, flushed_calls):
    flushed_calls().delete()  # calls queued by earlier tests are not this one's
    _post(admin_client, "/api/v2/rate-limits", {**ECHO_3_PER_MINUTE, "limit": 1})
    assert _call("rest_v2", {"message": "a"})[0] == 200
    assert _call("rest_v2", {"message": "b"})[0] == 429
    metrics = admin_client.get("/metrics").content.decode()
    assert 'mcp_platform_rate_limited_total{limit="echo-3",tool="echo"}' in metrics
    assert 'outcome="rate_limited",runtime="none",tool="echo"' in metrics
    assert flushed_calls().filter(tool_name="echo", outcome="rate_limited").count() == 1


def test_the_limit_is_per_caller_and_only_for_matching_tools_and_callers(tools, admin_client):
    rule = {**ECHO_3_PER_MINUTE, "limit": 1, "principal": "user:rl*"}
    assert _post(admin_client, "/api/v2/rate-limits", rule).status_code == 201
    other = Principal(name="user:other", kind="jwt", scopes=CALLER.scopes)
    second = Principal(name="user:rl2", kind="jwt", scopes=CALLER.scopes)

    def call(tool: str, arguments: dict, principal: Principal):
        return trio.run(call_tool, tool, arguments, principal, "test")

    assert not call("echo", {"message": "x"}, CALLER).is_error
    with pytest.raises(RateLimited):
        call("echo", {"message": "x"}, CALLER)
    assert not call("echo", {"message": "x"}, second).is_error  # its own count
    for _ in range(3):
        assert not call("echo", {"message": "x"}, other).is_error  # no row matches it
        assert not call("calculate", {"a": 1, "b": 2}, CALLER).is_error  # nor this tool


HOLD: dict = {}


async def _rl_hold() -> dict:
    """Stays in flight until the test lets it go."""
    HOLD["entered"] += 1
    if HOLD["entered"] == 2:
        HOLD["both_in"].set()
    await HOLD["release"].wait()
    return {"done": True}


@pytest.fixture
def hold_tool(transactional_db):
    registry.register(_rl_hold, name="rl_hold")
    sync_tools()
    yield
    registry.unregister("rl_hold")


def test_a_concurrency_limit_refuses_the_call_past_n_in_flight(hold_tool, admin_client):
    rule = {"name": "hold-2", "tool": "rl_*", "kind": "concurrency", "limit": 2}
    assert _post(admin_client, "/api/v2/rate-limits", rule).status_code == 201

    async def scenario() -> list:
        HOLD.update(entered=0, both_in=anyio.Event(), release=anyio.Event())
        results: list = []

        async def one() -> None:
            results.append(await call_tool("rl_hold", {}, CALLER, "test"))

        async with anyio.create_task_group() as group:
            group.start_soon(one)
            group.start_soon(one)
            with anyio.fail_after(30):
                await HOLD["both_in"].wait()
            with pytest.raises(RateLimited) as refused:
                await call_tool("rl_hold", {}, CALLER, "test")
            assert refused.value.details["limit"] == "hold-2"
            HOLD["release"].set()
        # Both ended: their slots are free again.
        results.append(await call_tool("rl_hold", {}, CALLER, "test"))
        return results

    results = async_to_sync(scenario)()
    assert [r.structured_content for r in results] == [{"done": True}] * 3


def test_the_api_validates_and_names_the_field(tools, admin_client):
    cases = [
        ({"name": "a", "tool": "echo"}, "limit"),
        ({"name": "a", "limit": 0}, "limit"),
        ({"name": "a", "limit": 10**30}, "limit"),
        ({"name": "a", "limit": 3, "window_seconds": 0}, "window_seconds"),
        ({"name": "a", "limit": 3, "kind": "bogus"}, "kind"),
        ({"name": "not a slug!", "limit": 3}, "name"),
        ({"name": "a", "limit": 3, "tool": ""}, "tool"),
    ]
    for body, field in cases:
        reply = _post(admin_client, "/api/v2/rate-limits", body)
        assert reply.status_code == 422, (body, reply.content)
        assert field in [e["field"] for e in reply.json()["errors"]], (body, reply.json())
    assert _post(admin_client, "/api/v2/rate-limits", ECHO_3_PER_MINUTE).status_code == 201
    duplicate = _post(admin_client, "/api/v2/rate-limits", ECHO_3_PER_MINUTE)
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["field"] == "name"

    _, reader = create_api_token(name="reader", scopes=["tools:read", "tools:call"])
    reader_client = Client(headers={"Authorization": f"Bearer {reader}"})
    refused = _post(reader_client, "/api/v2/rate-limits", {**ECHO_3_PER_MINUTE, "name": "b"})
    assert refused.status_code == 403


def test_changes_through_the_api_take_effect_at_once_and_are_audited(tools, admin_client):
    created = _post(admin_client, "/api/v2/rate-limits", {**ECHO_3_PER_MINUTE, "limit": 1})
    row = created.json()
    assert _call("rest_v2", {"message": "a"})[0] == 200
    assert _call("rest_v2", {"message": "b"})[0] == 429

    patched = admin_client.patch(
        f"/api/v2/rate-limits/{row['id']}", json.dumps({"limit": 5}), "application/json"
    )
    assert patched.status_code == 200 and patched.json()["limit"] == 5
    assert _call("rest_v2", {"message": "c"})[0] == 200
    assert admin_client.get(f"/api/v2/rate-limits/{row['id']}").json()["limit"] == 5
    assert [r["name"] for r in admin_client.get("/api/v2/rate-limits").json()] == ["echo-3"]

    assert admin_client.delete(f"/api/v2/rate-limits/{row['id']}").status_code == 204
    assert admin_client.get(f"/api/v2/rate-limits/{row['id']}").status_code == 404
    for _ in range(5):
        assert _call("rest_v2", {"message": "d"})[0] == 200

    target = "ratelimits.ratelimit:echo-3"
    events = AuditEvent.objects.filter(target__startswith="ratelimits.ratelimit")
    assert {e.action for e in events} >= {"create", "update", "delete"}, list(events.values())
    assert all(e.actor.startswith("token:rl-admin:") for e in events), [e.actor for e in events]
    assert events.filter(target=target).exists()


def test_the_admin_lists_filters_and_disables_limits_in_bulk(tools, admin_client, admin_user):
    for name in ("one", "two"):
        _post(admin_client, "/api/v2/rate-limits", {**ECHO_3_PER_MINUTE, "name": name, "limit": 1})
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get("/admin/ratelimits/ratelimit/?kind__exact=rate")
    assert page.status_code == 200 and b"one" in page.content and b"two" in page.content
    from apps.ratelimits.models import RateLimit

    ids = [str(pk) for pk in RateLimit.objects.values_list("pk", flat=True)]
    reply = browser.post(
        "/admin/ratelimits/ratelimit/",
        {"action": "disable_limits", "_selected_action": ids},
    )
    assert reply.status_code == 302
    assert not RateLimit.objects.filter(enabled=True).exists()
    for _ in range(3):  # the disabled rows no longer limit anyone
        assert _call("rest_v2", {"message": "x"})[0] == 200
