"""The web side of the bridge: forwards trio-routed calls to this node's Trio runtime.

One `httpx.AsyncClient` per event loop keeps HTTP/1.1 connections to the runtime open between
calls. Each call carries the principal, the arguments, a deadline and the request id, and is
authenticated with the node's shared secret.

What a failure means decides whether a fallback is safe, so failures come in two kinds:
`NotStarted` (the runtime provably never began the call: the connection could not be made, or
the runtime refused it before starting) and `MaybeStarted` (the request may have reached the
tool: it must not run again anywhere).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

import anyio
import httpx
import sniffio

from apps.routing import announce, metrics, shared_secret
from mcp_platform import tracing

logger = logging.getLogger(__name__)

BRIDGE_PATH = "/internal/bridge/call"
CANCEL_PATH = "/internal/control/cancel"
CANCEL_TIMEOUT = 2.0  # seconds a cancel request may take before we give up on it
DEADLINE_MARGIN = 1.0  # seconds added to a call's own time budget for transport and queueing
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
    """Close the client of the running loop (web process shutdown)."""
    existing = _clients.pop(_loop_key(), None)
    if existing is not None:
        await existing.aclose()


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
) -> dict[str, Any]:
    """Run a checked call on the Trio runtime; returns the ToolResult dict it sent back.

    `plan` is how to run it (tool, timeout, retries), `budget` its whole time in seconds.
    Raises NotStarted, MaybeStarted or RemoteCallError.
    """
    global _down_until
    if known_down():
        raise NotStarted("the Trio runtime was unreachable moments ago")
    body = {
        "plan": plan,
        "arguments": arguments,
        "principal": principal.to_dict(),
        "via": via,
        "request_id": request_id,
        "deadline": time.time() + budget,
    }
    timeout = httpx.Timeout(
        connect=connect_timeout,
        read=budget + DEADLINE_MARGIN,
        write=connect_timeout,
        pool=connect_timeout,
    )
    started = time.perf_counter()
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
    metrics.BRIDGE_LATENCY.labels("trio").observe(time.perf_counter() - started)
    metrics.RUNTIME_UP.labels("trio").set(1)
    _down_until = 0.0
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code == 200:
        metrics.BRIDGE_CALLS.labels("trio", "ok").inc()
        return payload
    if response.status_code in (401, 403):
        logger.error("the Trio runtime rejected the bridge secret; check %s", shared_secret.ENV)
        metrics.BRIDGE_CALLS.labels("trio", "refused").inc()
        raise NotStarted("the Trio runtime rejected this node's bridge secret")
    if payload.get("started") is False and payload.get("call_error"):
        metrics.BRIDGE_CALLS.labels("trio", "refused").inc()
        raise RemoteCallError(
            payload["call_error"],
            payload.get("error", ""),
            response.status_code,
            payload.get("details", {}),
        )
    if payload.get("started") is False:
        metrics.BRIDGE_CALLS.labels("trio", "not_started").inc()
        raise NotStarted(
            payload.get("error") or f"the Trio runtime refused the call ({response.status_code})"
        )
    metrics.BRIDGE_CALLS.labels("trio", "failed_in_flight").inc()
    raise MaybeStarted(f"the Trio runtime answered HTTP {response.status_code}")


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
