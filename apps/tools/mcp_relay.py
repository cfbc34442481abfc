"""2025-era MCP sessions with several web workers: a session lives in the worker that opened it,
and the other workers relay its requests there.

The SDK keeps a 2025-era session in the memory of one process: its streams, the requests it
sent the client and waits on (a tool's `ctx.elicit`, `ctx.sample`), its log level, the events a
broken stream resumes from (`Last-Event-ID`). With several web workers the kernel hands each
connection to whichever worker accepts it, so the next request of a session, or the client's
answer to a question, may land on another worker. Here:

- Each worker listens on a private Unix socket, `<data dir>/mcp-relay/<pid>.sock` (0600, in a
  0700 directory), and names itself in the ids of the sessions it opens:
  `Mcp-Session-Id: w<pid>.<the SDK's id>`.
- A request whose session another worker holds is relayed whole to that worker: the ASGI
  request in frames (`apps.routing.bridge_wire`'s framing, the node's bridge secret first), its
  response streamed back frame by frame. That worker serves it as if it had accepted it, every
  check included (the relay adds no trust: the bearer is checked where the session lives).
- A session whose worker is gone answers `404 Session not found`: the client opens a new one,
  as the specification has it.

The cost is one more hop, on one machine, for the requests that land on another worker than
their session's. MCP_PLATFORM_MCP_STATELESS=1 (nodes behind a load balancer without sticky
sessions, where no socket reaches the session's process) shares sessions statelessly instead
(apps.tools.mcp_sessions), with what that loses. The 2026-07-28 era has no sessions: it is
served by whichever worker takes the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.routing import bridge_wire, shared_secret
from apps.tools.mcp_sessions import SESSION_HEADER, header, session_not_found
from apps.tools.metrics import MCP_RELAYED as RELAYED

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
RELAYED_KEY = "mcp_platform.relayed"  # in the scope of a request a worker relayed here
DIRECTORY_NAME = "mcp-relay"
HELLO_SECONDS = 10.0
CONNECT_SECONDS = 5.0
FIRST_FRAME_MAX_BYTES = 1024 * 1024  # the secret and the request's scope, before any trust
# The parts of an HTTP scope that cross (bytes as latin-1 text, which keeps every byte).
SCOPE_TEXT = ("type", "http_version", "method", "scheme", "path", "root_path")
SCOPE_BYTES = ("raw_path", "query_string")


def several_web_workers() -> bool:
    try:
        return int(os.environ.get("MCP_PLATFORM_WEB_WORKERS", "1")) > 1
    except ValueError:
        return False


@functools.cache
def for_web_workers() -> SessionRelay | None:
    """This web worker's relay, when it is one of several (MCP_PLATFORM_WEB_WORKERS) and the
    socket path fits; the web process's lifespan serves it (mcp_platform.asgi)."""
    path = directory()
    return SessionRelay(path) if several_web_workers() and path is not None else None


def directory() -> Path | None:
    """Where the workers' relay sockets are; None when a socket path there would be too long."""
    path = settings.DATA_DIR / DIRECTORY_NAME
    longest = path / f"{2**22}.sock"  # pids stay below 2**22 on Linux
    return path if len(str(longest).encode()) <= bridge_wire.MAX_PATH_BYTES else None


class SessionRelay:
    """One worker's side: its socket, the ids of its sessions, and relaying to the others."""

    def __init__(self, path: Path) -> None:
        self.directory = path
        self.pid = os.getpid()
        self.prefix = f"w{self.pid}."
        self._serving = False
        self._open: set[asyncio.StreamWriter] = set()  # relayed requests being served here

    # --- ids ---

    def owner_elsewhere(self, scope: Scope) -> int | None:
        """The pid of the worker that holds this request's session, when it is another one."""
        if scope.get(RELAYED_KEY):
            return None  # relayed here: served here, never relayed again
        session_id = header(scope, SESSION_HEADER)
        if session_id is None or not session_id.startswith("w"):
            return None
        owner, dot, _ = session_id[1:].partition(".")
        if not dot or not owner.isdigit() or len(owner) > 7:
            return None
        pid = int(owner)
        return pid if pid != self.pid else None

    def local(self, scope: Scope, send: Callable) -> tuple[Scope, Callable]:
        """A request served here: the SDK sees its own session id, the client this worker's."""
        session_id = header(scope, SESSION_HEADER)
        if session_id is not None and session_id.startswith(self.prefix):
            own = session_id[len(self.prefix) :].encode("latin-1")
            headers = [(k, own if k == SESSION_HEADER else v) for k, v in scope["headers"]]
            scope = {**scope, "headers": headers}
        prefix = self.prefix.encode()

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, prefix + v if k == SESSION_HEADER else v)
                    for k, v in message.get("headers", [])
                ]
                message = {**message, "headers": headers}
            await send(message)

        return scope, sending

    # --- this worker's socket ---

    @contextlib.asynccontextmanager
    async def serving(self, app: Callable) -> AsyncIterator[None]:
        """Serve requests relayed here by the other workers, to `app` (the whole web app: each
        request reaches its endpoint), while the context is open; once per process."""
        if self._serving:
            raise RuntimeError("this worker's relay socket is served already")
        self._serving = True
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{self.pid}.sock"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by an earlier process with this pid
        server = await asyncio.start_unix_server(
            lambda reader, writer: self._serve(app, reader, writer), path=str(path)
        )
        os.chmod(path, 0o600)
        try:
            yield
        finally:
            server.close()
            for writer in list(self._open):  # their requests see the relaying side go away
                writer.close()
            await server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._serving = False

    async def _serve(
        self, app: Callable, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._open.add(writer)
        try:
            try:
                async with asyncio.timeout(HELLO_SECONDS):
                    first = await bridge_wire.read_frame(reader, limit=FIRST_FRAME_MAX_BYTES)
                if (
                    first is None
                    or first.get("type") != "request"
                    or not shared_secret.is_secret(first.get("secret"))
                ):
                    logger.warning("a relayed MCP request without the node's secret was refused")
                    return
                scope = _scope_from_wire(first["scope"])
            except (OSError, TimeoutError, EOFError, bridge_wire.FrameError) as exc:
                logger.warning("a relayed MCP request could not be read: %r", exc)
                return
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                logger.warning("a relayed MCP request is malformed: %r", exc)
                return
            try:
                await app(scope, _RelayedBody(reader).receive, _frames_to(writer))
            except* OSError:
                pass  # the relaying worker (its client) went away
        finally:
            self._open.discard(writer)
            writer.close()

    # --- relaying a request to the worker that holds its session ---

    async def forward(self, pid: int, scope: Scope, receive: Callable, send: Callable) -> None:
        """Serve the request by the worker `pid`: its request over, its response back."""
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                reader, writer = await asyncio.open_unix_connection(
                    str(self.directory / f"{pid}.sock")
                )
        except (OSError, TimeoutError):
            RELAYED.labels("no_such_worker").inc()
            await session_not_found(send)
            return
        hello = {"type": "request", "secret": shared_secret.bridge_secret(), "scope": _wire(scope)}
        writer.write(bridge_wire.encode(hello))
        pump = asyncio.ensure_future(_pass_request(receive, writer))
        try:
            answered = await _pass_response(reader, send)
            RELAYED.labels("relayed" if answered else "broken").inc()
            if answered is None:  # the worker ended before it answered
                await session_not_found(send)
        except OSError:  # our client went away
            RELAYED.labels("broken").inc()
        finally:
            pump.cancel()
            writer.close()


class _RelayedBody:
    """The `receive` of a relayed request: its body from the frames, then `http.disconnect`
    once the relaying worker closes the connection (its client went away, or it is done)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.body_done = False
        self.closed: asyncio.Future[None] | None = None

    async def receive(self) -> dict[str, Any]:
        if not self.body_done:
            try:
                message = await bridge_wire.read_frame(self.reader)
            except (OSError, EOFError, bridge_wire.FrameError):
                message = None
            if message is None or message.get("type") != "body":
                self.body_done = True
                return {"type": "http.disconnect"}
            more = bool(message.get("more"))
            self.body_done = not more
            return {
                "type": "http.request",
                "body": str(message.get("body", "")).encode("latin-1"),
                "more_body": more,
            }
        if self.closed is None:  # one reader of the connection, however many wait on it
            self.closed = asyncio.ensure_future(self._until_closed())
        await asyncio.shield(self.closed)
        return {"type": "http.disconnect"}

    async def _until_closed(self) -> None:
        with contextlib.suppress(OSError):
            while await self.reader.read(65536):
                pass


def _frames_to(writer: asyncio.StreamWriter) -> Callable:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in message["headers"]]
            frame = {"type": "start", "status": message["status"], "headers": headers}
        elif message["type"] == "http.response.body":
            frame = {
                "type": "body",
                "body": message.get("body", b"").decode("latin-1"),
                "more": message.get("more_body", False),
            }
        else:
            return
        writer.write(bridge_wire.encode(frame))
        await writer.drain()

    return send


async def _pass_request(receive: Callable, writer: asyncio.StreamWriter) -> None:
    """The client's request body over to the owner; then, when the client goes away, close the
    connection (the owner's request sees `http.disconnect`). The owner going away ends it."""
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            more = message.get("more_body", False)
            body = message.get("body", b"").decode("latin-1")
            writer.write(bridge_wire.encode({"type": "body", "body": body, "more": more}))
            await writer.drain()
            if not more:
                break
        while (await receive())["type"] != "http.disconnect":
            pass
    except OSError:
        pass  # the owner closed the connection: its response says the rest
    finally:
        writer.close()


async def _pass_response(reader: asyncio.StreamReader, send: Callable) -> bool | None:
    """The owner's response over to the client: True once whole, False when it broke off after
    it started, None when it never started."""
    started = False
    while True:
        try:
            message = await bridge_wire.read_frame(reader)
        except (OSError, EOFError, bridge_wire.FrameError):
            message = None
        if message is None:
            return False if started else None
        if message.get("type") == "start":
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in message["headers"]]
            await send(
                {"type": "http.response.start", "status": message["status"], "headers": headers}
            )
            started = True
        elif message.get("type") == "body":
            more = bool(message.get("more"))
            body = str(message.get("body", "")).encode("latin-1")
            await send({"type": "http.response.body", "body": body, "more_body": more})
            if not more:
                return True


def _wire(scope: Scope) -> dict[str, Any]:
    wire: dict[str, Any] = {key: scope[key] for key in SCOPE_TEXT if key in scope}
    wire.update(
        {key: scope[key].decode("latin-1") for key in SCOPE_BYTES if scope.get(key) is not None}
    )
    wire["headers"] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
    wire["client"] = list(scope["client"]) if scope.get("client") else None
    wire["server"] = list(scope["server"]) if scope.get("server") else None
    return wire


def _scope_from_wire(wire: dict[str, Any]) -> Scope:
    scope: Scope = {key: str(wire[key]) for key in SCOPE_TEXT if key in wire}
    if scope.get("type") != "http":
        raise ValueError("only HTTP requests are relayed")
    scope.update({key: str(wire[key]).encode("latin-1") for key in SCOPE_BYTES if key in wire})
    scope["headers"] = [
        (str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in wire["headers"]
    ]
    scope["client"] = tuple(wire["client"]) if wire.get("client") else None
    scope["server"] = tuple(wire["server"]) if wire.get("server") else None
    scope["asgi"] = {"version": "3.0", "spec_version": "2.3"}
    scope["state"] = {}
    scope[RELAYED_KEY] = True
    return scope
