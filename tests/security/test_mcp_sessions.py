"""Bounded MCP sessions: a caller may hold at most MCP_PLATFORM_MCP_SESSIONS_PER_CALLER open
2025-era sessions; the next `initialize` is refused with a message naming the limit, while
another caller still opens sessions. The `/mcp` endpoint runs in-process with its lifespan."""

import asyncio

import httpx
import pytest

from apps.tools.mcp_http import McpHttpEndpoint
from apps.tools.mcp_server import CatalogueServer

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "cap-test", "version": "1"},
    },
}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def open_sessions(tokens: list[str]) -> list[httpx.Response]:
    endpoint = McpHttpEndpoint(CatalogueServer(via="mcp"), watch=False)

    async def run() -> list[httpx.Response]:
        async with endpoint.lifespan():
            transport = httpx.ASGITransport(app=endpoint)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                return [
                    await http.post(
                        "/mcp",
                        json=INITIALIZE,
                        headers={**HEADERS, "authorization": f"Bearer {token}"},
                    )
                    for token in tokens
                ]

    return asyncio.run(run())


@pytest.mark.django_db(transaction=True)
def test_a_caller_holds_at_most_its_share_of_sessions_and_others_still_get_theirs(
    settings, make_token
):
    settings.MCP_PLATFORM_MCP_SESSIONS_PER_CALLER = 3
    greedy, other = make_token(), make_token()
    replies = open_sessions([greedy] * 5 + [other])
    statuses = [r.status_code for r in replies]
    assert statuses == [200, 200, 200, 429, 429, 200], [r.text for r in replies]
    assert all(r.headers.get("mcp-session-id") for r in replies[:3] + replies[5:])
    refused = replies[3].json()
    assert "at most 3" in refused["error"]["message"]
    assert replies[3].headers["retry-after"]


def test_the_session_limits_come_from_the_settings(settings):
    settings.MCP_PLATFORM_MCP_SESSION_IDLE_SECONDS = 42
    settings.MCP_PLATFORM_MCP_MAX_SESSIONS = 7
    endpoint = McpHttpEndpoint(CatalogueServer(via="mcp"), watch=False)

    async def run():
        async with endpoint.lifespan():
            return endpoint._manager.session_idle_timeout, endpoint._manager.max_sessions

    assert asyncio.run(run()) == (42, 7)
