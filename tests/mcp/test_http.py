"""MCP over Streamable HTTP at the web process's /mcp, with the official SDK client."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp.conftest import list_all, mcp_client

pytestmark = pytest.mark.slow


def test_legacy_session_lists_300_tools_over_pages_and_calls(mcp_node, new_token, bulk_tools):
    token = new_token()

    async def scenario():
        async with mcp_client(f"{mcp_node.url}/mcp", token, mode="legacy") as client:
            assert client.protocol_version == "2025-11-25"
            assert client.server_capabilities.tools.list_changed is True
            tools, pages = await list_all(client)
            names = [tool.name for tool in tools]
            assert pages >= 3
            assert names == sorted(names) and len(names) == len(set(names))
            assert set(bulk_tools) <= set(names) and {"echo", "calculate", "sleep"} <= set(names)

            calculate = next(tool for tool in tools if tool.name == "calculate")
            assert calculate.title == "Arithmetic"
            assert calculate.output_schema["properties"]["result"]["type"] == "number"
            assert calculate.annotations.read_only_hint is True
            assert calculate.input_schema["required"] == ["a", "b"]

            echoed = await client.call_tool("echo", {"message": "hi"})
            assert not echoed.is_error and echoed.structured_content == {"message": "hi"}
            summed = await client.call_tool("calculate", {"a": 2, "b": 40})
            assert summed.structured_content["result"] == 42

            failed = await client.call_tool("calculate", {"a": 1, "b": 0, "operation": "divide"})
            assert failed.is_error and "division by zero" in failed.content[0].text

            invalid = await client.call_tool("calculate", {"a": "not a number", "b": 1})
            assert invalid.is_error and "a:" in invalid.content[0].text

            with pytest.raises(MCPError) as unknown:
                await client.call_tool("no_such_tool", {})
            assert (
                unknown.value.error.code == -32602 and "no_such_tool" in unknown.value.error.message
            )

            with pytest.raises(MCPError) as bad_cursor:
                await client.list_tools(cursor="%%% not ours", cache_mode="bypass")
            assert bad_cursor.value.error.code == -32602

            bulk = await client.call_tool("bulk_299", {"value": 7})
            assert bulk.structured_content == {"index": 299, "value": 7}

    anyio.run(scenario)


def test_a_2026_stateless_sequence_and_a_2025_session_work_on_the_same_server(mcp_node, new_token):
    token = new_token()
    url = f"{mcp_node.url}/mcp"

    async def scenario():
        # "auto" probes server/discover at 2026-07-28 and stays there when it is served.
        async with mcp_client(url, token, mode="auto") as modern:
            discovered = modern.session.discover_result
            assert discovered is not None and "2026-07-28" in discovered.supported_versions
            assert modern.server_capabilities.tools.list_changed is True
            assert modern.server_info.name == "mcp-platform"
            tools, _ = await list_all(modern)
            assert "echo" in [tool.name for tool in tools]
            reply = await modern.call_tool("echo", {"message": "modern"})
            assert reply.structured_content == {"message": "modern"}
            assert modern.protocol_version == "2026-07-28"
        async with mcp_client(url, token, mode="legacy") as legacy:
            assert legacy.protocol_version == "2025-11-25"
            await legacy.session.send_ping()
            reply = await legacy.call_tool("echo", {"message": "legacy"})
            assert reply.structured_content == {"message": "legacy"}

    anyio.run(scenario)

    # The 2026 era on the wire: one POST per request, no session id, cacheable results.
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
    }
    with httpx.Client(timeout=30) as http:
        for method, params in (
            ("server/discover", {}),
            ("tools/list", {}),
            ("tools/call", {"name": "echo", "arguments": {"message": "raw"}}),
        ):
            extra = {"Mcp-Method": method}
            if method == "tools/call":
                extra["Mcp-Name"] = "echo"
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": method,
                "params": {**params, "_meta": meta},
            }
            reply = http.post(url, json=body, headers={**headers, **extra})
            assert reply.status_code == 200, reply.text
            assert "mcp-session-id" not in reply.headers
            result = _jsonrpc_result(reply)
            if method == "tools/call":
                assert result["structuredContent"] == {"message": "raw"}


def _jsonrpc_result(reply: httpx.Response) -> dict:
    """The result of a JSON or single-event SSE reply."""
    import json

    if reply.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in reply.text.splitlines() if line.startswith("data:")]
        messages = [json.loads(item) for item in data if item.strip()]
        message = next(m for m in messages if "result" in m or "error" in m)
    else:
        message = reply.json()
    assert "result" in message, message
    return message["result"]


def test_a_plain_json_rpc_client_gets_json_replies_without_a_session(mcp_node, new_token):
    token = new_token()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = f"{mcp_node.url}/mcp"
    init = {
        "protocolVersion": "2024-11-05",
        "capabilities": {},
        "clientInfo": {"name": "legacy", "version": "1"},
    }
    with httpx.Client(timeout=30) as http:
        for number, (method, params) in enumerate(
            (
                ("initialize", init),
                ("tools/list", {}),
                ("tools/call", {"name": "echo", "arguments": {"message": "plain"}}),
            )
        ):
            body = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
            reply = http.post(url, json=body, headers=headers)
            assert reply.status_code == 200, reply.text
            assert reply.headers["content-type"].startswith("application/json")
            result = reply.json()["result"]
            if method == "initialize":
                assert result["protocolVersion"] == "2024-11-05"
            if method == "tools/list":
                assert len(result["tools"]) == 100 and result["nextCursor"]
            if method == "tools/call":
                assert result == {
                    "content": [{"type": "text", "text": '{"message": "plain"}'}],
                    "structuredContent": {"message": "plain"},
                    "isError": False,
                    "_meta": result["_meta"],
                }
        # No Accept header at all is a plain JSON-RPC client too.
        body = {"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}}
        bare = http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        assert bare.status_code == 200 and bare.json()["result"]["tools"]


def test_access_on_mcp_tokens_scopes_patterns_and_origin(mcp_node, new_token):
    url = f"{mcp_node.url}/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with httpx.Client(timeout=30) as http:
        anonymous = http.post(url, json=body, headers={"Accept": "application/json"})
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        wrong = http.post(
            url, json=body, headers={"Accept": "application/json", "Authorization": "Bearer nope"}
        )
        assert (
            wrong.status_code == 401
            and 'error="invalid_token"' in wrong.headers["www-authenticate"]
        )

        good = {"Accept": "application/json", "Authorization": f"Bearer {new_token()}"}
        foreign = http.post(url, json=body, headers={**good, "Origin": "https://evil.example"})
        assert foreign.status_code == 403
        own = http.post(url, json=body, headers={**good, "Origin": mcp_node.url})
        assert own.status_code == 200
        assert own.headers["access-control-allow-origin"] == mcp_node.url

        # A 2025-era session belongs to the token that opened it.
        streaming = {"Accept": "application/json, text/event-stream"}
        opened = http.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "owner", "version": "1"},
                },
            },
            headers={**streaming, "Authorization": good["Authorization"]},
        )
        session = {"Mcp-Session-Id": opened.headers["mcp-session-id"]}
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        other = {**streaming, **session, "Authorization": f"Bearer {new_token()}"}
        assert http.post(url, json=ping, headers=other).status_code == 404
        owner = {**streaming, **session, "Authorization": good["Authorization"]}
        assert http.post(url, json=ping, headers=owner).status_code == 200

    read_only = new_token(scopes=("tools:read",))
    echo_only = new_token(allowed_tools="echo*")

    async def scenario():
        async with mcp_client(url, read_only) as client:
            tools, _ = await list_all(client)
            assert "echo" in [tool.name for tool in tools]
            with pytest.raises(MCPError) as denied:
                await client.call_tool("echo", {"message": "no"})
            assert denied.value.error.code == -32001 and "tools:call" in denied.value.error.message
        async with mcp_client(url, echo_only) as client:
            tools, pages = await list_all(client)
            assert [tool.name for tool in tools] == ["echo"] and pages == 1
            assert (await client.call_tool("echo", {"message": "yes"})).structured_content
            with pytest.raises(MCPError):
                await client.call_tool("calculate", {"a": 1, "b": 2})

    anyio.run(scenario)
