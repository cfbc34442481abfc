"""MCP tasks (protocol 2025-11-25) backed by jobs: task-augmented `tools/call`, `tasks/get`,
`tasks/result`, `tasks/list`, `tasks/cancel`.

The mcp 2.3.0 SDK serves none of this itself: its dispatch tables leave tasks out, a
`tools/call` handler may only return a `CallToolResult`, and the capabilities it advertises
have no `tasks`. It does let a server add request handlers and middleware, which is all this
needs: `install_task_support(server)` registers the four `tasks/*` methods, and a middleware
answers a `tools/call` that carries `params.task` with a `CreateTaskResult` (middleware results
are not checked against the method's result type), adds `tasks` to the capabilities of the
`initialize` reply, and marks every listed tool `execution.taskSupport: "optional"`.
The MCP server owner calls it once on its `Server` (see apps/tools/mcp_server.py).

Known limit: the SDK's own *client* validates every `tools/call` reply as a `CallToolResult`,
so SDK clients cannot start a task yet; raw JSON-RPC clients (and other SDKs) can.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from apps.access.principals import SCOPE_CALL, Principal
from apps.jobs import selectors, services
from apps.jobs.models import FINISHED, Job, JobStatus
from apps.tools.call_errors import CallError
from apps.tools.mcp_server import mcp_error
from mcp_platform import tracing
from mcp_platform.concurrency import run_blocking

logger = logging.getLogger(__name__)

FORBIDDEN = -32001
POLL_INTERVAL_MS = 500
PAGE_SIZE = 50
RESULT_POLL_SECONDS = 0.2
CANCEL_WAIT_SECONDS = 5.0  # a running job stops well within this
RELATED_TASK_META = "io.modelcontextprotocol/related-task"
TASKS_CAPABILITY = types.ServerTasksCapability(
    list=types.TasksListCapability(),
    cancel=types.TasksCancelCapability(),
    requests=types.ServerTasksRequestsCapability(
        tools=types.TasksToolsCapability(call=types.TasksCallCapability())
    ),
)

PrincipalOf = Callable[[ServerRequestContext[Any]], Principal | None]

_STATUS = {
    JobStatus.QUEUED: "working",
    JobStatus.RUNNING: "working",
    JobStatus.SUCCEEDED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


def principal_from_scope(ctx: ServerRequestContext[Any]) -> Principal | None:
    """The caller the HTTP endpoint put into the request scope."""
    from apps.tools.mcp_server import PRINCIPAL_SCOPE_KEY

    request = ctx.request
    return request.scope.get(PRINCIPAL_SCOPE_KEY) if request is not None else None


def task_of(job: Job) -> types.Task:
    """A job as an MCP Task."""
    message = job.error or job.progress_message or None
    if job.status == JobStatus.RUNNING and job.progress is not None and not job.error:
        total = f"/{job.progress_total:g}" if job.progress_total else ""
        message = f"{job.progress_message or 'progress'} {job.progress:g}{total}"
    return types.Task(
        task_id=str(job.pk),
        status=_STATUS[job.status],
        status_message=message,
        created_at=job.created_at.isoformat(),
        last_updated_at=job.updated_at.isoformat(),
        ttl=job.ttl_seconds * 1000 if job.ttl_seconds else None,
        poll_interval=POLL_INTERVAL_MS,
    )


def tool_result_of(job: Job) -> dict[str, Any]:
    """The `CallToolResult` of a finished job, tagged with its task."""
    if job.result is not None:
        reply = {"content": job.result["content"], "isError": job.result["isError"]}
        if job.result.get("structuredContent") is not None:
            reply["structuredContent"] = job.result["structuredContent"]
    else:
        reply = {"content": [{"type": "text", "text": job.error}], "isError": True}
    reply["_meta"] = {RELATED_TASK_META: {"taskId": str(job.pk)}}
    return reply


class TaskHandlers:
    """The tasks/* handlers and the middleware, for one server."""

    def __init__(self, principal_of: PrincipalOf, default: Principal | None = None):
        self.principal_of = principal_of
        self.default = default

    def principal(self, ctx: ServerRequestContext[Any]) -> Principal:
        principal = self.principal_of(ctx) or self.default
        if principal is None:
            raise MCPError(INTERNAL_ERROR, "Internal server error")
        return principal

    async def job(self, ctx: ServerRequestContext[Any], task_id: str) -> Job:
        try:
            return await run_blocking(
                services.job_for, job_id=task_id, principal=self.principal(ctx)
            )
        except services.JobNotFound:
            raise MCPError(INVALID_PARAMS, f"Task not found: {task_id}") from None

    async def middleware(
        self, ctx: ServerRequestContext[Any], call_next: CallNext
    ) -> HandlerResult:
        params = ctx.params or {}
        if (
            ctx.method == "tools/call"
            and isinstance(params, dict)
            and params.get("task") is not None
        ):
            return await self.create_task(ctx, params)
        result = await call_next(ctx)
        if ctx.method == "initialize":
            return _with_tasks_capability(result)
        if ctx.method == "tools/list":
            return _with_task_support(result)
        return result

    async def create_task(self, ctx: ServerRequestContext[Any], params: dict) -> dict[str, Any]:
        """A task-augmented tools/call: the call becomes a job; the reply is its task."""
        task = params.get("task") or {}
        ttl_ms = task.get("ttl") if isinstance(task, dict) else None
        ttl = max(1, round(ttl_ms / 1000)) if isinstance(ttl_ms, int | float) else None
        try:
            # The job keeps the trace of the HTTP request that submitted it (if one came).
            with tracing.continued(ctx.request.headers if ctx.request is not None else None):
                job = await services.asubmit_job(
                    tool_name=params.get("name"),
                    arguments=params.get("arguments") or {},
                    principal=self.principal(ctx),
                    via="mcp",
                    ttl_seconds=ttl,
                )
        except CallError as exc:
            # A task cannot be a result: every refusal is a JSON-RPC error (the call path's table).
            raise mcp_error(exc, name=params.get("name"), as_result=False) from None
        created = types.CreateTaskResult(task=task_of(job))
        return created.model_dump(by_alias=True, mode="json", exclude_none=True)

    async def get(
        self, ctx: ServerRequestContext[Any], params: types.GetTaskRequestParams
    ) -> types.GetTaskResult:
        job = await self.job(ctx, params.task_id)
        return types.GetTaskResult(**task_of(job).model_dump())

    async def result(
        self, ctx: ServerRequestContext[Any], params: types.GetTaskPayloadRequestParams
    ) -> dict[str, Any]:
        """Wait until the task finished, then its tool result (the client may cancel the wait)."""
        job = await self.job(ctx, params.task_id)
        while job.status not in FINISHED:
            await anyio.sleep(RESULT_POLL_SECONDS)
            job = await self.job(ctx, params.task_id)
        return tool_result_of(job)

    async def list(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams
    ) -> types.ListTasksResult:
        offset = _decode_cursor(params.cursor)
        principal = self.principal(ctx)

        def page() -> list[Job]:
            jobs = selectors.jobs_visible_to(principal)
            return list(jobs[offset : offset + PAGE_SIZE + 1])

        jobs = await run_blocking(page)
        more = len(jobs) > PAGE_SIZE
        return types.ListTasksResult(
            tasks=[task_of(job) for job in jobs[:PAGE_SIZE]],
            next_cursor=_encode_cursor(offset + PAGE_SIZE) if more else None,
        )

    async def cancel(
        self, ctx: ServerRequestContext[Any], params: types.CancelTaskRequestParams
    ) -> types.CancelTaskResult:
        principal = self.principal(ctx)
        job = await self.job(ctx, params.task_id)
        if job.status in FINISHED:
            raise MCPError(
                INVALID_PARAMS, f"Cannot cancel task {job.pk}: it is already {_STATUS[job.status]}"
            )
        if not principal.has_scope(SCOPE_CALL):
            raise MCPError(FORBIDDEN, f"Caller '{principal.name}' lacks the '{SCOPE_CALL}' scope")
        job = await run_blocking(services.cancel_job, job=job, principal=principal)
        # Answer once the worker stopped it, so the reply says `cancelled`.
        with anyio.move_on_after(CANCEL_WAIT_SECONDS):
            while job.status not in FINISHED:
                await anyio.sleep(RESULT_POLL_SECONDS / 2)
                job = await self.job(ctx, params.task_id)
        return types.CancelTaskResult(**task_of(job).model_dump())


def _with_tasks_capability(result: HandlerResult) -> HandlerResult:
    if isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
        tasks = TASKS_CAPABILITY.model_dump(by_alias=True, mode="json", exclude_none=True)
        return {**result, "capabilities": {**result["capabilities"], "tasks": tasks}}
    return result


def _with_task_support(result: HandlerResult) -> HandlerResult:
    """Every listed tool may be called as a task (the reply is the wire dict by now)."""
    if isinstance(result, dict) and isinstance(result.get("tools"), list):
        tools = [
            {"execution": {"taskSupport": "optional"}, **tool} if isinstance(tool, dict) else tool
            for tool in result["tools"]
        ]
        return {**result, "tools": tools}
    return result


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(cursor.encode()).decode()))
    except ValueError:
        raise MCPError(INVALID_PARAMS, "Invalid cursor") from None


def install_task_support(
    server: Server,
    *,
    principal_of: PrincipalOf = principal_from_scope,
    default_principal: Principal | None = None,
) -> TaskHandlers:
    """Serve MCP tasks on `server`, backed by jobs; `principal_of(ctx)` names the caller
    (default: what the HTTP endpoint put into the request scope, else `default_principal`)."""
    handlers = TaskHandlers(principal_of, default_principal)
    server.add_request_handler("tasks/get", types.GetTaskRequestParams, handlers.get)
    server.add_request_handler("tasks/result", types.GetTaskPayloadRequestParams, handlers.result)
    server.add_request_handler("tasks/list", types.PaginatedRequestParams, handlers.list)
    server.add_request_handler("tasks/cancel", types.CancelTaskRequestParams, handlers.cancel)
    server.middleware.append(handlers.middleware)
    return handlers
