"""The legacy P2P REST endpoints, answering for real: `GET /mcp/p2p/peers` reads what this
node's Trio runtime observes; `POST /mcp/p2p/call` runs `p2p_remote_call` there (over the
bridge, like every trio-routed call)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from apps.access.principals import SCOPE_READ, Principal
from apps.taskqueue import selectors
from apps.tools.call_service import RuntimeUnavailable, call_tool
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import error_response, require_scope

p2p_legacy_router = Router(tags=["p2p"])

DEFAULT_TIMEOUT = 30.0


class P2PCallIn(Schema):
    peer_id: str
    method: str = "tools/call"
    params: dict[str, Any] | None = None
    timeout: float | None = None


@p2p_legacy_router.get("/mcp/p2p/peers")
async def p2p_peers(request: HttpRequest):
    principal: Principal = request.auth
    require_scope(principal, SCOPE_READ)
    return await run_blocking(selectors.legacy_peers)


@p2p_legacy_router.post("/mcp/p2p/call")
async def p2p_call(request: HttpRequest, payload: P2PCallIn):
    node = await run_blocking(selectors.p2p_status)
    if node["status"] != "active":
        return error_response("P2P node not started", 503)
    timeout = min(max(payload.timeout or DEFAULT_TIMEOUT, 1.0), 120.0)
    arguments = {
        "peer_id": payload.peer_id,
        "method": payload.method,
        "params": payload.params or {},
        "timeout": timeout,
    }
    try:
        result = await call_tool("p2p_remote_call", arguments, request.auth, "rest")
    except RuntimeUnavailable as exc:
        return error_response(f"P2P node not started: {exc.message}", 503)
    structured = result.structured_content or {}
    if result.is_error and structured.get("status") == "error":
        code = structured.get("code")
        status = 400 if code == "unknown_peer" else 504 if code == "timeout" else 502
        return error_response(
            structured.get("error", result.text),
            status,
            remote_error=structured.get("remote_error"),
        )
    if payload.method == "tools/call":
        return {"result": structured.get("result")}
    return {"result": structured.get("result", structured)}
