"""Runs a validated call on the runtime routing picks: locally on asyncio, or over the bridge
on the Trio runtime, with the fallback policy of DESIGN.md.

Fallback to asyncio happens only when the Trio runtime provably did not start the call, and
only for tools with `fallback_allowed` that do not require P2P (and when the runtime settings
allow fallback at all). Everything else gets RuntimeUnavailable. Nothing runs twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import sniffio

from apps.routing import bridge, metrics
from apps.routing.router import ASYNCIO, TRIO, RoutingTable, cache, explain_route
from mcp_platform.concurrency import run_blocking

if TYPE_CHECKING:
    from apps.tools.call_service import CallRequest, ToolResult

logger = logging.getLogger(__name__)

LocalRunner = Callable[["CallRequest"], Awaitable["ToolResult"]]


async def routing_table(tool: object) -> RoutingTable:
    """The table at the version the tool row was read with; no query when it is cached."""
    version = getattr(tool, "routing_version", None)
    table = cache.peek(version)
    if table is None:
        table = await run_blocking(cache.get, version)
    return table


def _stamp(result: ToolResult, *, runtime: str, fallback: bool, version: int) -> ToolResult:
    result.meta["runtime"] = runtime
    result.meta.setdefault("pid", os.getpid())
    result.meta["fallback"] = fallback
    result.meta["routing_version"] = version
    return result


def call_time_budget(tool: object) -> float:
    """Seconds a call may take in all: each attempt's timeout plus the retry delays."""
    from apps.tools.call_service import retry_delay

    attempts = 1 + (tool.max_retries if tool.idempotent_hint and tool.retry_policy != "none" else 0)
    delays = sum(retry_delay(tool.retry_policy, n) for n in range(1, attempts))
    return tool.timeout_seconds * attempts + delays


async def dispatch(request: CallRequest, *, run_locally: LocalRunner) -> ToolResult:
    """Run `request` where routing says; raises RuntimeUnavailable when it cannot run."""
    from apps.tools.call_service import RuntimeUnavailable

    if sniffio.current_async_library() == "trio":
        # Inside the Trio runtime every call runs here, on Trio.
        served = cache.table.version if cache.table is not None else 0
        return _stamp(await run_locally(request), runtime=TRIO, fallback=False, version=served)

    tool = request.tool
    table = await routing_table(tool)
    route = explain_route(tool, table)
    if route.runtime != TRIO:
        return _stamp(
            await run_locally(request), runtime=ASYNCIO, fallback=False, version=table.version
        )

    try:
        if not table.trio_enabled:
            raise bridge.NotStarted("the Trio runtime is disabled in the runtime settings")
        payload = await bridge.call(
            tool=tool.name,
            arguments=request.arguments,
            principal=request.principal,
            via=request.via,
            request_id=request.request_id,
            budget=call_time_budget(tool),
            connect_timeout=table.fallback_timeout,
        )
    except bridge.NotStarted as exc:
        if table.fallback_allowed and tool.fallback_allowed and not tool.requires_p2p:
            logger.warning("tool %s falls back to asyncio: %s", tool.name, exc.reason)
            result = await run_locally(request)
            result.meta["fallback_reason"] = exc.reason
            return _stamp(result, runtime=ASYNCIO, fallback=True, version=table.version)
        metrics.RUNTIME_UNAVAILABLE.labels(TRIO).inc()
        why = (
            "it requires P2P"
            if tool.requires_p2p
            else "fallback is disabled for it"
            if table.fallback_allowed
            else "fallback is disabled in the runtime settings"
        )
        raise RuntimeUnavailable(
            f"Runtime 'trio' unavailable for tool '{tool.name}': {exc.reason}; "
            f"it cannot run on asyncio because {why}",
            runtime=TRIO,
            fallback=False,
        ) from None
    except bridge.MaybeStarted as exc:
        metrics.RUNTIME_UNAVAILABLE.labels(TRIO).inc()
        raise RuntimeUnavailable(
            f"Runtime 'trio' unavailable: it failed during the call of tool '{tool.name}' "
            f"({exc.reason}); the call may have started, so it is not run again",
            runtime=TRIO,
            fallback=False,
        ) from None
    except bridge.RemoteCallError as exc:
        raise _call_error(exc) from None

    from apps.tools.call_service import ToolResult

    result = ToolResult.from_dict(payload)
    result.meta["runtime"] = TRIO
    result.meta["fallback"] = False
    result.meta["routing_version"] = table.version
    return result


def _call_error(exc: bridge.RemoteCallError) -> Exception:
    from apps.tools import call_service

    kinds = {
        "ToolNotFound": call_service.ToolNotFound,
        "CallDenied": call_service.CallDenied,
        "InvalidArguments": call_service.InvalidArguments,
    }
    return kinds.get(exc.kind, call_service.CallError)(exc.message, **exc.details)
