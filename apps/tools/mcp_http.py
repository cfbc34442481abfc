"""MCP over Streamable HTTP: the SDK's session manager as an ASGI endpoint, behind our checks.

Before the SDK sees a request, the endpoint checks the `Host` (Django's ALLOWED_HOSTS) and the
`Origin` (MCP_CORS_ORIGINS, or the host's own), answers CORS preflights, and authenticates the
bearer token (401 + `WWW-Authenticate: Bearer` naming the RFC 9728 resource metadata without a
valid one; an OAuth token must have been granted for this endpoint). The principal rides in the
ASGI scope to the handlers of `mcp_server`, and binds a 2025-era session to its credential.

Two session managers serve one server: the main one (SSE replies, 2025-era sessions with
`Mcp-Session-Id`, and the per-request 2026-07-28 era), and a stateless JSON one for plain
JSON-RPC clients (a POST that does not accept `text/event-stream` and carries no session), so
the legacy server's clients still get JSON replies without a handshake. With several web
workers each keeps the 2025-era sessions it opened and relays the requests of the others'
(apps.tools.mcp_relay); with MCP_PLATFORM_MCP_STATELESS the main manager is stateless and
sessions are shared (apps.tools.mcp_sessions).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import sniffio
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers

from apps.access.principal_cache import aresolve_principal
from apps.access.principals import SCOPE_CALL, SCOPE_READ, Principal
from apps.access.services import AuthenticationFailed
from apps.oauth.selectors import resource_metadata_url
from apps.oauth.services import token_serves
from apps.tools import mcp_events, mcp_relay, mcp_sessions
from apps.tools.mcp_events import ResumableSessionManager
from apps.tools.mcp_server import PRINCIPAL_SCOPE_KEY, CatalogueServer

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
SESSION_HEADER = "mcp-session-id"
CORS_ALLOW_HEADERS = (
    "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, mcp-method, "
    "mcp-name, last-event-id"
)
CORS_EXPOSE_HEADERS = "mcp-session-id, mcp-protocol-version, www-authenticate"
TRUE = {"1", "true", "yes", "on"}


def shared_sessions_from_env() -> bool:
    """MCP_PLATFORM_MCP_STATELESS: 2025-era sessions shared statelessly by every process
    (apps.tools.mcp_sessions), for nodes behind a load balancer without sticky sessions."""
    return os.environ.get("MCP_PLATFORM_MCP_STATELESS", "").strip().lower() in TRUE


def web_sessions_from_env() -> tuple[bool, mcp_relay.SessionRelay | None]:
    """(stateless, relay) for the web process's endpoints: shared sessions when asked for;
    otherwise each of several web workers (`runplatform` sets MCP_PLATFORM_WEB_WORKERS) keeps
    the sessions it opened and relays the requests of the others' (apps.tools.mcp_relay), and
    shares them only when no relay socket path fits."""
    if shared_sessions_from_env():
        return True, None
    relay = mcp_relay.for_web_workers()
    return relay is None and mcp_relay.several_web_workers(), relay


async def _reply(
    send: Callable,
    status: int,
    body: dict[str, Any] | None,
    headers: list[tuple[bytes, bytes]] = (),
) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    start_headers = [*headers]
    if body is not None:
        start_headers.append((b"content-type", b"application/json"))
    start_headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": data})


def _jsonrpc_error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


def _access_token(principal: Principal, authorization: str) -> AccessToken:
    """The SDK's view of the caller: a session stays bound to the credential that opened it."""
    credential = authorization.partition(" ")[2].strip()
    # A user's JWTs and OAuth tokens are interchangeable (refresh keeps the session); an API
    # token is itself.
    subject = (
        principal.name
        if principal.kind in ("jwt", "oauth")
        else hashlib.sha256(credential.encode()).hexdigest()
    )
    return AccessToken(
        token=credential, client_id="mcp-platform", subject=subject, scopes=sorted(principal.scopes)
    )


class McpHttpEndpoint:
    """The `/mcp` ASGI app of a process, with the lifespan that runs its session managers."""

    def __init__(
        self,
        catalogue: CatalogueServer,
        *,
        stateless: bool = False,
        relay: mcp_relay.SessionRelay | None = None,
        watch: bool = True,
    ):
        self.catalogue = catalogue
        self.stateless = stateless
        self.relay = relay  # several web workers: each keeps its sessions, relays the others'
        assert not (stateless and relay), "shared sessions are not relayed"
        # Without `watch`, the process tells `catalogue.watcher.notify()` of changes itself.
        self.watch = watch
        # A tool may end its call's SSE stream (mcp_events.close_sse_stream).
        if mcp_events.middleware not in catalogue.server.middleware:
            catalogue.server.middleware.append(mcp_events.middleware)
        self._manager: StreamableHTTPSessionManager | None = None
        self._json_manager: StreamableHTTPSessionManager | None = None
        self._lifespan_entered = False
        self._lazy_start: Any = None  # (task, ready event) when started without a lifespan

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the session managers and the catalogue watcher (a manager runs only once: each
        lifespan makes new ones)."""
        self._lifespan_entered = True
        server = self.catalogue.server
        # Host and Origin are checked here, before the SDK (security_settings=None).
        # Sessions held here keep their SSE events, bounded, so a client resumes a broken stream
        # with Last-Event-ID (apps.tools.mcp_events); shared sessions are served statelessly.
        manager = ResumableSessionManager(
            app=server,
            stateless=self.stateless,
            session_idle_timeout=settings.MCP_PLATFORM_MCP_SESSION_IDLE_SECONDS,
            max_sessions=settings.MCP_PLATFORM_MCP_MAX_SESSIONS,
            retry_interval=settings.MCP_PLATFORM_MCP_SSE_RETRY_MS,
            events=mcp_events.process_buffer(),
        )
        json_manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True)
        async with manager.run(), json_manager.run(), anyio.create_task_group() as tasks:
            if self.watch:
                await tasks.start(self.catalogue.watcher.run)
            self._manager, self._json_manager = manager, json_manager
            try:
                yield
            finally:
                self._manager = self._json_manager = None
                # A lifespan that ended (tests run several) leaves the endpoint startable again.
                self._lifespan_entered = False
                tasks.cancel_scope.cancel()

    def origin_allowed(self, origin: str, host: str) -> bool:
        """An Origin is allowed when listed in MCP_CORS_ORIGINS (`*` lists all) or when it is
        the host's own (same host and port)."""
        allowed = settings.MCP_CORS_ORIGINS
        if "*" in allowed or origin.rstrip("/") in {o.rstrip("/") for o in allowed}:
            return True
        try:
            return urlsplit(origin).netloc.lower() == host.lower()
        except ValueError:
            return False

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        if self.relay is not None:
            owner = self.relay.owner_elsewhere(scope)
            if owner is not None:  # its session lives in another worker: served there
                await self.relay.forward(owner, scope, receive, send)
                return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        domain, _ = split_domain_port(host)
        if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
            await _reply(send, 421, _jsonrpc_error(-32600, "Misdirected request: host not allowed"))
            return
        origin = headers.get("origin")
        cors: list[tuple[bytes, bytes]] = []
        if origin is not None:
            if not self.origin_allowed(origin, host):
                logger.warning("refused /mcp request from origin %r", origin[:200])
                await _reply(send, 403, _jsonrpc_error(-32600, "Forbidden: origin not allowed"))
                return
            cors = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", CORS_EXPOSE_HEADERS.encode()),
                (b"vary", b"Origin"),
            ]
        if scope["method"] == "OPTIONS":
            await _reply(
                send,
                204,
                None,
                [
                    *cors,
                    (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
                    (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
                    (b"access-control-max-age", b"600"),
                ],
            )
            return
        authorization = headers.get("authorization", "")
        origin_url = f"{scope.get('scheme', 'http')}://{host}"
        # RFC 9728 §5.1: a 401 names where an OAuth client learns how to get a token for us.
        where = {"metadata": resource_metadata_url(origin=origin_url, endpoint_path=scope["path"])}
        try:
            principal = await aresolve_principal(authorization)
        except AuthenticationFailed as exc:
            await self._unauthorized(send, str(exc), cors, **where, error="invalid_token")
            return
        if not principal.is_authenticated and not principal.scopes:
            await self._unauthorized(send, "Missing bearer token", cors, **where)
            return
        if not token_serves(principal, origin_url + scope["path"]):
            message = "Token was issued for another resource"
            await self._unauthorized(send, message, cors, **where, error="invalid_token")
            return
        scope = {**scope, PRINCIPAL_SCOPE_KEY: principal}
        if principal.is_authenticated:
            scope["user"] = AuthenticatedUser(_access_token(principal, authorization))
        if cors:
            send = _with_headers(send, cors)
        if self._manager is None and not self._lifespan_entered and _on_asyncio():
            await self._start_without_lifespan()
        manager = self._pick_manager(scope, headers)
        if manager is None:
            await _reply(send, 503, _jsonrpc_error(-32603, "MCP endpoint is not running"))
            return
        if self.stateless and manager is self._manager:  # MCP_PLATFORM_MCP_STATELESS: shared
            subject = (
                _access_token(principal, authorization).subject
                if principal.is_authenticated
                else "anonymous"
            )
            await mcp_sessions.serve(
                manager, self.catalogue.bus, scope, receive, send, subject=subject
            )
            return
        # Sessions held in this process (one worker): one caller cannot use them all up.
        if manager is self._manager and self._caller_at_session_cap(scope, headers):
            limit = settings.MCP_PLATFORM_MCP_SESSIONS_PER_CALLER
            message = f"Too many open MCP sessions for this caller (at most {limit}): close one"
            await _reply(send, 429, _jsonrpc_error(-32000, message), [(b"retry-after", b"60")])
            return
        if self.relay is not None and manager is self._manager:
            scope, send = self.relay.local(scope, send)
        await manager.handle_request(scope, receive, send)

    def _caller_at_session_cap(self, scope: Scope, headers: Headers) -> bool:
        """Whether this request would open one more 2025-era session for a caller that holds
        MCP_PLATFORM_MCP_SESSIONS_PER_CALLER already: one caller never starves the others."""
        user = scope.get("user")
        opening = scope["method"] == "POST" and SESSION_HEADER not in headers
        if self.stateless or not opening or not isinstance(user, AuthenticatedUser):
            return False
        requestor = authorization_context(user)
        # The SDK's record of who opened each live session (idle ones expire from it).
        owners = self._manager._session_owners.values()
        return sum(owner == requestor for owner in owners) >= (
            settings.MCP_PLATFORM_MCP_SESSIONS_PER_CALLER
        )

    async def _start_without_lifespan(self) -> None:
        """Servers that speak no ASGI lifespan (Daphne under `runserver`): run the managers in
        a task of the first request's loop, for the rest of the process's life."""
        import asyncio

        if self._lazy_start is None or self._lazy_start[0].done():  # none, or its loop ended
            ready = asyncio.Event()

            async def hold() -> None:
                async with self.lifespan():
                    ready.set()
                    await asyncio.Event().wait()

            self._lazy_start = (asyncio.get_running_loop().create_task(hold()), ready)
        _, ready = self._lazy_start
        with anyio.move_on_after(10):
            await ready.wait()

    def _pick_manager(self, scope: Scope, headers: Headers) -> StreamableHTTPSessionManager | None:
        # Streamable HTTP clients name text/event-stream; a POST that does not (curl's */*,
        # no Accept, application/json) without a session is a plain JSON-RPC client.
        accept = headers.get("accept", "").lower()
        plain = scope["method"] == "POST" and SESSION_HEADER not in headers
        if plain and "text/event-stream" not in accept:
            if not accept:
                scope["headers"] = [*scope["headers"], (b"accept", b"application/json")]
            return self._json_manager
        return self._manager

    async def _unauthorized(
        self,
        send: Callable,
        message: str,
        cors: list,
        *,
        metadata: str,
        error: str | None = None,
    ) -> None:
        challenge = f'Bearer realm="mcp-platform", resource_metadata="{metadata}"'
        challenge += f', scope="{SCOPE_READ} {SCOPE_CALL}"'
        if error:
            challenge += f', error="{error}"'
        body = {**_jsonrpc_error(-32001, message), "error_description": message}
        await _reply(send, 401, body, [*cors, (b"www-authenticate", challenge.encode())])


def _on_asyncio() -> bool:
    return sniffio.current_async_library() == "asyncio"


def _with_headers(send: Callable, extra: list[tuple[bytes, bytes]]) -> Callable:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


_stateless, _relay = web_sessions_from_env()
web_endpoint = McpHttpEndpoint(CatalogueServer(via="mcp"), stateless=_stateless, relay=_relay)
