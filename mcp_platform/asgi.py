"""One ASGI router for the web process: lifespan, /mcp, websockets, static files, Django.

API requests (the REST legacy paths and /api/v2) go to `api_app`: Django with only the API's
async-native middleware, no sessions, CSRF, messages or Django auth, and no per-request thread;
the admin and the status pages go through `django_app` with Django's full stack.

Apps add to it without editing it: `lifespan_contexts` holds async context managers entered at
startup (in order) and left at shutdown; `mounts` maps an exact path to an ASGI app (the MCP
endpoint); `websocket_app` serves every websocket.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")

import asyncio

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler, get_script_prefix

django_app = get_asgi_application()

from django.conf import settings  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.urls import set_script_prefix  # noqa: E402

from mcp_platform.lifeline import watch_parent_if_grandchild  # noqa: E402

watch_parent_if_grandchild()  # a web worker process exits with the web process that spawned it

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]

lifespan_contexts: list[Callable[[], contextlib.AbstractAsyncContextManager]] = []
mounts: dict[str, ASGIApp] = {}
# Apps that serve a family of paths (e.g. /mcp/<slug>): (claims(path), app), after `mounts`.
path_mounts: list[tuple[Callable[[str], bool], ASGIApp]] = []
websocket_app: ASGIApp | None = None


def _status_websockets() -> ASGIApp:
    from apps.peers.routing import websocket_application

    return websocket_application()


websocket_app = _status_websockets()


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


@contextlib.asynccontextmanager
async def _db_threads_lifespan():
    from mcp_platform import concurrency

    concurrency.start_db_threads(threads=settings.MCP_PLATFORM_DB_THREADS)
    try:
        yield
    finally:
        await asyncio.get_running_loop().run_in_executor(None, concurrency.stop_db_threads)


lifespan_contexts.append(_db_threads_lifespan)


@contextlib.asynccontextmanager
async def _versions_lifespan():
    """Watch the cache versions, so a request finds principals and tools without a query."""
    # The apps' versions register on import; the call path imports them all.
    import apps.access.principal_cache
    import apps.tools.call_service  # noqa: F401
    from mcp_platform import versions
    from mcp_platform.concurrency import run_blocking

    await run_blocking(versions.start_watching, interval=settings.MCP_PLATFORM_VERSION_POLL_SECONDS)
    try:
        yield
    finally:
        await run_blocking(versions.stop_watching)


lifespan_contexts.append(_versions_lifespan)


@contextlib.asynccontextmanager
async def _call_log_lifespan():
    yield
    from apps.tools import call_log
    from mcp_platform.concurrency import run_blocking

    await run_blocking(call_log.stop)


lifespan_contexts.append(_call_log_lifespan)


@contextlib.asynccontextmanager
async def _bridge_lifespan():
    yield
    from apps.routing import bridge

    await bridge.close()  # the keep-alive connections to the Trio runtime


lifespan_contexts.append(_bridge_lifespan)


async def _lifespan(scope: Scope, receive: Callable, send: Callable) -> None:
    stack = contextlib.AsyncExitStack()
    message = await receive()
    assert message["type"] == "lifespan.startup"
    try:
        for factory in lifespan_contexts:
            await stack.enter_async_context(factory())
    except Exception as exc:
        logger.exception("startup failed")
        await stack.aclose()
        await send({"type": "lifespan.startup.failed", "message": str(exc)})
        return
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    try:
        await stack.aclose()
    except Exception as exc:
        logger.exception("shutdown failed")
        await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
        return
    await send({"type": "lifespan.shutdown.complete"})


async def _reply(
    send: Callable, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


async def application(scope: Scope, receive: Callable, send: Callable) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(scope, receive, send)
        return
    if kind == "websocket":
        if websocket_app is None:
            await send({"type": "websocket.close", "code": 4404})
            return
        await websocket_app(scope, receive, send)
        return
    length = _declared_length(scope)
    limit = settings.MCP_PLATFORM_MAX_BODY_BYTES
    if length is not None and (length < 0 or length > limit):
        import json

        from mcp_platform.errors import now_iso

        body = {
            "error": "Request body too large",
            "max_bytes": limit,
            "status_code": 413,
            "timestamp": now_iso(),
        }
        if length < 0:
            body = {
                "error": "Invalid Content-Length header",
                "status_code": 400,
                "timestamp": now_iso(),
            }
        await _reply(send, 413 if length >= 0 else 400, json.dumps(body).encode())
        return
    path = scope["path"]
    mounted = mounts.get(path.rstrip("/") or "/")
    mounted = mounted or next((app for claims, app in path_mounts if claims(path)), None)
    if mounted is not None:
        await mounted(scope, receive, send)
        return
    if path.startswith(settings.STATIC_URL):
        await _static(scope, receive, send)
        return
    if is_api_path(path):
        await api_app(scope, receive, send)
        return
    await django_app(scope, receive, send)


_static_app: ASGIApp | None = None


async def _static(scope: Scope, receive: Callable, send: Callable) -> None:
    global _static_app
    if _static_app is None:
        from starlette.staticfiles import StaticFiles

        served = StaticFiles(directory=settings.STATIC_ROOT, check_dir=False)

        async def strip_prefix(scope, receive, send):
            from starlette.exceptions import HTTPException

            from mcp_platform.errors import now_iso

            inner = dict(scope, path=scope["path"][len(settings.STATIC_URL) - 1 :], root_path="")
            try:
                if not await anyio.Path(settings.STATIC_ROOT).is_dir():  # no collectstatic yet
                    raise HTTPException(404, "Not Found")
                await served(inner, receive, send)
            except HTTPException as exc:  # a missing file: 404 (405, ...), not a 500
                body = {"error": exc.detail, "status_code": exc.status_code, "timestamp": now_iso()}
                await _reply(send, exc.status_code, json.dumps(body).encode())

        _static_app = strip_prefix
    await _static_app(scope, receive, send)


def _mount_mcp() -> None:
    from apps.jobs.mcp_tasks import install_task_support
    from apps.tools.mcp_http import web_endpoint

    install_task_support(web_endpoint.catalogue.server)  # MCP tasks, backed by jobs
    mounts["/mcp"] = web_endpoint
    lifespan_contexts.append(web_endpoint.lifespan)
    from apps.toolsets.mcp import toolset_endpoints  # /mcp/<slug>: one endpoint per toolset

    path_mounts.append((toolset_endpoints.claims, toolset_endpoints))
    lifespan_contexts.append(toolset_endpoints.lifespan)


_mount_mcp()
