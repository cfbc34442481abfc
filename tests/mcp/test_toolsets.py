"""Toolsets (virtual servers) on a running node: the management API validates and lists them,
each is its own MCP endpoint at /mcp/<slug> (display names and descriptions overridden, its own
list_changed), and a token bound to one sees and calls only its tools on /mcp/<slug>, /mcp and
REST (official SDK client, real node)."""

from __future__ import annotations

import uuid

import anyio
import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from apps.access.models import ApiToken
from apps.toolsets.models import Toolset
from tests.mcp.conftest import list_all, mcp_client

pytestmark = pytest.mark.slow

BULK = [f"bulk_00{i}" for i in range(10)]  # what the glob bulk_00? takes in
EXPECTED = {"echo", *BULK}


def _api(node, method: str, path: str, token: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.request(method, f"{node.url}{path}", headers=headers, timeout=30, **kwargs)


def _set_enabled(node, admin: str, name: str, enabled: bool) -> None:
    reply = _api(node, "PATCH", f"/api/v2/tools/{name}", admin, json={"enabled": enabled})
    assert reply.status_code == 200, reply.text


@pytest.fixture
def toolset(mcp_node, new_token):
    """A toolset made through the API: echo (with overrides) and bulk_000..bulk_009."""
    admin = new_token(scopes=("admin",))
    slug = f"ts-{uuid.uuid4().hex[:8]}"
    body = {
        "slug": slug,
        "title": "Curated",
        "tools": [
            {"tool": "echo", "display_name": "Say it back", "description": "Curated echo."},
            "bulk_00?",
        ],
    }
    created = _api(mcp_node, "POST", "/api/v2/toolsets", admin, json=body)
    assert created.status_code == 201, created.text
    yield slug, admin
    _api(mcp_node, "DELETE", f"/api/v2/toolsets/{slug}", admin)


def _bound_token(new_token, slug: str) -> str:
    secret = new_token()
    ApiToken.objects.get(prefix=secret[:11]).toolsets.add(Toolset.objects.get(slug=slug))
    return secret


def test_the_api_validates_and_lists_resolved_tools(mcp_node, new_token, toolset):
    slug, admin = toolset
    shown = _api(mcp_node, "GET", f"/api/v2/toolsets/{slug}", admin).json()
    assert shown["endpoint"] == f"/mcp/{slug}"
    assert {tool["name"] for tool in shown["tools"]} == EXPECTED
    echo = next(tool for tool in shown["tools"] if tool["name"] == "echo")
    assert echo == {"name": "echo", "title": "Say it back", "description": "Curated echo."}
    listed = _api(mcp_node, "GET", "/api/v2/toolsets", admin).json()
    assert slug in [item["slug"] for item in listed["items"]] and listed["count"] >= 1

    def refused(body: dict, field: str) -> None:
        reply = _api(mcp_node, "POST", "/api/v2/toolsets", admin, json=body)
        assert reply.status_code == 422, reply.text
        assert field in [error["field"] for error in reply.json()["errors"]], reply.json()

    for reserved in ("tools", "discover", "p2p"):
        refused({"slug": reserved, "title": "x", "tools": []}, "slug")
    refused({"slug": "Not A Slug", "title": "x", "tools": []}, "slug")
    refused({"slug": slug, "title": "again", "tools": []}, "slug")  # taken
    refused({"slug": "fine-slug", "title": "", "tools": []}, "title")
    refused(
        {"slug": "fine-slug", "title": "x", "tools": [{"tool": "e*", "display_name": "E"}]}, "tools"
    )
    refused({"slug": "fine-slug", "title": "x", "tools": [""]}, "tools")
    missing = _api(mcp_node, "POST", "/api/v2/toolsets", admin, json={"slug": "fine-slug"})
    assert missing.status_code == 422 and "title" in missing.text

    reader = new_token(scopes=("tools:read",))
    body = {"slug": "by-reader", "title": "x", "tools": []}
    assert _api(mcp_node, "POST", "/api/v2/toolsets", reader, json=body).status_code == 403
    assert _api(mcp_node, "GET", "/api/v2/toolsets/no-such", admin).status_code == 404
    patched = _api(mcp_node, "PATCH", f"/api/v2/toolsets/{slug}", admin, json={"tools": ["echo"]})
    assert patched.status_code == 200 and [t["name"] for t in patched.json()["tools"]] == ["echo"]
    assert not Toolset.objects.filter(slug="fine-slug").exists()


def test_a_bound_token_sees_and_calls_only_its_toolset_on_every_door(mcp_node, new_token, toolset):
    slug, _ = toolset
    token = _bound_token(new_token, slug)

    tools = _api(mcp_node, "GET", "/api/v2/tools/", token).json()
    assert {tool["name"] for tool in tools} == EXPECTED
    assert _api(mcp_node, "POST", "/tools/execute/echo", token, json={"message": "hi"}).is_success
    other = _api(mcp_node, "POST", "/tools/execute/calculate", token, json={"a": 1, "b": 2})
    assert other.status_code in (403, 404), other.text
    assert _api(mcp_node, "GET", "/mcp/discover", token).status_code == 200  # legacy route
    job = {"tool": "calculate", "arguments": {"a": 1, "b": 2}}
    assert _api(mcp_node, "POST", "/api/v2/jobs", token, json=job).status_code in (403, 404)
    job = {"tool": "echo", "arguments": {"message": "later"}}
    assert _api(mcp_node, "POST", "/api/v2/jobs", token, json=job).status_code == 202

    async def scenario():
        for url in (f"{mcp_node.url}/mcp", f"{mcp_node.url}/mcp/{slug}"):
            for mode in ("legacy", "auto"):
                async with mcp_client(url, token, mode=mode) as client:
                    listed, _ = await list_all(client)
                    assert {tool.name for tool in listed} == EXPECTED, (url, mode)
                    echoed = await client.call_tool("echo", {"message": "hi"})
                    assert echoed.structured_content == {"message": "hi"}
                    with pytest.raises(MCPError):
                        await client.call_tool("calculate", {"a": 1, "b": 2})
                    with pytest.raises(MCPError):
                        await client.call_tool("bulk_100", {"value": 1})

    anyio.run(scenario)


def test_the_toolset_endpoint_narrows_any_token_and_shows_the_overrides(
    mcp_node, new_token, toolset
):
    slug, _ = toolset
    token = new_token()  # bound to nothing: sees the whole catalogue on /mcp

    async def scenario():
        async with mcp_client(f"{mcp_node.url}/mcp/{slug}", token, mode="legacy") as client:
            listed, _ = await list_all(client)
            assert {tool.name for tool in listed} == EXPECTED
            echo = next(tool for tool in listed if tool.name == "echo")
            assert echo.title == "Say it back" and echo.description == "Curated echo."
            bulk = next(tool for tool in listed if tool.name == "bulk_001")
            assert bulk.description  # no override: the tool's own
            with pytest.raises(MCPError):
                await client.call_tool("calculate", {"a": 1, "b": 2})
        async with mcp_client(f"{mcp_node.url}/mcp", token, mode="legacy") as client:
            names = {tool.name for tool in (await list_all(client))[0]}
            assert "calculate" in names and len(names) > len(EXPECTED)

    anyio.run(scenario)
    missing = httpx.post(
        f"{mcp_node.url}/mcp/no-such-toolset",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert missing.status_code == 404
    anonymous = httpx.post(f"{mcp_node.url}/mcp/{slug}", json={}, timeout=30)
    assert (
        anonymous.status_code == 401
        and "resource_metadata" in anonymous.headers["www-authenticate"]
    )


def test_the_toolset_endpoint_tells_its_sessions_when_its_own_list_changes(
    mcp_node, new_token, toolset
):
    slug, admin = toolset
    token = new_token()
    changed = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async def scenario():
        nonlocal changed
        url = f"{mcp_node.url}/mcp/{slug}"
        async with mcp_client(url, token, mode="legacy", message_handler=on_message) as client:
            assert {tool.name for tool in (await list_all(client))[0]} == EXPECTED
            await anyio.sleep(0.5)  # the client opens its GET stream after the handshake
            # A change outside the toolset is not its news (/mcp hears of it, this does not).
            await anyio.to_thread.run_sync(_set_enabled, mcp_node, admin, "bulk_150", False)
            await anyio.sleep(3)
            assert not changed.is_set()
            # A member tool disabled is.
            await anyio.to_thread.run_sync(_set_enabled, mcp_node, admin, "bulk_001", False)
            with anyio.fail_after(15):
                await changed.wait()
            assert "bulk_001" not in {tool.name for tool in (await list_all(client))[0]}
            changed = anyio.Event()
            body = {"tools": ["echo", "calculate"]}
            reply = await anyio.to_thread.run_sync(
                lambda: _api(mcp_node, "PATCH", f"/api/v2/toolsets/{slug}", admin, json=body)
            )
            assert reply.status_code == 200, reply.text
            with anyio.fail_after(15):
                await changed.wait()
            assert {tool.name for tool in (await list_all(client))[0]} == {"echo", "calculate"}

    try:
        anyio.run(scenario)
    finally:
        _set_enabled(mcp_node, admin, "bulk_150", True)
        _set_enabled(mcp_node, admin, "bulk_001", True)
