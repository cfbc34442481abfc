"""The Trio runtime's HTTP surface (served by Hypercorn's trio worker):

- `GET /health`: open, the runtime's status, pid and routing version;
- `POST /internal/bridge/call`: the web process's trio-routed calls (shared secret);
- `POST /internal/control/reload`: reload routing now (shared secret);
- `POST /internal/control/cancel`: cancel an in-flight bridged call by request id (shared secret);
- `mounts`: the other endpoints `serve_runtime` passes in (the MCP endpoint at /mcp).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from apps.access.principals import Principal
from apps.routing import shared_secret
from apps.tools.call_service import CallError, RunPlan, ToolResult, record_call, run_bridged
from apps.tools.models import Outcome
from mcp_platform import tracing
from trio_runtime.reloader import RoutingReloader
from trio_runtime.state import RuntimeState

logger = logging.getLogger(__name__)


def refusal(message: str, **extra: Any) -> dict[str, Any]:
    """The body of a call the runtime did not start: the web process may run it elsewhere."""
    return {"started": False, "error": message, **extra}


def _refused(message: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse(refusal(message, **extra), status_code=status)


def _authorized(request: Request) -> bool:
    return shared_secret.is_valid(request.headers.get("authorization"))


async def serve_bridge_call(
    state: RuntimeState,
    body: Any,
    *,
    trace: Mapping[str, Any] | None,
    caller_gone: Callable[[], Awaitable[str]],
    notify: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ask: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One bridged call, whichever way it came (HTTP here, or the bridge socket:
    trio_runtime/bridge_socket.py): its HTTP status and JSON body. `caller_gone` returns when
    the caller went away or asked to stop the call (the reason it returns is the call's error);
    where the way it came can (the socket), `notify` sends a note (the tool's log entries, its
    progress) to the caller during the call and `ask` puts the tool's questions to it."""
    if not state.accepting:
        return 503, refusal(f"the Trio runtime is {state.status}")
    # The web side's trace continues here: this runtime's spans are children of its bridge.
    with (
        state.track_call(),
        tracing.continued(trace),
        tracing.span("bridged call", kind=tracing.trace.SpanKind.SERVER),
    ):
        return await _run_bridged(state, body, caller_gone, notify, ask)


async def _run_bridged(
    state: RuntimeState,
    body: Any,
    caller_gone: Callable[[], Awaitable[str]],
    notify: Callable[[dict[str, Any]], Awaitable[None]] | None,
    ask: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None,
) -> tuple[int, dict[str, Any]]:
    try:
        principal = Principal.from_dict(body["principal"])
        plan = RunPlan.from_dict(body["plan"])
        arguments = body.get("arguments") or {}
        via, request_id = body.get("via", "bridge"), body["request_id"]
        remaining = float(body["deadline"]) - time.time()
        askable = [str(method) for method in body.get("askable") or ()]
        escalate = body.get("escalate") is True
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return 400, refusal(f"malformed bridge request: {exc!r}")
    if remaining <= 0:
        return 503, refusal("the call's deadline passed before it started")
    started_at, started = datetime.now(UTC), time.perf_counter()
    gone_why = ""

    async def cancel_when_caller_goes(scope: trio.CancelScope) -> None:
        # The web process (or the job's worker) died, dropped or cancelled the call: stop it.
        nonlocal gone_why
        gone_why = await caller_gone()
        scope.cancel()

    # The web process checked this call (find, authorize, validate: see prepare_call);
    # it is not checked again here.
    with state.cancellable(request_id) as cancelled, trio.move_on_after(remaining) as deadline:
        async with trio.open_nursery() as watching:
            watching.start_soon(cancel_when_caller_goes, cancelled)
            try:
                result = await run_bridged(
                    arguments=arguments,
                    principal=principal,
                    via=via,
                    request_id=request_id,
                    plan=plan,
                    notify=notify,
                    ask=ask,
                    askable=askable,
                    escalate=escalate,
                )
            except CallError as exc:
                watching.cancel_scope.cancel()
                return exc.status_code, refusal(
                    exc.message, call_error=exc.kind, details=exc.details
                )
            watching.cancel_scope.cancel()
    if cancelled.cancelled_caught:
        # Cancelled through /internal/control/cancel when the caller gave no reason.
        result = ToolResult.error(gone_why or "cancelled by the caller", Outcome.CANCELLED)
    elif deadline.cancelled_caught:
        result = ToolResult.error(
            f"Tool '{plan.tool_name}' passed its deadline on the Trio runtime",
            Outcome.TIMEOUT,
        )
    if result.is_error:
        state.errors += 1
    result.meta.update(
        runtime="trio",
        pid=os.getpid(),
        instance=state.instance_id,
        runtime_routing_version=state.routing_version,
    )
    # This process ran the call, so it writes the call's one ToolCall row (the web side
    # does not record a call it bridged).
    record_call(
        tool_name=plan.tool_name,
        runtime="trio",
        caller=principal.name,
        via=via,
        request_id=request_id,
        started_at=started_at,
        seconds=time.perf_counter() - started,
        outcome=result.outcome,
        error=result.text if result.is_error else "",
        meta=result.meta,
        arguments=arguments,
    )
    answer = result.to_dict()
    # 2026 era: the tool's questions ended the call, or it went on as a task; the web side
    # holds the questions and answers (run_bridged).
    if result.input_required is not None:
        answer["input_required"] = True
    if result.meta.get("continued_as_task"):
        answer["continued_as_task"] = True
    return 200, answer


def build_app(
    state: RuntimeState, reloader: RoutingReloader, *, mounts: dict[str, Any]
) -> Starlette:
    """The runtime's routes; `mounts`: other ASGI apps by path (e.g. "/mcp": the endpoint)."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(state.health(), status_code=200 if state.status == "up" else 503)

    async def bridge_call(request: Request) -> JSONResponse:
        if not _authorized(request):
            return _refused("bad or missing bridge secret", 401)
        if not state.accepting:
            return _refused(f"the Trio runtime is {state.status}", 503)
        try:
            body = await request.json()
        except ValueError as exc:
            return _refused(f"malformed bridge request: {exc!r}", 400)

        async def disconnected() -> str:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            return "the caller went away"

        status, payload = await serve_bridge_call(
            state, body, trace=request.headers, caller_gone=disconnected
        )
        return JSONResponse(payload, status_code=status)

    async def control_reload(request: Request) -> JSONResponse:
        if not _authorized(request):
            return _refused("bad or missing bridge secret", 401)
        version = await reloader.reload(reason="control call")
        return JSONResponse({"routing_version": version})

    async def control_cancel(request: Request) -> JSONResponse:
        if not _authorized(request):
            return _refused("bad or missing bridge secret", 401)
        try:
            request_id = (await request.json())["request_id"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'send {"request_id": ...}'}, status_code=400)
        return JSONResponse({"request_id": request_id, "cancelled": state.cancel(request_id)})

    routes = [
        Route("/health", health),
        Route("/internal/control/cancel", control_cancel, methods=["POST"]),
        Route("/internal/bridge/call", bridge_call, methods=["POST"]),
        Route("/internal/control/reload", control_reload, methods=["POST"]),
        # Route serves the exact path (`/mcp`, no redirect to `/mcp/`), Mount what is below it.
        *(r for path, app in mounts.items() for r in (Route(path, app), Mount(path, app=app))),
    ]
    return Starlette(routes=routes)
