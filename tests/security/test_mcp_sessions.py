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


@pytest.mark.django_db(transaction=True)
def test_shared_sessions_work_on_any_process_and_stay_bound_to_their_token(make_token):
    """MCP_PLATFORM_MCP_STATELESS (apps.tools.mcp_sessions): two endpoints stand for two
    processes behind a balancer; a session opened on one is served by the other, and only for
    the token that opened it."""
    owner, other = make_token(), make_token()
    first = McpHttpEndpoint(CatalogueServer(via="mcp"), stateless=True, watch=False)
    second = McpHttpEndpoint(CatalogueServer(via="mcp"), stateless=True, watch=False)
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}

    async def run() -> dict[str, int | str]:
        async with first.lifespan(), second.lifespan():
            clients = [
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=endpoint), base_url="http://127.0.0.1"
                )
                for endpoint in (first, second)
            ]
            async with clients[0] as one, clients[1] as two:
                opened = await one.post(
                    "/mcp", json=INITIALIZE, headers={**HEADERS, "authorization": f"Bearer {owner}"}
                )
                session = opened.headers["mcp-session-id"]

                async def post(token: str, session_id: str, method: str = "POST") -> int:
                    headers = {
                        **HEADERS,
                        "authorization": f"Bearer {token}",
                        "mcp-session-id": session_id,
                        "mcp-protocol-version": "2025-06-18",
                    }
                    if method == "DELETE":
                        return (await two.delete("/mcp", headers=headers)).status_code
                    return (await two.post("/mcp", json=listing, headers=headers)).status_code

                nonce = session.partition(".")[0]
                return {
                    "opened": opened.status_code,
                    "session": session,
                    "elsewhere": await post(owner, session),
                    "other token": await post(other, session),
                    "forged": await post(owner, f"{nonce}.{'0' * 32}"),
                    "deleted": await post(owner, session, "DELETE"),
                }

    seen = asyncio.run(run())
    assert seen["opened"] == 200 and "." in seen["session"], seen
    assert seen["elsewhere"] == 200, seen
    assert (seen["other token"], seen["forged"], seen["deleted"]) == (404, 404, 200), seen
