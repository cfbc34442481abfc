"""2025-era MCP sessions shared by every process that serves `/mcp` (MCP_PLATFORM_MCP_STATELESS:
nodes behind a load balancer without sticky sessions; a node's own web workers relay instead,
apps.tools.mcp_relay).

The SDK keeps a 2025-era session in the memory of the process that opened it, so behind such a
balancer the next request of a session may land where the session does not exist. Here a
session lives nowhere: its `Mcp-Session-Id` is a random nonce and an HMAC (Django's
`salted_hmac`, keyed by SECRET_KEY, which every worker shares) over the nonce and the
credential's subject. Any worker can check it, and it stays bound to the credential that opened
it: another token presenting it gets `404 Session not found`, as with in-memory sessions.

- `initialize` (POST, no session) is answered by the SDK's stateless manager; its reply gets a
  freshly minted `Mcp-Session-Id`.
- A POST with a valid session id is served statelessly by the SDK on whichever worker takes it.
  Nothing a session negotiates is needed again per request (the platform's handlers read the
  principal from the request, not from the session).
- The GET stream of a session is served here, on whichever worker takes it: it carries
  `notifications/tools/list_changed` (and prompts', resources') each time that worker's catalogue watcher sees the catalogue
  change (every worker watches the routing version), plus keep-alive comments.
- DELETE of a valid session is acknowledged; there is nothing to free.

What is lost against in-memory sessions: server-to-client requests on the GET stream (the
platform sends none), `resources/updated` for a session's subscriptions, and resuming a broken stream with `Last-Event-ID` (the client refetches
`tools/list` when it reconnects).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import anyio
from django.utils.crypto import constant_time_compare, salted_hmac
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    ToolsListChanged,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
SESSION_HEADER = b"mcp-session-id"
PROTOCOL_HEADER = b"mcp-protocol-version"
KEEPALIVE_SECONDS = 15.0
LIST_CHANGED = json.dumps(
    {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}, separators=(",", ":")
).encode()
# The lists a shared session's GET stream announces, by the watcher's event. (A shared session
# keeps no resource subscriptions: `resources/updated` needs one worker's session, or the 2026
# era's `subscriptions/listen`.)
LISTS_CHANGED = {
    ToolsListChanged: LIST_CHANGED,
    PromptsListChanged: LIST_CHANGED.replace(b"tools/", b"prompts/"),
    ResourcesListChanged: LIST_CHANGED.replace(b"tools/", b"resources/"),
}
_SALT = "apps.tools.mcp_sessions"


def mint_session_id(subject: str) -> str:
    """A new session id bound to `subject` (visible ASCII, as the spec asks)."""
    nonce = secrets.token_hex(16)
    return f"{nonce}.{_mac(nonce, subject)}"


def session_id_valid(session_id: str, subject: str) -> bool:
    nonce, dot, mac = session_id.partition(".")
    return bool(dot and nonce) and constant_time_compare(mac, _mac(nonce, subject))


def _mac(nonce: str, subject: str) -> str:
    return salted_hmac(_SALT, f"{nonce}:{subject}", algorithm="sha256").hexdigest()[:32]


async def session_not_found(send: Callable) -> None:
    """The spec's answer to a session id this server does not know: the client opens anew."""
    await _reply(
        send,
        404,
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}},
    )


def header(scope: Scope, name: bytes) -> str | None:
    """An ASGI request's header `name` (lower-case bytes), decoded; None when absent."""
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


async def serve(
    manager: StreamableHTTPSessionManager,
    bus: InMemorySubscriptionBus,
    scope: Scope,
    receive: Callable,
    send: Callable,
    *,
    subject: str,
) -> None:
    """Serve one `/mcp` request of the SSE manager with shared 2025-era sessions; `manager` is
    the SDK's stateless manager and `bus` the one the catalogue watcher publishes changes on."""
    version = header(scope, PROTOCOL_HEADER)
    if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
        await manager.handle_request(scope, receive, send)  # 2026-07-28: stateless by design
        return
    session_id = header(scope, SESSION_HEADER)
    if session_id is None:
        if scope["method"] == "POST":
            body = await _read_body(receive, limit=manager.max_request_body_size)
            if body is None:
                await _reply(send, 413, {"error": "request body too large"})
                return
            receive = _replay(body, receive)
            if _is_initialize(body):
                send = _with_session(send, mint_session_id(subject))
        await manager.handle_request(scope, receive, send)
        return
    if not session_id_valid(session_id, subject):
        await session_not_found(send)
        return
    if scope["method"] == "GET":
        await listen(bus, scope, receive, send, session_id=session_id)
        return
    if scope["method"] == "DELETE":
        await _reply(send, 200, None)
        return
    # The SDK's stateless transport knows no session ids: it gets the request without one.
    scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != SESSION_HEADER]}
    await manager.handle_request(scope, receive, _with_session(send, session_id))


async def listen(
    bus: InMemorySubscriptionBus,
    scope: Scope,
    receive: Callable,
    send: Callable,
    *,
    session_id: str,
) -> None:
    """A session's GET stream: `tools/list_changed` (and prompts', resources') on every catalogue
    change this worker sees,
    a comment every KEEPALIVE_SECONDS, until the client goes away."""
    accept = (header(scope, b"accept") or "").lower()
    if "text/event-stream" not in accept:
        await _reply(send, 406, {"error": "the GET stream needs Accept: text/event-stream"})
        return
    changes, changed = anyio.create_memory_object_stream[bytes](8)
    pending: set[bytes] = set()

    def on_event(event: ServerEvent) -> None:
        notice = LISTS_CHANGED.get(type(event))
        if notice is not None and notice not in pending:
            # One pending notice per list says it all: the client refetches the whole list.
            with contextlib.suppress(anyio.WouldBlock):
                changes.send_nowait(notice)
                pending.add(notice)

    unsubscribe = bus.subscribe(on_event)
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache, no-transform"),
                    (b"x-accel-buffering", b"no"),
                    (SESSION_HEADER, session_id.encode()),
                ],
            }
        )
        async with anyio.create_task_group() as tasks:

            async def until_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tasks.cancel_scope.cancel()

            tasks.start_soon(until_disconnect)
            while True:
                payload = b": keep-alive\n\n"
                with anyio.move_on_after(KEEPALIVE_SECONDS):
                    notice = await changed.receive()
                    pending.discard(notice)
                    payload = b"event: message\ndata: " + notice + b"\n\n"
                await send({"type": "http.response.body", "body": payload, "more_body": True})
    except OSError:  # the client went away mid-write
        pass
    finally:
        unsubscribe()
        changes.close()
        changed.close()


def _is_initialize(body: bytes) -> bool:
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(message, dict) and message.get("method") == "initialize"


async def _read_body(receive: Callable, *, limit: int) -> bytes | None:
    """The whole request body, or None past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Callable) -> Callable:
    """A `receive` that hands the already read body to the SDK, then the original's messages
    (the disconnect)."""
    sent = False

    async def replaying() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying


def _with_session(send: Callable, session_id: str) -> Callable:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != SESSION_HEADER]
            message = {**message, "headers": [*headers, (SESSION_HEADER, session_id.encode())]}
        await send(message)

    return sending


async def _reply(send: Callable, status: int, body: dict[str, Any] | None) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    headers = [(b"content-length", str(len(data)).encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
