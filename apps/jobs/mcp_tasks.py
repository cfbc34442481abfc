"""MCP tasks backed by jobs, in both protocol eras.

2025-11-25 (the client asks): a `tools/call` carrying `params.task` is answered with a
`CreateTaskResult` (`{"task": {...}}`); `tasks/get`, `tasks/result`, `tasks/list` and
`tasks/cancel` follow it; `initialize` advertises `capabilities.tasks` and each tool is listed
with its `execution.taskSupport`.

2026-07-28, the tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`; the wire of the
pinned conformance suite): `server/discover` advertises it under `capabilities.extensions`;
when a request declares it in its client capabilities, a `tools/call` of a tool whose
`task_support` is `optional` or `required` is answered with a flat `CreateTaskResult`
(`resultType: "task"`, `taskId`, `status`, `ttlMs`, `pollIntervalMs`); `tasks/get` inlines the
tool's `result` (or the JSON-RPC `error` of a call that could not be made), or, while the
task waits for input (`input_required`: its tool asked, see apps.jobs.execution.JobAsker), the
open `inputRequests`; `tasks/update` delivers their answers (the job runs again from the start
once none is open); `tasks/cancel` and `tasks/update` answer an empty acknowledgement;
`tasks/result` and `tasks/list` do not exist (-32601). Without the extension, `tasks/*` and a `required` tool answer -32021.

The mcp 2.3.0 SDK serves none of this itself: its dispatch tables leave tasks out, a
`tools/call` handler may only return a `CallToolResult`, and the capabilities it advertises
have no `tasks`. It does let a server add request handlers and middleware, which is all this
needs: `install_task_support(server)` registers the `tasks/*` methods, and a middleware answers
a `tools/call` that becomes a task (middleware results are not checked against the method's
result type; a 2026 result with an extension `resultType` is the extension's own), and adds the
capability to `initialize` and `server/discover`. The MCP server owner calls it once on its
`Server` (see mcp_platform/asgi.py).

Known limits: the SDK's own *client* validates every `tools/call` reply as a `CallToolResult`,
so SDK clients cannot start a task; raw JSON-RPC clients (and other SDKs) can. A call does
not ask before it becomes a task (a task's questions are its job's, through `tasks/update`).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
from django.conf import settings
from mcp.server import Server
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import HEADER_MISMATCH, INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from apps.access.principals import SCOPE_CALL, Principal
from apps.jobs import selectors, services
from apps.jobs.models import FINISHED, Job, JobStatus
from apps.tools import interaction, mcp_interaction, registry
from apps.tools.call_errors import CallError
from apps.tools.mcp_server import mcp_error
from mcp_platform import tracing
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import Forbidden

logger = logging.getLogger(__name__)

FORBIDDEN = -32001
POLL_INTERVAL_MS = 500
PAGE_SIZE = 50
RESULT_POLL_SECONDS = 0.2
CANCEL_WAIT_SECONDS = 5.0  # a running job stops well within this
RELATED_TASK_META = "io.modelcontextprotocol/related-task"
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
ROUTED_METHODS = ("tasks/get", "tasks/update", "tasks/cancel")
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
    JobStatus.INPUT_REQUIRED: "input_required",
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


def detailed_task_of(job: Job) -> dict[str, Any]:
    """A job as a SEP-2663 task (2026 era): the tool's result inlined once it finished, or the
    JSON-RPC error of a call that could not be made (`failed`)."""
    status = _STATUS[job.status]
    ttl_seconds = job.ttl_seconds or settings.MCP_PLATFORM_JOB_RETENTION_DAYS * 86400
    task: dict[str, Any] = {
        "taskId": str(job.pk),
        "status": status,
        "createdAt": job.created_at.isoformat(),
        "lastUpdatedAt": job.updated_at.isoformat(),
        "ttlMs": ttl_seconds * 1000,
        "pollIntervalMs": POLL_INTERVAL_MS,
    }
    message = task_of(job).status_message
    if message:
        task["statusMessage"] = message
    if job.status == JobStatus.SUCCEEDED or (job.status == JobStatus.FAILED and job.result):
        # A tool that ran and reported an error completed: `result.isError` says so.
        task["status"] = "completed"
        result = tool_result_of(job)
        result.pop("_meta", None)  # the task id is the envelope's own
        task["result"] = result
    elif job.status == JobStatus.FAILED:
        task["error"] = {"code": INTERNAL_ERROR, "message": job.error or "Task failed"}
    elif job.status == JobStatus.INPUT_REQUIRED:  # the questions still open, by key
        task["inputRequests"] = dict(job.input_state.get("requests") or {})
    return task


def _is_modern(ctx: ServerRequestContext[Any]) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _not_in_this_era(ctx: ServerRequestContext[Any]) -> MCPError:
    era = ctx.protocol_version or "this protocol version"
    return MCPError(METHOD_NOT_FOUND, f"Method not found: {ctx.method} (not in {era})")


def _check_routing_header(ctx: ServerRequestContext[Any], params: Any) -> None:
    """SEP-2663: `tasks/get`, `tasks/update` and `tasks/cancel` carry `Mcp-Name: <taskId>`
    for routers; one that disagrees with the body is -32020 (SEP-2243's header mismatch)."""
    headers = ctx.request.headers if ctx.request is not None else {}
    named = headers.get("mcp-name")
    task_id = params.get("taskId") if isinstance(params, dict) else None
    if named is not None and named != task_id:
        raise MCPError(HEADER_MISMATCH, "Mcp-Name header does not match the request's taskId")


class UpdateTaskRequestParams(types.RequestParams):
    """`tasks/update` (2026 era): answers to a task's input requests."""

    task_id: str
    input_responses: dict[str, Any] | None = None


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
        if ctx.method in ROUTED_METHODS and _is_modern(ctx):
            _check_routing_header(ctx, params)
        if ctx.method == "tools/call" and isinstance(params, dict):
            if _is_modern(ctx):
                if self.becomes_task(ctx, params):
                    spec = _spec(params.get("name"))
                    if spec is not None and spec.metadata.get("asks_before_task"):
                        return await self.ask_then_create_task(ctx, params, call_next, spec.name)
                    return await self.create_task(ctx, params)
            elif params.get("task") is not None:
                return await self.create_task(ctx, params)
            else:
                _check_task_not_required(params)
        result = await call_next(ctx)
        if ctx.method == "initialize":
            return _with_tasks_capability(result)
        if ctx.method == "server/discover":
            return _with_tasks_extension(result)
        if ctx.method == "tools/list" and not _is_modern(ctx):
            return _with_task_support(result)
        return result

    def becomes_task(self, ctx: ServerRequestContext[Any], params: dict) -> bool:
        """2026 era: the server decides. A call becomes a task when its tool takes one and the
        request declared the tasks extension; a `required` tool without it is -32021. A
        legacy `params.task` changes nothing."""
        spec = _spec(params.get("name"))
        if spec is None or spec.task_support == "forbidden":
            return False
        if spec.task_support == "required":
            require_client_extension(ctx, TASKS_EXTENSION)
            return True
        capabilities = ctx.session.client_capabilities
        return TASKS_EXTENSION in ((capabilities.extensions or {}) if capabilities else {})

    async def ask_then_create_task(
        self, ctx: ServerRequestContext[Any], params: dict, call_next: CallNext, tool: str
    ) -> HandlerResult:
        """2026 era, a tool that asks before it becomes a task: the call runs as a plain one
        (its questions go out as InputRequiredResults, round after round) until the tool calls
        `ctx.continue_as_task()`; that round's reply is the task, which starts with the answers
        gathered (SEP-2663: no `requestState` in it)."""
        with interaction.escalating(tool) as escalation:
            result = await call_next(ctx)
        if escalation.answers is None:
            return result  # a round of questions, or a call that ended before going on
        return await self.create_task(ctx, params, answers=escalation.answers)

    async def create_task(
        self, ctx: ServerRequestContext[Any], params: dict, *, answers: dict | None = None
    ) -> dict[str, Any]:
        """A task-augmented tools/call: the call becomes a job; the reply is its task.
        `answers`: those its tool's questions already have (`ask_then_create_task`)."""
        task = params.get("task") or {}
        ttl_ms = task.get("ttl") if isinstance(task, dict) and not _is_modern(ctx) else None
        ttl = max(1, round(ttl_ms / 1000)) if isinstance(ttl_ms, int | float) else None
        if not _is_modern(ctx):
            _check_task_allowed(params)
        try:
            # The job keeps the trace of the HTTP request that submitted it (if one came).
            with tracing.continued(ctx.request.headers if ctx.request is not None else None):
                job = await services.asubmit_job(
                    tool_name=params.get("name"),
                    arguments=params.get("arguments") or {},
                    principal=self.principal(ctx),
                    via="mcp",
                    ttl_seconds=ttl,
                    can_ask=_declared_capabilities(ctx) if _is_modern(ctx) else None,
                    answers=answers,
                )
        except CallError as exc:
            # A task cannot be a result: every refusal is a JSON-RPC error (the call path's table).
            raise mcp_error(exc, name=params.get("name"), as_result=False) from None
        if _is_modern(ctx):  # SEP-2663: flat, the task's fields beside `resultType`
            return {"resultType": "task", **detailed_task_of(job)}
        created = types.CreateTaskResult(task=task_of(job))
        return created.model_dump(by_alias=True, mode="json", exclude_none=True)

    async def get(
        self, ctx: ServerRequestContext[Any], params: types.GetTaskRequestParams
    ) -> types.GetTaskResult | dict[str, Any]:
        if _is_modern(ctx):
            require_client_extension(ctx, TASKS_EXTENSION)
            return detailed_task_of(await self.job(ctx, params.task_id))
        job = await self.job(ctx, params.task_id)
        return types.GetTaskResult(**task_of(job).model_dump())

    async def update(
        self, ctx: ServerRequestContext[Any], params: UpdateTaskRequestParams
    ) -> dict[str, Any]:
        """2026 era: answers to a task's open questions (`inputResponses`, by key), then an
        empty acknowledgement. Once none is open the job runs again (`tasks/get` shows it);
        a response to a question not open (or a task not waiting) is ignored, as SEP-2663
        says; one that is not an answer of its question's kind is -32602."""
        if not _is_modern(ctx):
            raise _not_in_this_era(ctx)
        require_client_extension(ctx, TASKS_EXTENSION)
        job = await self.job(ctx, params.task_id)
        if job.status != JobStatus.INPUT_REQUIRED:
            return {}
        if not isinstance(params.input_responses, dict):
            raise MCPError(INVALID_PARAMS, "tasks/update needs inputResponses (an object)")
        requests = job.input_state.get("requests") or {}
        answers = {}
        for key, response in params.input_responses.items():
            if key not in requests:
                continue
            method = requests[key].get("method")
            answer = mcp_interaction.answer_of(method, response)
            if answer is None:
                raise MCPError(INVALID_PARAMS, f"inputResponses['{key}'] is not a {method} result")
            answers[key] = answer
        principal = self.principal(ctx)
        try:
            await run_blocking(services.answer_job, job=job, principal=principal, answers=answers)
        except Forbidden as exc:
            raise MCPError(FORBIDDEN, exc.message) from None
        return {}

    async def result(
        self, ctx: ServerRequestContext[Any], params: types.GetTaskPayloadRequestParams
    ) -> dict[str, Any]:
        """Wait until the task finished, then its tool result (the client may cancel the wait)."""
        if _is_modern(ctx):  # SEP-2663 inlines the result in tasks/get
            raise _not_in_this_era(ctx)
        job = await self.job(ctx, params.task_id)
        while job.status not in FINISHED:
            await anyio.sleep(RESULT_POLL_SECONDS)
            job = await self.job(ctx, params.task_id)
        return tool_result_of(job)

    async def list(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams
    ) -> types.ListTasksResult:
        if _is_modern(ctx):  # SEP-2663 has no tasks/list
            raise _not_in_this_era(ctx)
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
    ) -> types.CancelTaskResult | dict[str, Any]:
        modern = _is_modern(ctx)
        if modern:
            require_client_extension(ctx, TASKS_EXTENSION)
        principal = self.principal(ctx)
        job = await self.job(ctx, params.task_id)
        if modern and job.status in FINISHED:  # SEP-2663: cancelling a finished task is a no-op
            return {}
        if job.status in FINISHED:
            raise MCPError(
                INVALID_PARAMS, f"Cannot cancel task {job.pk}: it is already {_STATUS[job.status]}"
            )
        if not principal.has_scope(SCOPE_CALL):
            raise MCPError(FORBIDDEN, f"Caller '{principal.name}' lacks the '{SCOPE_CALL}' scope")
        job = await run_blocking(services.cancel_job, job=job, principal=principal)
        if modern:  # an acknowledgement; `tasks/get` shows `cancelled` once the worker stopped
            return {}
        # Answer once the worker stopped it, so the reply says `cancelled`.
        with anyio.move_on_after(CANCEL_WAIT_SECONDS):
            while job.status not in FINISHED:
                await anyio.sleep(RESULT_POLL_SECONDS / 2)
                job = await self.job(ctx, params.task_id)
        return types.CancelTaskResult(**task_of(job).model_dump())


def _declared_capabilities(ctx: ServerRequestContext[Any]) -> list[str]:
    """What the client can be asked (its declared `elicitation`, `sampling`, `roots`)."""
    capabilities = ctx.session.client_capabilities
    kinds = sorted(set(interaction.CAPABILITY.values()))
    return [kind for kind in kinds if getattr(capabilities, kind, None) is not None]


def _with_tasks_capability(result: HandlerResult) -> HandlerResult:
    if isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
        tasks = TASKS_CAPABILITY.model_dump(by_alias=True, mode="json", exclude_none=True)
        return {**result, "capabilities": {**result["capabilities"], "tasks": tasks}}
    return result


def _with_tasks_extension(result: HandlerResult) -> HandlerResult:
    """2026 era: the tasks extension under `capabilities.extensions` of `server/discover`."""
    if isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
        capabilities = result["capabilities"]
        extensions = {**(capabilities.get("extensions") or {}), TASKS_EXTENSION: {}}
        return {**result, "capabilities": {**capabilities, "extensions": extensions}}
    return result


def _spec(name: Any) -> registry.ToolSpec | None:
    return registry.get_spec(name) if isinstance(name, str) else None


def _task_support(name: Any) -> str:
    spec = _spec(name)
    return spec.task_support if spec is not None else "forbidden"


def _with_task_support(result: HandlerResult) -> HandlerResult:
    """2025 era: each listed tool says whether it may be called as a task (the reply is the
    wire dict by now); `forbidden`, the spec's default, is left unsaid."""
    if isinstance(result, dict) and isinstance(result.get("tools"), list):
        tools = []
        for tool in result["tools"]:
            support = _task_support(tool.get("name")) if isinstance(tool, dict) else "forbidden"
            if support != "forbidden":
                tool = {"execution": {"taskSupport": support}, **tool}
            tools.append(tool)
        return {**result, "tools": tools}
    return result


def _check_task_allowed(params: dict) -> None:
    """2025 era: a task-augmented call of a tool that forbids tasks is -32601 (the spec's)."""
    spec = _spec(params.get("name"))
    if spec is not None and spec.task_support == "forbidden":
        raise MCPError(METHOD_NOT_FOUND, f"Tool '{spec.name}' cannot run as a task")


def _check_task_not_required(params: dict) -> None:
    """2025 era: a plain call of a tool that runs only as a task is -32601 (the spec's)."""
    if _task_support(params.get("name")) == "required":
        raise MCPError(METHOD_NOT_FOUND, f"Tool '{params.get('name')}' runs only as a task")


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
    server.add_request_handler("tasks/update", UpdateTaskRequestParams, handlers.update)
    server.middleware.append(handlers.middleware)
    return handlers
