"""The legacy P2P REST endpoints, answering for real: `GET /mcp/p2p/peers` reads what this
node's Trio runtime observes; `POST /mcp/p2p/call` runs `p2p_remote_call` there (over the
bridge, like every trio-routed call)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from apps.access.principals import SCOPE_CALL, SCOPE_READ, Principal
from apps.taskqueue import selectors, workflows
from apps.taskqueue.principals import owner_seen_by
from apps.tools.call_service import RuntimeUnavailable, call_tool
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import ApiError, Forbidden, error_response, require_scope

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


# ---------------------------------------------------------------- legacy workflow routes

workflows_legacy_router = Router(tags=["workflows (legacy)"])


class LegacyWorkflowIn(Schema):
    workflow_name: str = Field(..., max_length=200)
    steps: list[dict[str, Any]]
    parameters: dict[str, Any] | None = None


def _submit_legacy_workflow(payload: LegacyWorkflowIn, principal: Principal) -> dict[str, Any]:
    for step in payload.steps:
        name = step.get("tool") or step.get("tool_name")
        if isinstance(name, str) and not principal.may_call(name):
            raise Forbidden(f"Caller '{principal.name}' may not call tool '{name}'")
    workflow = workflows.submit_workflow(
        steps=workflows.legacy_steps(payload.steps),
        name=payload.workflow_name,
        submitter=principal,
    )
    return {
        "task_id": str(workflow.pk),
        "status": "started",
        "workflow_name": workflow.name,
        "steps_count": len(payload.steps),
    }


@workflows_legacy_router.post("/workflows/execute")
async def execute_workflow(request: HttpRequest, payload: LegacyWorkflowIn):
    """Submit the steps as a platform workflow; `task_id` is the workflow's id."""
    require_scope(request.auth, SCOPE_CALL)
    try:
        return await run_blocking(_submit_legacy_workflow, payload, request.auth)
    except (workflows.WorkflowError, ValueError, TypeError) as exc:
        raise ApiError(f"Invalid workflow: {exc}", 400) from None


def _legacy_status(task_id: str, principal: Principal) -> dict[str, Any]:
    # Another caller's workflow is not found, as in the workflow tools (apps/taskqueue/tools.py).
    workflow = workflows.get_workflow(task_id, owner=owner_seen_by(principal))
    data = selectors.workflow_dict(workflow)
    steps = data["steps"]
    return {
        "task_id": data["workflow_id"],
        "workflow_name": data["name"],
        "status": data["status"],
        "steps_count": len(steps),
        "completed_steps": sum(1 for s in steps if s["status"] == "succeeded"),
        "steps": steps,
        "results": {s["id"]: s["result"] for s in steps if s["status"] == "succeeded"},
        "error": data["error"],
        "created_at": data["created_at"],
        "finished_at": data["finished_at"],
    }


@workflows_legacy_router.get("/workflows/status/{task_id}")
async def workflow_status(request: HttpRequest, task_id: str):
    """The workflow's status (running, succeeded, failed, cancelled) and each step's."""
    require_scope(request.auth, SCOPE_READ)
    try:
        return await run_blocking(_legacy_status, task_id, request.auth)
    except workflows.WorkflowError:
        raise ApiError(f"Workflow '{task_id}' not found", 404) from None
