"""Bounded fuzz of `/mcp` with malformed JSON-RPC: whatever the body, the endpoint answers a
4xx or a JSON-RPC error, never a 5xx, and keeps serving."""

import asyncio
import json
import random

import httpx
import pytest

from apps.tools.mcp_http import McpHttpEndpoint
from apps.tools.mcp_server import CatalogueServer

VALID = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "echo", "arguments": {"message": "x"}},
}
SHAPES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"[1,2]",
    b'"text"',
    b"\xff\xfe",
    b"[" * 5000 + b"]" * 5000,
    b'{"jsonrpc": "2.0"}',
    b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}',
    b'{"jsonrpc": "2.0", "id": {}, "method": "ping"}',
    b'{"jsonrpc": "2.0", "id": 1, "method": 5}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": []}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 1}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": 3}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "nope/nope"}',
    b'{"jsonrpc": "2.0", "id": 1e400, "method": "ping"}',
]


def mutations(count: int, seed: int = 1313) -> list[bytes]:
    rng = random.Random(seed)
    base = json.dumps(VALID).encode()
    out = []
    for _ in range(count):
        raw = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(raw))
            choice = rng.random()
            if choice < 0.4:
                raw[pos] = rng.randrange(32, 127)
            elif choice < 0.7:
                del raw[pos]
            else:
                raw[pos:pos] = rng.choice([b"{", b"}", b"[", b"]", b'"', b",", b":", b"null"])
        out.append(bytes(raw))
    return out


@pytest.mark.django_db(transaction=True)
def test_malformed_json_rpc_on_mcp_never_gets_a_5xx(make_token):
    from apps.tools.services import sync_tools

    sync_tools()
    token = make_token()
    endpoint = McpHttpEndpoint(CatalogueServer(via="mcp"), watch=False)
    bodies = SHAPES + mutations(120)

    async def run():
        async with endpoint.lifespan():
            transport = httpx.ASGITransport(app=endpoint)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                replies = []
                for body in bodies:
                    for accept in ("application/json", "application/json, text/event-stream"):
                        headers = {
                            "authorization": f"Bearer {token}",
                            "content-type": "application/json",
                            "accept": accept,
                            "mcp-protocol-version": "2025-06-18",
                        }
                        reply = await http.post("/mcp", content=body, headers=headers)
                        replies.append((body, reply))
                still = await http.post(
                    "/mcp",
                    json=VALID,
                    headers={"authorization": f"Bearer {token}", "accept": "application/json"},
                )
                return replies, still

    replies, still = asyncio.run(run())
    for body, reply in replies:
        assert reply.status_code < 500, (body[:80], reply.status_code, reply.text[:300])
    assert still.status_code == 200 and still.json()["result"]["isError"] is False
