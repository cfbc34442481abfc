"""Nothing a client sends answers 500: the cases the security review found, and a bounded fuzz
of the P2P frame parser (a stream reads frames from bytes the peer chose)."""

import asyncio
import json
import random
import struct
from datetime import timedelta

import httpx
import pytest
import trio
from django.utils import timezone

from trio_runtime.p2p import framing
from trio_runtime.p2p.framing import BadFrame, decode_frame_body


def test_a_missing_static_file_is_404_with_the_error_body():
    from mcp_platform.asgi import application

    async def get():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.get("/static/no/such/file.css")

    reply = asyncio.run(get())
    assert reply.status_code == 404
    assert reply.json()["status_code"] == 404 and reply.json()["error"]


def test_a_jobs_offset_past_the_database_range_is_422(make_token, client_for):
    reply = client_for(make_token()).get("/api/v2/jobs?offset=9223372036854775808")
    assert reply.status_code == 422
    assert reply.json()["error"]
    assert client_for(make_token()).get("/api/v2/jobs?offset=-1").status_code == 422


@pytest.mark.django_db(transaction=True)
def test_a_valid_token_with_a_host_not_allowed_is_400_not_500(make_token):
    """The API paths skip Django's host-checking middleware: the bearer check meets the bad
    Host itself (served through the real ASGI app, as Uvicorn serves it)."""
    from mcp_platform.asgi import application

    token = make_token()

    async def get():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://evil.example") as http:
            return await http.get("/tools/list", headers={"Authorization": f"Bearer {token}"})

    reply = asyncio.run(get())
    assert reply.status_code == 400, reply.content[:300]
    assert "Invalid Host header" in reply.json()["error"]


def test_a_new_api_tokens_secret_is_shown_but_never_put_in_a_cookie(admin_user):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    reply = client.post(
        "/admin/access/apitoken/add/",
        {"name": "ci", "scopes": ["tools:read"], "allowed_tools": "", "expires_at": ""},
        follow=True,
    )
    assert reply.status_code == 200
    page = reply.content.decode()
    assert "Copy it now" in page
    secret = page.split("it is not shown again: ")[1].split("<")[0].strip()
    assert secret.startswith("mcpp_")
    cookies = " ".join(f"{c.key}={c.value}" for c in client.cookies.values())
    assert secret not in cookies and "messages=" not in cookies
    # The secret was never sent in a Set-Cookie either (the redirect's headers).
    redirect = Client()
    redirect.force_login(admin_user)
    first = redirect.post(
        "/admin/access/apitoken/add/",
        {"name": "ci2", "scopes": ["tools:read"], "allowed_tools": "", "expires_at": ""},
    )
    assert first.status_code == 302
    assert "mcpp_" not in str(first.cookies)


class BytesStream:
    """The peer's side of a libp2p stream, reduced to the bytes it sends and what we answer."""

    def __init__(self, data: bytes):
        self.data, self.written = bytearray(data), bytearray()

    async def read(self, n: int) -> bytes:
        chunk, self.data = bytes(self.data[:n]), self.data[n:]
        return chunk

    async def write(self, data: bytes) -> None:
        self.written += data

    def replies(self) -> list:
        out, buf = [], bytes(self.written)
        while buf:
            (length,) = struct.unpack(">I", buf[:4])
            out.append(json.loads(buf[4 : 4 + length]))
            buf = buf[4 + length :]
        return out


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


@pytest.mark.parametrize("depth", [65, 5000, 200_000])
def test_a_deeply_nested_frame_is_a_protocol_error_reply(depth):
    from trio_runtime.p2p.protocol import FRAMING_ERROR, McpP2PServer

    body = b"[" * depth + b"]" * depth
    with pytest.raises(BadFrame):
        decode_frame_body(body)
    stream = BytesStream(frame(body))
    server = McpP2PServer(server_info={"name": "test"})
    trio.run(server._serve, stream, "12D3KooWfuzzer")
    (reply,) = stream.replies()
    assert reply["error"]["code"] == FRAMING_ERROR
    assert reply["id"] is None


def test_nesting_within_the_limit_parses():
    depth = framing.MAX_NESTING
    assert decode_frame_body(b"[" * depth + b"]" * depth) == eval("[" * depth + "]" * depth)


def test_the_frame_parser_answers_random_bytes_with_a_value_or_badframe():
    """Bounded fuzz: mutated JSON-RPC frames and random bytes only ever parse or raise
    BadFrame; the stream server answers every unparsable one with a protocol error."""
    from trio_runtime.p2p.protocol import FRAMING_ERROR, McpP2PServer

    rng = random.Random(1313)
    seed = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"a": [1, 2]}})
    samples = []
    for _ in range(400):
        raw = bytearray(seed.encode())
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(raw) + 1)
            if op < 0.4 and raw:
                raw[min(pos, len(raw) - 1)] = rng.randrange(256)
            elif op < 0.7:
                raw[pos:pos] = bytes(rng.choice(b'[]{}",:\\0123456789e-+. \xff\x00'))
            elif raw:
                del raw[min(pos, len(raw) - 1)]
        samples.append(bytes(raw))
    samples += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))) for _ in range(100)]
    for body in samples:
        try:
            decode_frame_body(body)
        except BadFrame:
            stream = BytesStream(frame(body))
            trio.run(McpP2PServer(server_info={"name": "t"})._serve, stream, "12D3KooWfuzzer")
            (reply,) = stream.replies()
            assert reply["error"]["code"] == FRAMING_ERROR


@pytest.mark.django_db
def test_untrusted_inbound_peers_gone_longer_than_the_ttl_are_pruned_in_bounded_rounds():
    from apps.peers.models import P2PSettings, Peer
    from apps.peers.services import prune_gone_peers

    P2PSettings.objects.update_or_create(pk=1, defaults={"peer_ttl": 600})
    long_ago = timezone.now() - timedelta(hours=2)
    Peer.objects.bulk_create(
        Peer(peer_id=f"12D3KooWgone{i}", source="inbound", status="unreachable", last_seen=long_ago)
        for i in range(7)
    )
    kept = [
        Peer(peer_id="12D3KooWrecent", source="inbound", status="unreachable"),
        Peer(peer_id="12D3KooWtrusted", source="inbound", trusted=True, last_seen=long_ago),
        Peer(peer_id="12D3KooWmanual", source="manual", status="unreachable", last_seen=long_ago),
        Peer(peer_id="12D3KooWlive", source="inbound", status="connected", last_seen=long_ago),
    ]
    Peer.objects.bulk_create(kept)
    # Rows untouched for two hours, but the recent one.
    Peer.objects.exclude(peer_id="12D3KooWrecent").update(updated_at=long_ago)
    Peer.objects.filter(peer_id="12D3KooWrecent").update(last_seen=timezone.now())
    assert prune_gone_peers(limit=5) == 5
    assert prune_gone_peers(limit=5) == 2
    assert prune_gone_peers(limit=5) == 0
    assert set(Peer.objects.values_list("peer_id", flat=True)) == {p.peer_id for p in kept}


def test_a_value_the_database_cannot_store_is_422_not_500(make_token, client_for):
    """Found by schemathesis on PostgreSQL: a NUL character in a text field."""
    client = client_for(make_token(scopes=("tools:read", "tools:call", "admin")))
    reply = client.post(
        "/api/v2/routing/rules",
        {"name_pattern": "a\x00b", "runtime": "asyncio", "enabled": False},
        content_type="application/json",
    )
    assert reply.status_code in (201, 422), reply.content
    assert reply.json().get("error") or reply.json().get("id")
