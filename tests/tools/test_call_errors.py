"""One error taxonomy, one table: the same refused call leaves every door with the code the
table (apps.tools.call_errors.DOOR_CODES) gives it."""

from __future__ import annotations

import json

import pytest
import trio
from asgiref.sync import async_to_sync
from django.test import Client
from mcp import Client as McpClient
from mcp.shared.exceptions import MCPError

from apps.access.principals import Principal
from apps.access.services import create_api_token
from apps.peers.models import Peer
from apps.routing.services import update_runtime_settings
from apps.tools import registry
from apps.tools.call_errors import DOOR_CODES, CallError, from_kind
from apps.tools.mcp_server import CatalogueServer
from apps.tools.services import sync_tools
from trio_runtime.p2p.protocol import McpP2PServer

# Each case: the kind of error, the tool called, its arguments, and who may call what.
CASES = {
    "tool_not_found": ("no_such_tool", {"message": "m"}, ""),
    "call_denied": ("door_p2p_act", {}, "echo"),  # a peer may never call node-acting tools
    "invalid_arguments": ("echo", {"message": "m", "surplus": 1}, ""),
    "runtime_unavailable": ("door_trio_only", {}, ""),
}
DOORS = ("rest_execute", "rest_v2", "legacy_mcp_tools_call", "mcp", "p2p")
PEER_ID = "12D3KooWDoorTestPeer"


def _p2p_act() -> dict:
    return {}


def _trio_only() -> dict:
    return {}


@pytest.fixture
def door_tools(transactional_db):
    """The built-in tools, a node-acting P2P tool, and a trio-only tool while Trio is disabled
    (so calling it is `runtime_unavailable`, without any network)."""
    registry.register(_p2p_act, name="door_p2p_act", category="p2p")
    registry.register(_trio_only, name="door_trio_only", runtime="trio", fallback_allowed=False)
    builtin = ("apps.tools.tools", __name__)
    sync_tools(
        specs={n: s for n, s in registry.all_specs().items() if s.func.__module__ in builtin}
    )
    update_runtime_settings(changes={"trio_enabled": False})
    Peer.objects.create(peer_id=PEER_ID, trusted=True, enabled=True)
    yield
    registry.unregister("door_p2p_act")
    registry.unregister("door_trio_only")


def _through(door: str, tool: str, arguments: dict, allowed: str) -> tuple[int, dict]:
    """Call `tool` through `door`; (HTTP status or 0, the reply as the client sees it)."""
    scopes = ["tools:read", "tools:call"]
    if door in ("rest_execute", "rest_v2", "legacy_mcp_tools_call"):
        _, secret = create_api_token(name="door", scopes=scopes, allowed_tools=allowed)
        client = Client(headers={"Authorization": f"Bearer {secret}"})
        path, body = {
            "rest_execute": (f"/tools/execute/{tool}", arguments),
            "rest_v2": (f"/api/v2/tools/{tool}/call", arguments),
            "legacy_mcp_tools_call": ("/mcp/tools/call", {"name": tool, "arguments": arguments}),
        }[door]
        response = client.post(path, json.dumps(body), content_type="application/json")
        return response.status_code, response.json()
    if door == "mcp":
        patterns = tuple(p for p in allowed.split(",") if p)
        principal = Principal(
            name="door", kind="token", scopes=frozenset(scopes), tool_patterns=patterns
        )
        server = CatalogueServer(principal=principal)

        async def call() -> dict:
            async with McpClient(server.server, mode="legacy") as client:
                try:
                    result = await client.call_tool(tool, arguments)
                except MCPError as exc:
                    return {"error": {"code": exc.error.code}}
                return {"isError": result.is_error}

        return 0, async_to_sync(call)()
    server = McpP2PServer(server_info={"name": "door-test"})
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    message["params"] = {"name": tool, "arguments": arguments}
    reply, _ = trio.run(server._answer, message, PEER_ID, True)
    return 0, reply


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("kind", list(CASES))
def test_the_same_error_leaves_each_door_with_the_code_in_the_table(door_tools, kind, door):
    if door == "p2p" and kind == "runtime_unavailable":
        pytest.skip("P2P calls run on the Trio runtime itself: no runtime to be unavailable")
    tool, arguments, allowed = CASES[kind]
    codes = DOOR_CODES[kind]
    status, reply = _through(door, tool, arguments, allowed)
    if door in ("rest_execute", "rest_v2"):
        assert status == codes.http_status
        assert reply["status_code"] == codes.http_status and reply["error"]
    elif door == "legacy_mcp_tools_call":
        assert status == codes.http_status
        assert reply["jsonrpc"] == "2.0" and reply["error"]["code"] == codes.legacy_rpc_code
    elif door == "mcp":
        assert reply == (
            {"isError": True} if codes.mcp_is_result else {"error": {"code": codes.mcp_code}}
        )
    else:
        assert reply["error"]["code"] == codes.p2p_code


@pytest.mark.parametrize("kind", list(DOOR_CODES))
def test_the_bridge_carries_each_error_as_its_kind(kind):
    error = from_kind(kind, "refused", {"field": "x"})
    assert isinstance(error, CallError) and error.kind == kind
    assert error.details == {"field": "x"} and error.codes is DOOR_CODES[kind]
