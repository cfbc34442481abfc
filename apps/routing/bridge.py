"""The web side of the bridge: forwards trio-routed calls to this node's Trio runtime.

Two transports carry the same call with the same answers. On asyncio (the web process, job
workers) a call goes over the runtime's Unix socket in the data directory when there is one
(`apps/routing/bridge_wire.py`: length-prefixed JSON frames, connections kept open between
calls, no HTTP on either side); otherwise, and on Trio, over HTTP to the runtime's port
(`/internal/bridge/call`), one `httpx.AsyncClient` per event loop keeping its connections open.
A socket that cannot be connected to (a web process on another data directory, a runtime not
up) falls through to HTTP, which then decides: connecting is not starting. Each call carries the
principal, the arguments, a deadline and the request id, and is authenticated with the node's
shared secret.

What a failure means decides whether a fallback is safe, so failures come in two kinds:
`NotStarted` (the runtime provably never began the call: the connection could not be made, or
the runtime refused it before starting) and `MaybeStarted` (the request may have reached the
tool: it must not run again anywhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import sniffio

from apps.routing import announce, bridge_wire, metrics, shared_secret
from mcp_platform import tracing

logger = logging.getLogger(__name__)

BRIDGE_PATH = "/internal/bridge/call"
CANCEL_PATH = "/internal/control/cancel"
CANCEL_TIMEOUT = 2.0  # seconds a cancel request may take before we give up on it
DEADLINE_MARGIN = 1.0  # seconds added to a call's own time budget for transport and queueing
NO_ANSWER = "the web side could not put the question to the caller"
# After a failed connect, calls fall back at once for this long. Short: a refused connect on
# loopback costs microseconds, and fallback should stop as soon as the runtime is back up.
DOWN_FOR = 0.1
# The client retires idle connections well before the runtime would close them (Hypercorn is
# configured with a longer keep-alive), so a request never races a server-side close.
KEEPALIVE_EXPIRY = 60.0


class BridgeFailure(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotStarted(BridgeFailure):
    """The runtime did not start the call: running it elsewhere is safe."""


class MaybeStarted(BridgeFailure):
    """The call may have started on the runtime: it must not run again."""


class RemoteCallError(Exception):
    """The runtime refused the call before starting it; `kind` is the CallError's kind
    (apps.tools.call_errors), which the call path turns back into that error."""

    def __init__(self, kind: str, message: str, status_code: int, details: dict[str, Any]):
        super().__init__(message)
        self.kind, self.message, self.status_code, self.details = (
            kind,
            message,
            status_code,
            details,
        )


_clients: weakref.WeakKeyDictionary[Any, httpx.AsyncClient] = weakref.WeakKeyDictionary()
_down_until = 0.0
# Idle connections to the bridge socket, per asyncio loop (a stream belongs to its loop).
_idle: weakref.WeakKeyDictionary[Any, list[_SocketConnection]] = weakref.WeakKeyDictionary()
MAX_IDLE_SOCKETS = 64


def _loop_key() -> Any:
    if sniffio.current_async_library() == "asyncio":
        return asyncio.get_running_loop()
    import trio

    return trio.lowlevel.current_root_task()


def client() -> httpx.AsyncClient:
    """The persistent client of the running event loop."""
    key = _loop_key()
    existing = _clients.get(key)
    if existing is None or existing.is_closed:
        existing = httpx.AsyncClient(
            base_url=announce.trio_base_url(),
            limits=httpx.Limits(
                max_connections=256, max_keepalive_connections=64, keepalive_expiry=KEEPALIVE_EXPIRY
            ),
            headers={"Authorization": f"Bearer {shared_secret.bridge_secret()}"},
        )
        _clients[key] = existing
    return existing


async def close() -> None:
    """Close the connections of the running loop (web process shutdown, a job's loop)."""
    key = _loop_key()
    existing = _clients.pop(key, None)
    if existing is not None:
        await existing.aclose()
    for connection in _idle.pop(key, []) if sniffio.current_async_library() == "asyncio" else []:
        connection.close()


class _SocketConnection:
    """One connection to the bridge socket: a call at a time, kept between calls."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @property
    def usable(self) -> bool:
        """Not closed by either side while it was idle (a runtime that stopped or restarted)."""
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


async def _socket_connection(connect_timeout: float) -> _SocketConnection | None:
    """An idle connection to the bridge socket, or a new one (its hello written); None when
    there is no socket to connect to (the call then goes over HTTP)."""
    idle = _idle.get(asyncio.get_running_loop())
    while idle:
        connection = idle.pop()
        if connection.usable:
            return connection
        connection.close()
    path = bridge_wire.socket_path()
    if path is None:
        return None
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await asyncio.open_unix_connection(str(path))
    except (OSError, TimeoutError):
        return None  # no socket, or none listening: HTTP tells whether the runtime is up
    writer.write(bridge_wire.encode({"type": "hello", "secret": shared_secret.bridge_secret()}))
    return _SocketConnection(reader, writer)


def _keep(connection: _SocketConnection) -> None:
    idle = _idle.setdefault(asyncio.get_running_loop(), [])
    if len(idle) < MAX_IDLE_SOCKETS and connection.usable:
        idle.append(connection)
    else:
        connection.close()


async def _call_over_socket(
    connection: _SocketConnection,
    body: dict[str, Any],
    read_timeout: float,
    on_note: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Send the call, wait for its answer: (HTTP-equivalent status, JSON body); the notes that
    come before it (the tool's log entries, progress and questions) go to `on_note`, and what it
    returns for a question goes back to the runtime as the question's answer. Raises MaybeStarted
    when the connection fails after the call was sent; NotStarted when the call cannot be
    framed (nothing was sent)."""
    try:
        frame = bridge_wire.encode({"type": "call", "trace": tracing.carrier(), **body})
    except (bridge_wire.FrameError, ValueError, TypeError) as exc:
        _keep(connection)
        raise NotStarted(f"the call cannot be sent over the bridge socket: {exc}") from exc
    # Questions the tool asked, each answered in a task of its own while the frames are read
    # on: when the call ends first (its timeout, a cancel), the open ones are withdrawn.
    asking: set[asyncio.Task] = set()
    try:
        connection.writer.write(frame)
        async with asyncio.timeout(read_timeout):
            while True:
                answer = await bridge_wire.read_frame(connection.reader)
                if answer is None:
                    raise EOFError("the Trio runtime closed the connection")
                if answer.get("type") != "note":
                    break
                if answer.get("kind") == "ask":  # the runtime waits for this question's reply
                    task = asyncio.ensure_future(_answer(connection, on_note, answer))
                    asking.add(task)
                    task.add_done_callback(asking.discard)
                elif on_note is not None:
                    await _pass_on(on_note, answer)
        status, result = int(answer["status"]), answer["body"]
        if not isinstance(result, dict):
            raise bridge_wire.FrameError("an answer's body is not a JSON object")
    except asyncio.CancelledError:
        # Our caller gave up (MCP cancel, job cancel): the runtime stops the tool and records
        # the call as cancelled; the connection is not reused (its answer may still come).
        with contextlib.suppress(Exception):
            connection.writer.write(bridge_wire.encode({"type": "cancel"}))
        connection.close()
        raise
    except (
        OSError,
        TimeoutError,
        EOFError,
        bridge_wire.FrameError,
        KeyError,
        TypeError,
        ValueError,
    ) as exc:
        connection.close()  # the runtime sees it closed: it stops the call if it still runs
        metrics.BRIDGE_CALLS.labels("trio", "failed_in_flight").inc()
        raise MaybeStarted(
            f"the connection to the Trio runtime failed during the call ({type(exc).__name__})"
        ) from exc
    finally:
        for task in asking:
            task.cancel()
    if status == 401:
        connection.close()  # the runtime closes it too
    else:
        _keep(connection)
    return status, result


async def _answer(
    connection: _SocketConnection,
    on_note: Callable[[dict[str, Any]], Awaitable[Any]] | None,
    question: dict[str, Any],
) -> None:
    """Put a bridged tool's question to its caller (`on_note`), and send the reply back."""
    reply = await _pass_on(on_note, question) if on_note is not None else None
    if not isinstance(reply, dict):
        reply = {"unavailable": NO_ANSWER}
    try:
        frame = bridge_wire.encode({"type": "answer", "id": question.get("id"), **reply})
    except (bridge_wire.FrameError, TypeError, ValueError) as exc:
        frame = bridge_wire.encode(
            {"type": "answer", "id": question.get("id"), "unavailable": f"{NO_ANSWER}: {exc}"}
        )
    if connection.usable:
        connection.writer.write(frame)


async def _pass_on(on_note: Callable[[dict[str, Any]], Awaitable[Any]], note: dict) -> Any:
    """A note to the call's caller, and what it returned (a question's reply); one it cannot
    take does not end the call."""
    try:
        return await on_note(note)
    except Exception:
        logger.warning("a note of a bridged call could not be passed on", exc_info=True)
        return None


def mark_down() -> None:
    global _down_until
    _down_until = time.monotonic() + DOWN_FOR
    metrics.RUNTIME_UP.labels("trio").set(0)


def known_down() -> bool:
    return time.monotonic() < _down_until


async def call(
    *,
    arguments: Any,
    principal: Any,
    via: str,
    request_id: str,
    plan: dict[str, Any],
    budget: float,
    connect_timeout: float,
    on_note: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
    askable: list[str] | None = None,
    escalate: bool = False,
) -> dict[str, Any]:
    """Run a checked call on the Trio runtime; returns the ToolResult dict it sent back.

    `plan` is how to run it (tool, timeout, retries), `budget` its whole time in seconds;
    `on_note` takes the tool's log entries, progress and questions during the call (over the
    socket: a question's answer is what it returns); `askable`, the kinds of question the
    caller can be asked (a call over HTTP cannot ask); `escalate`, that the call may go on as a
    task where the tool says so (`ctx.continue_as_task`).
    Raises NotStarted, MaybeStarted or RemoteCallError.
    """
    if known_down():
        raise NotStarted("the Trio runtime was unreachable moments ago")
    body = {
        "plan": plan,
        "arguments": arguments,
        "principal": principal.to_dict(),
        "via": via,
        "request_id": request_id,
        "deadline": time.time() + budget,
        "askable": askable or [],
        "escalate": escalate,
    }
    started = time.perf_counter()
    if sniffio.current_async_library() == "asyncio":
        connection = await _socket_connection(connect_timeout)
        if connection is not None:
            status, payload = await _call_over_socket(
                connection, body, budget + DEADLINE_MARGIN, on_note
            )
            return _answered(status, payload, started)
    return await _call_over_http(body, request_id, budget, connect_timeout, started)


async def _call_over_http(
    body: dict[str, Any], request_id: str, budget: float, connect_timeout: float, started: float
) -> dict[str, Any]:
    timeout = httpx.Timeout(
        connect=connect_timeout,
        read=budget + DEADLINE_MARGIN,
        write=connect_timeout,
        pool=connect_timeout,
    )
    try:
        response = await client().post(
            BRIDGE_PATH,
            json=body,
            # The caller's trace goes along (W3C traceparent); nothing when tracing is off.
            headers={"X-Request-ID": request_id, **tracing.carrier()},
            timeout=timeout,
        )
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        mark_down()
        metrics.BRIDGE_CALLS.labels("trio", "not_started").inc()
        raise NotStarted(f"cannot reach the Trio runtime ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        metrics.BRIDGE_CALLS.labels("trio", "failed_in_flight").inc()
        raise MaybeStarted(
            f"the connection to the Trio runtime failed during the call ({type(exc).__name__})"
        ) from exc
    except anyio.get_cancelled_exc_class():
        # Our caller gave up (MCP cancel, job cancel): stop the tool on the runtime too.
        with anyio.CancelScope(shield=True):
            await cancel(request_id)
        raise
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    return _answered(response.status_code, payload, started)


def _answered(status_code: int, payload: dict[str, Any], started: float) -> dict[str, Any]:
    """What the runtime's answer means (either transport): the result, or the failure."""
    global _down_until
    metrics.BRIDGE_LATENCY.labels("trio").observe(time.perf_counter() - started)
    metrics.RUNTIME_UP.labels("trio").set(1)
    _down_until = 0.0
    if not isinstance(payload, dict):
        payload = {}
    if status_code == 200:
        metrics.BRIDGE_CALLS.labels("trio", "ok").inc()
        return payload
    if status_code in (401, 403):
        logger.error("the Trio runtime rejected the bridge secret; check %s", shared_secret.ENV)
        metrics.BRIDGE_CALLS.labels("trio", "refused").inc()
        raise NotStarted("the Trio runtime rejected this node's bridge secret")
    if payload.get("started") is False and payload.get("call_error"):
        metrics.BRIDGE_CALLS.labels("trio", "refused").inc()
        raise RemoteCallError(
            payload["call_error"],
            payload.get("error", ""),
            status_code,
            payload.get("details", {}),
        )
    if payload.get("started") is False:
        metrics.BRIDGE_CALLS.labels("trio", "not_started").inc()
        raise NotStarted(
            payload.get("error") or f"the Trio runtime refused the call ({status_code})"
        )
    metrics.BRIDGE_CALLS.labels("trio", "failed_in_flight").inc()
    raise MaybeStarted(f"the Trio runtime answered HTTP {status_code}")


async def cancel(request_id: str) -> bool:
    """Ask the Trio runtime to cancel the call `request_id`; False if it could not be asked or
    no such call was running."""
    try:
        with anyio.fail_after(CANCEL_TIMEOUT):
            response = await client().post(CANCEL_PATH, json={"request_id": request_id})
        return response.status_code == 200 and response.json().get("cancelled") is True
    except (httpx.HTTPError, TimeoutError, ValueError) as exc:
        logger.warning("could not cancel call %s on the Trio runtime: %r", request_id, exc)
        return False


async def probe(*, wait_seconds: float = 1.0) -> dict[str, Any] | None:
    """The Trio runtime's /health, or None when it does not answer."""
    try:
        response = await client().get("/health", timeout=wait_seconds)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return response.json()
