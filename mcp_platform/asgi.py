"""The web process, read top to bottom: one Starlette app, its routes and its one lifespan.

Routes (first match wins), inside `BodyLimit` (413 past MCP_PLATFORM_MAX_BODY_BYTES):

    /mcp              the MCP endpoint(s): `mcp_endpoints()`, the one place they are listed
    /static/...       the collected static files
    websockets        Channels (the status pages' live updates, /ws/status/)
    API paths         `api_app`: Django with MCP_PLATFORM_API_MIDDLEWARE only (no sessions, CSRF,
                      messages or Django auth, no per-request thread)
    everything else   `django_app`: Django's full stack (the admin, the status pages)

`lifespan` starts every background thread and task of the web process, in order, and stops them
in reverse order at shutdown, flushing what they hold. Nothing here starts at import time except
the parent watch of a Uvicorn worker (`lifeline`), which must run before any request.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")

import asyncio

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler, get_script_prefix

django_app = get_asgi_application()

import anyio  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.urls import set_script_prefix  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.routing import BaseRoute, Match, Mount, Route  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402

from mcp_platform.concurrency import run_blocking  # noqa: E402
from mcp_platform.errors import now_iso  # noqa: E402
from mcp_platform.lifeline import watch_parent_if_grandchild  # noqa: E402

if TYPE_CHECKING:
    from apps.tools.mcp_http import McpHttpEndpoint

watch_parent_if_grandchild()  # a Uvicorn worker process exits with the web process that forked it

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


# --- Django: the API paths and the pages -----------------------------------------------------


class ApiHandler(ASGIHandler):
    """Django for the API paths: the API middleware only (MCP_PLATFORM_API_MIDDLEWARE, all
    async-native) and no hop to a thread unless a view or its data needs one.

    Django's own handler gives each request a thread-sensitive context (a new thread, so a new
    database connection, per request) and sends `request_started` through a thread; the API
    needs neither: its blocking work runs on the long-lived DB threads (concurrency.py).
    """

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler reads settings.MIDDLEWARE; the API's list stands in for it while loading.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.MCP_PLATFORM_API_MIDDLEWARE
        try:
            super().load_middleware(is_async=True)
        finally:
            settings.MIDDLEWARE = full

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Callable, send: Callable) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            return

        async def respond():
            response = await self.run_get_response(request)
            await self.send_response(response, send)
            return response

        # As Django does: a client that goes away cancels the view (and the call it makes).
        served = asyncio.create_task(respond())
        disconnected = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait({served, disconnected}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (disconnected, served):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                        await task
        if disconnected.done() and not disconnected.cancelled():
            with contextlib.suppress(RequestAborted, AssertionError):
                disconnected.result()
        if served.done() and not served.cancelled():
            served.result().close()  # request_finished: nothing to close on this thread
        body_file.close()


api_app = ApiHandler()


def is_api_path(path: str) -> bool:
    return path.startswith(settings.MCP_PLATFORM_API_PATH_PREFIXES)


class DjangoRoute(BaseRoute):
    """Every HTTP path not routed before it: the API paths to `api_app`, the rest to
    `django_app`; every websocket to Channels."""

    def __init__(self) -> None:
        from apps.peers.routing import websocket_application

        self.websockets = websocket_application()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return (Match.FULL, {}) if scope["type"] in ("http", "websocket") else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "websocket":
            await self.websockets(scope, receive, send)
        elif is_api_path(scope["path"]):
            await api_app(scope, receive, send)
        else:
            await django_app(scope, receive, send)


# --- the MCP endpoints -----------------------------------------------------------------------


@functools.cache
def mcp_endpoints() -> dict[str, McpHttpEndpoint]:
    """Every MCP endpoint of the web process by exact path (`/mcp`; `/mcp/` is the same one),
    set up once. Add an endpoint here (the lifespan runs its session managers), and its path to
    apps.oauth.selectors.MCP_ENDPOINT_PATHS and the auth matrix."""
    from apps.jobs.mcp_tasks import install_task_support
    from apps.tools.mcp_http import web_endpoint

    install_task_support(web_endpoint.catalogue.server)  # MCP tasks, backed by jobs
    return {"/mcp": web_endpoint}


class ToolsetRoute(BaseRoute):
    """`/mcp/<slug>`: one MCP endpoint per toolset (apps.toolsets.mcp), started on its first
    request. Only the paths the toolsets claim: the legacy /mcp/tools/..., /mcp/discover and
    /mcp/p2p/... routes below /mcp/ stay Django's."""

    def __init__(self) -> None:
        from apps.toolsets.mcp import toolset_endpoints

        self.endpoints = toolset_endpoints

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        claimed = scope["type"] == "http" and self.endpoints.claims(scope["path"])
        return (Match.FULL, {}) if claimed else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Callable, send: Callable) -> None:
        await self.endpoints(scope, receive, send)


def mcp_routes() -> list[BaseRoute]:
    # Exact paths, then the toolsets' own: the rest below /mcp/ (the legacy /mcp/tools/call,
    # ...) is Django's.
    return [
        *(
            route
            for path, endpoint in mcp_endpoints().items()
            for route in (Route(path, endpoint), Route(f"{path}/", endpoint))
        ),
        ToolsetRoute(),
    ]


# --- static files, the body limit -------------------------------------------------------------


def _error(status: int, body: dict[str, Any]) -> tuple[dict, dict]:
    return (
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        },
        {"type": "http.response.body", "body": json.dumps(body).encode()},
    )


async def _reply(send: Callable, status: int, body: dict[str, Any]) -> None:
    for message in _error(status, body):
        await send(message)


class StaticFilesOr404(StaticFiles):
    """The collected static files; a missing one (or no collectstatic yet) is our JSON 404."""

    def __init__(self) -> None:
        super().__init__(directory=settings.STATIC_ROOT, check_dir=False)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        try:
            if not await anyio.Path(settings.STATIC_ROOT).is_dir():
                raise HTTPException(404, "Not Found")
            await super().__call__(scope, receive, send)
        except HTTPException as exc:  # a missing file: 404 (405, ...), not a 500
            body = {"error": exc.detail, "status_code": exc.status_code, "timestamp": now_iso()}
            await _reply(send, exc.status_code, body)


class BodyLimit:
    """413 for a declared body past MCP_PLATFORM_MAX_BODY_BYTES, 400 for a bad Content-Length,
    before any route reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            length = _declared_length(scope)
            limit = settings.MCP_PLATFORM_MAX_BODY_BYTES
            if length is not None and length < 0:
                body = {"error": "Invalid Content-Length header", "status_code": 400}
                await _reply(send, 400, {**body, "timestamp": now_iso()})
                return
            if length is not None and length > limit:
                body = {"error": "Request body too large", "max_bytes": limit, "status_code": 413}
                await _reply(send, 413, {**body, "timestamp": now_iso()})
                return
        await self.app(scope, receive, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


# --- the lifespan: every background thread and task of the web process -----------------------


@contextlib.asynccontextmanager
async def _started(name: str, start: Callable[[], Any], stop: Callable[[], Any]):
    """Run blocking `start` now and blocking `stop` when the lifespan ends."""
    await run_blocking(start)
    logger.debug("started %s", name)
    try:
        yield
    finally:
        await run_blocking(stop)
        logger.debug("stopped %s", name)


_heap_frozen = False


def freeze_startup_heap() -> None:
    """Take what start-up built (Django, the ORM, both MCP eras' pydantic types: about 170,000
    objects, all living as long as the process) out of the garbage collector's scans, once per
    process. Every full pass scanned them all: about 0.1-0.2 s of CPU each, 0.15-0.36 ms per MCP
    call under load; frozen, 0.72-0.97x the CPU per MCP call (docs/performance.md). A start-up
    object that later becomes part of cyclic garbage is never freed: a bounded, one-off amount."""
    global _heap_frozen
    if not _heap_frozen:
        gc.collect()  # start-up's own garbage is freed, not frozen
        gc.freeze()
        _heap_frozen = True


@contextlib.asynccontextmanager
async def lifespan(app: object = None) -> AsyncIterator[None]:
    """Start in order, stop in reverse: the DB threads first up and last down, since every
    other part's blocking work runs on them."""
    import apps.access.principal_cache as principal_cache
    import apps.tools.call_service  # noqa: F401  (its caches' versions register on import)
    from apps.audit import calls as audit_calls
    from apps.peers import services as peers
    from apps.routing import announce, bridge
    from apps.tools import call_log, mcp_relay
    from mcp_platform import concurrency, versions

    async with contextlib.AsyncExitStack() as stack:
        # Long-lived threads for blocking work (ORM), each keeping its connection.
        concurrency.start_db_threads(threads=settings.MCP_PLATFORM_DB_THREADS)
        stack.push_async_callback(
            asyncio.get_running_loop().run_in_executor, None, concurrency.stop_db_threads
        )
        # Watches the cache versions: requests find principals and tools without a query.
        poll = settings.MCP_PLATFORM_VERSION_POLL_SECONDS
        await stack.enter_async_context(
            _started(
                "version watcher",
                lambda: versions.start_watching(interval=poll),
                versions.stop_watching,
            )
        )
        # Batch writers off the call path; each writes what it holds when stopped.
        for name, writer in (
            ("call log writer", call_log),
            ("audit call writer", audit_calls),
            ("token last-used writer", principal_cache.last_used),
        ):
            await stack.enter_async_context(_started(name, writer.start, writer.stop))
        # Announcers: routing versions to the Trio runtime(s), status changes to the pages.
        await stack.enter_async_context(
            _started("routing announcer", announce.start, announce.stop)
        )
        await stack.enter_async_context(
            _started("status announcer", peers.start_announcer, peers.stop_announcer)
        )
        stack.push_async_callback(bridge.close)  # the keep-alive connections to the Trio runtime
        # The MCP endpoints' session managers, last up and first down (they drain their calls).
        for endpoint in mcp_endpoints().values():
            await stack.enter_async_context(endpoint.lifespan())
        from apps.toolsets.mcp import toolset_endpoints  # /mcp/<slug>, each started on first use

        await stack.enter_async_context(toolset_endpoints.lifespan())
        # With several web workers: the requests of the sessions this worker holds, relayed
        # here by the others (served by the whole app, so each reaches its endpoint).
        relay = mcp_relay.for_web_workers()
        if relay is not None and app is not None:
            await stack.enter_async_context(relay.serving(app))
        freeze_startup_heap()  # last: everything start-up made is in the heap now
        yield


# --- the application ---------------------------------------------------------------------------


def build_application() -> Starlette:
    routes: list[BaseRoute] = [
        *mcp_routes(),
        Mount(settings.STATIC_URL.rstrip("/"), app=StaticFilesOr404()),
        DjangoRoute(),
    ]
    return Starlette(routes=routes, middleware=[Middleware(BodyLimit)], lifespan=lifespan)


application = build_application()
