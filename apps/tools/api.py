"""REST endpoints of the catalogue: the legacy surface and /api/v2/tools. Thin: each calls
the call service or a selector."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja.responses import Status
from prometheus_client import CONTENT_TYPE_LATEST

from apps.access.principals import SCOPE_ADMIN, SCOPE_READ, Principal
from apps.routing.router import cache as routing_cache
from apps.routing.router import explain_route
from apps.routing.schemas import RouteOut
from apps.tools import metrics, selectors, services
from apps.tools.call_errors import CallError
from apps.tools.call_service import call_tool
from apps.tools.models import Outcome
from apps.tools.schemas import (
    EnabledPatchIn,
    ExecuteOut,
    HealthOut,
    McpToolCallIn,
    McpToolsListOut,
    PromptOut,
    ReadyOut,
    ResourceOut,
    ToolListOut,
    ToolOut,
    ToolPatchIn,
)
from mcp_platform import health
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import ApiError, error_response, invalid_input, now_iso, require_scope

# The request body of the call endpoints: the raw arguments object, parsed by the view.
ARGUMENTS_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}}
        },
        "description": "The tool's arguments, as a JSON object.",
    }
}

health_router = Router(tags=["health"], auth=None)
# /api/v2/routing/explain/{name}: served here, where tools are found (routing sits below tools).
explain_router = Router(tags=["routing"])
legacy_router = Router(tags=["tools (legacy)"])
v2_router = Router(tags=["tools"])
prompts_router = Router(tags=["prompts"])
resources_router = Router(tags=["resources"])


@health_router.get("/health", response=HealthOut)
def health_check(request: HttpRequest):
    return {
        "status": "healthy",
        "timestamp": now_iso(),
        "version": health.version(),
        "uptime_seconds": health.uptime_seconds(),
    }


@health_router.get("/health/ready", response={200: ReadyOut, 503: ReadyOut})
def readiness_check(request: HttpRequest):
    ready, checks = health.readiness()
    body = {
        "status": "ready" if ready else "not_ready",
        "timestamp": now_iso(),
        "uptime_seconds": health.uptime_seconds(),
        "checks": checks,
    }
    return Status(200 if ready else 503, body)


@health_router.get("/metrics", include_in_schema=True)
def prometheus_metrics(request: HttpRequest):
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


@legacy_router.get("/tools/list", response=ToolListOut)
def list_tools(request: HttpRequest):
    principal: Principal = request.auth
    require_scope(principal, SCOPE_READ)
    tools = selectors.tools_visible_to(principal)
    return {
        "tools": [tool.name for tool in tools],
        "count": len(tools),
        "categories": sorted({tool.category for tool in tools}),
    }


def _parse_json_body(request: HttpRequest) -> Any:
    if not request.body:
        return {}
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(f"Malformed JSON body: {exc}", 400) from None


def _legacy_result(result) -> Any:
    return result.structured_content if result.structured_content is not None else result.text


@legacy_router.post(
    "/tools/execute/{tool_name}",
    response=ExecuteOut,
    openapi_extra=ARGUMENTS_BODY,
)
async def execute_tool(request: HttpRequest, tool_name: str):
    principal: Principal = request.auth
    arguments = _parse_json_body(request)
    result = await call_tool(tool_name, arguments, principal, "rest")
    if result.is_error:
        status = 504 if result.outcome == Outcome.TIMEOUT else 500
        if "input_unavailable" in result.meta:  # the tool asked for input: not over REST
            status = 422
        return error_response(f"Tool execution failed: {result.text}", status, meta=result.meta)
    return {"tool": tool_name, "status": "success", "result": _legacy_result(result)}


@legacy_router.api_operation(["GET", "POST"], "/mcp/tools/list", response=McpToolsListOut)
def mcp_tools_list(request: HttpRequest):
    principal: Principal = request.auth
    require_scope(principal, SCOPE_READ)
    tools = selectors.tools_visible_to(principal)
    return {"jsonrpc": "2.0", "result": {"tools": [selectors.tool_descriptor(t) for t in tools]}}


def _jsonrpc_error(code: int, message: str, status: int) -> HttpResponse:
    body = {"jsonrpc": "2.0", "error": {"code": code, "message": message}}
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


@legacy_router.post("/mcp/tools/call")
async def mcp_tools_call(request: HttpRequest):
    principal: Principal = request.auth
    body = _parse_json_body(request)
    if not isinstance(body, dict):
        return _jsonrpc_error(-32602, "Request body must be a JSON object", 400)
    try:
        payload = McpToolCallIn(**body).call()
    except Exception as exc:
        return _jsonrpc_error(-32602, f"Invalid params: {exc}", 400)
    name = payload.name or payload.tool
    if not name:
        return _jsonrpc_error(-32602, "Missing tool name ('name')", 400)
    try:
        result = await call_tool(name, payload.arguments, principal, "rest")
    except CallError as exc:
        response = _jsonrpc_error(exc.codes.legacy_rpc_code, exc.message, exc.codes.http_status)
        if "retry_after" in exc.details:  # RateLimited
            response["Retry-After"] = str(exc.details["retry_after"])
        return response
    return {"jsonrpc": "2.0", "result": result.to_mcp()}


def _no_p2p() -> dict:
    return {"status": "disabled", "peer_id": None, "multiaddrs": []}


# The node's P2P status for /mcp/discover, provided by the task queue app (above this one).
p2p_status: Callable[[], dict] = _no_p2p


def _p2p_status() -> dict:
    node = p2p_status()
    return {"status": node["status"], "peer_id": node["peer_id"], "multiaddrs": node["multiaddrs"]}


@legacy_router.get("/mcp/discover")
def mcp_discover(request: HttpRequest):
    principal: Principal = request.auth
    require_scope(principal, SCOPE_READ)
    tools = selectors.tools_visible_to(principal)
    return {
        "server": "mcp-platform",
        "version": health.version(),
        "protocol": "mcp",
        "tools": [tool.name for tool in tools],
        "p2p": _p2p_status(),
        "endpoints": {
            "jsonrpc": "/mcp",
            "health": "/health",
            "tools_list": "/tools/list",
            "tools_execute": "/tools/execute/{tool_name}",
            "mcp_tools_list": "/mcp/tools/list",
            "mcp_tools_call": "/mcp/tools/call",
            "p2p_peers": "/mcp/p2p/peers",
            "p2p_call": "/mcp/p2p/call",
            "openapi": "/openapi.json",
            "api_v2": "/api/v2/",
        },
    }


@explain_router.get("/explain/{name}", response=RouteOut)
def explain(request: HttpRequest, name: str):
    """Which runtime the tool runs on, and every routing step that led there."""
    require_scope(request.auth, SCOPE_READ)
    tool = selectors.find_tool(name)
    if tool is None or not request.auth.may_use_tool(tool.name):
        raise ApiError(f"Tool '{name}' not found", 404)
    return explain_route(tool, routing_cache.get()).as_dict()


@v2_router.get("/", response=list[ToolOut])
def v2_list_tools(request: HttpRequest, category: str | None = None, enabled: bool | None = None):
    require_scope(request.auth, SCOPE_READ)
    tools = selectors.all_tools(category=category, enabled=enabled)
    return [t for t in tools if request.auth.may_use_tool(t.name)]


@v2_router.get("/{name}", response=ToolOut)
def v2_get_tool(request: HttpRequest, name: str):
    require_scope(request.auth, SCOPE_READ)
    tool = selectors.find_tool(name)
    if tool is None or not request.auth.may_use_tool(tool.name):
        raise ApiError(f"Tool '{name}' not found", 404)
    return tool


@v2_router.patch("/{name}", response=ToolOut)
async def v2_update_tool(request: HttpRequest, name: str, payload: ToolPatchIn):
    require_scope(request.auth, SCOPE_ADMIN)
    tool = await run_blocking(selectors.find_tool, name)
    if tool is None:
        raise ApiError(f"Tool '{name}' not found", 404)
    changes = payload.dict(exclude_none=True)
    try:
        return await run_blocking(
            services.update_tool, tool=tool, changes=changes, actor=request.auth.name
        )
    except (DjangoValidationError, ValueError) as exc:
        raise invalid_input(exc, f"change to tool '{name}'") from None


@v2_router.post(
    "/{name}/call",
    openapi_extra=ARGUMENTS_BODY,
)
async def v2_call_tool(request: HttpRequest, name: str):
    """Call a tool; the reply is the whole result: content, structuredContent, isError,
    outcome, and meta (runtime, pid, fallback, request id, duration)."""
    result = await call_tool(name, _parse_json_body(request), request.auth, "rest")
    return result.to_dict()


# Prompts and resources: listed with tools:read (like tools), enabled/disabled with admin.


async def _set_enabled(
    request: HttpRequest, name: str, enabled: bool, *, kind: str, find: Callable
) -> Any:
    """PATCH of the named prompt or resource (`find` looks it up)."""
    require_scope(request.auth, SCOPE_ADMIN)
    entry = await run_blocking(find, name)
    if entry is None:
        raise ApiError(f"{kind} '{name}' not found", 404)
    try:
        return await run_blocking(
            services.update_entry,
            entry=entry,
            changes={"enabled": enabled},
            actor=request.auth.name,
        )
    except (DjangoValidationError, ValueError) as exc:
        raise invalid_input(exc, f"change to {kind.lower()} '{name}'") from None


@prompts_router.get("/", response=list[PromptOut])
async def v2_list_prompts(request: HttpRequest):
    require_scope(request.auth, SCOPE_READ)
    return await run_blocking(selectors.all_prompts)


@prompts_router.patch("/{name}", response=PromptOut)
async def v2_update_prompt(request: HttpRequest, name: str, payload: EnabledPatchIn):
    return await _set_enabled(
        request,
        name,
        payload.enabled,
        kind="Prompt",
        find=selectors.find_prompt,
    )


@resources_router.get("/", response=list[ResourceOut])
async def v2_list_resources(request: HttpRequest):
    require_scope(request.auth, SCOPE_READ)
    return await run_blocking(selectors.all_resources)


@resources_router.patch("/{name}", response=ResourceOut)
async def v2_update_resource(request: HttpRequest, name: str, payload: EnabledPatchIn):
    return await _set_enabled(
        request,
        name,
        payload.enabled,
        kind="Resource",
        find=selectors.find_resource,
    )
