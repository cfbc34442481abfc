"""The task-queue and workflow tools, and the node status (with its queue summary). All are
`requires_p2p`, so routing runs them in the Trio runtime, where the libp2p host and the
workers live. The peer, bootstrap and remote tools are `apps/peers/tools.py`.
"""

from __future__ import annotations

from typing import Any

import pydantic
import trio

from apps.access.principals import SCOPE_ADMIN, Principal
from apps.peers.node import live_node
from apps.taskqueue import selectors, services, workflows
from apps.taskqueue.principals import owner_seen_by, queue_principal
from apps.taskqueue.workers import current_pool
from apps.tools.call_service import ToolResult
from apps.tools.registry import ToolContext, tool
from mcp_platform.concurrency import run_blocking

P2P = {"category": "p2p", "requires_p2p": True, "runtime": "trio", "fallback_allowed": False}
READ = {**P2P, "read_only_hint": True}
# Tools that act as the node itself (its queue, its connections, its bootstrap list): admin only.
NODE_ADMIN = {**P2P, "required_scope": SCOPE_ADMIN}
WAIT_POLL_SECONDS = 0.1


def _error(message: str, **structured: Any) -> ToolResult:
    """A tool error the caller reads as JSON too (`status: "error"`)."""
    result = ToolResult.error(message)
    result.structured_content = {"status": "error", "error": message, **structured}
    return result


def _nudge_workers() -> None:
    pool = current_pool()
    if pool is not None:
        pool.nudge()


def _submitter(ctx: ToolContext | None) -> Principal:
    """Whom queued work runs as: the caller, whole (its denied tools and toolsets too); the
    queue itself for the platform's own calls."""
    if ctx is None or ctx.principal is None:
        return queue_principal("p2p")
    return ctx.principal


def _owner(ctx: ToolContext | None) -> str | None:
    return owner_seen_by(ctx.principal if ctx is not None else None)


# ---------------------------------------------------------------- the node


@tool(**READ, title="P2P node status")
async def p2p_node_status() -> dict:
    """This node's libp2p identity, listen addresses, connected peers and queue summary."""
    status = live_node().status()
    status["taskqueue"] = await run_blocking(selectors.queue_stats)
    return status


# ---------------------------------------------------------------- task queue


class QueuedCall(pydantic.BaseModel):
    """One task of a batch submission: the single form's fields, for one tool call."""

    model_config = pydantic.ConfigDict(extra="forbid")

    tool: str
    arguments: dict[str, Any] | None = None
    priority: int = 5
    peer_id: str | None = None
    idempotency_key: str | None = None
    max_attempts: int = 3
    backoff_seconds: float = 1.0
    lease_seconds: float = 30.0
    queue: str = "default"


@tool(**P2P, title="Submit a task")
async def p2p_taskqueue_submit(
    tool: str | None = None,
    arguments: dict[str, Any] | None = None,
    priority: int = 5,
    peer_id: str | None = None,
    idempotency_key: str | None = None,
    max_attempts: int = 3,
    backoff_seconds: float = 1.0,
    lease_seconds: float = 30.0,
    queue: str = "default",
    tasks: list[QueuedCall] | None = None,
    ctx: ToolContext | None = None,
) -> dict | ToolResult:
    """Queue a tool call, durably. `peer_id` runs it on that peer over P2P; the same
    `idempotency_key` returns the task it first created. Higher `priority` (0-10) runs first;
    a failing task is retried with backoff and dead-lettered after `max_attempts`. The caller
    must itself be allowed to call `tool`. Or, instead of `tool`, `tasks`: a list of up to 1000
    such calls (each with its own fields), queued all or none in one transaction; the reply's
    `task_ids` are in the order given."""
    if tasks is not None:
        if tool is not None:
            return _error("give either `tool` (one task) or `tasks` (a batch), not both")
        return await _submit_batch(tasks, ctx)
    if tool is None:
        return _error("`tool` is required (or `tasks`, a list of calls)")
    if ctx is not None:
        ctx.require_call_permission(tool)
    submitter = _submitter(ctx)
    task, created = await run_blocking(
        lambda: services.submit_task(
            tool=tool,
            arguments=arguments,
            priority=priority,
            target_peer=peer_id or "",
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            lease_seconds=lease_seconds,
            queue=queue,
            submitter=submitter,
        )
    )
    if created:
        _nudge_workers()
    return {"created": created, **selectors.task_dict(task)}


async def _submit_batch(calls: list[QueuedCall], ctx: ToolContext | None) -> dict:
    if ctx is not None:
        for name in dict.fromkeys(call.tool for call in calls):
            ctx.require_call_permission(name)
    submissions = []
    for call in calls:
        fields = call.model_dump()
        fields["target_peer"] = fields.pop("peer_id") or ""
        submissions.append(fields)
    placed = await run_blocking(
        lambda: services.submit_tasks(
            tasks=submissions,
            submitter=_submitter(ctx),
        )
    )
    created = [was_created for _, was_created in placed]
    if any(created):
        _nudge_workers()
    # Ids and whether each was new, not every task's full row: a batch of 1,000 stays small.
    return {
        "count": len(placed),
        "created": created,
        "task_ids": [str(task.id) for task, _ in placed],
    }


@tool(**READ, title="Get a task")
async def p2p_taskqueue_get(task_id: str, ctx: ToolContext | None = None) -> dict:
    """A task with its result or error, and every attempt (worker, fencing token, outcome).
    A caller without `admin` sees only the tasks it queued."""
    owner = _owner(ctx)
    return await run_blocking(
        lambda: selectors.task_dict(services.get_task(task_id, owner=owner), attempts=True)
    )


@tool(**READ, title="List tasks")
async def p2p_taskqueue_list(
    status: str | None = None, limit: int = 50, ctx: ToolContext | None = None
) -> dict:
    """Tasks, newest first; `status` is queued, running, succeeded, dead or cancelled.
    A caller without `admin` sees only the tasks it queued."""
    tasks = await run_blocking(
        lambda: selectors.list_tasks(status=status, limit=limit, owner=_owner(ctx))
    )
    return {"tasks": tasks, "count": len(tasks)}


@tool(**P2P, title="Cancel a task")
async def p2p_taskqueue_cancel(task_id: str, ctx: ToolContext | None = None) -> dict:
    """Cancel a queued or running task; a running worker's late result is then rejected."""
    owner = _owner(ctx)
    task = await run_blocking(lambda: services.cancel_task(task_id=task_id, owner=owner))
    return selectors.task_dict(task)


@tool(**READ, timeout_seconds=610, title="Wait for a task")
async def p2p_taskqueue_wait(
    task_id: str,
    timeout: float = 30.0,  # noqa: ASYNC109 (a legacy/tool argument)
    ctx: ToolContext | None = None,
) -> dict:
    """Wait until a task is finished (succeeded, dead or cancelled) or `timeout` seconds pass;
    returns the task and whether it finished."""
    timeout = min(max(timeout, 0.0), 600.0)
    owner = _owner(ctx)
    with trio.move_on_after(timeout):
        while True:
            task = await run_blocking(lambda: services.get_task(task_id, owner=owner))
            if task.is_terminal:
                return {"finished": True, **selectors.task_dict(task, attempts=True)}
            await trio.sleep(WAIT_POLL_SECONDS)
    task = await run_blocking(lambda: services.get_task(task_id, owner=owner))
    return {"finished": task.is_terminal, **selectors.task_dict(task, attempts=True)}


@tool(**P2P, title="Retry a task")
async def p2p_taskqueue_retry(task_id: str, ctx: ToolContext | None = None) -> dict:
    """Queue a dead-lettered or cancelled task again with a fresh attempt budget."""
    owner = _owner(ctx)
    task = await run_blocking(lambda: services.retry_task(task_id=task_id, owner=owner))
    _nudge_workers()
    return selectors.task_dict(task)


@tool(**READ, title="Task queue statistics")
async def p2p_taskqueue_stats() -> dict:
    """Tasks by status, the dead letter count, recent throughput, live workers."""
    return await run_blocking(selectors.queue_stats)


@tool(**NODE_ADMIN, title="Pause the task queue")
async def p2p_taskqueue_pause() -> dict:
    """Stop handing out tasks (running ones finish)."""
    await run_blocking(lambda: services.set_paused(paused=True))
    return {"paused": True}


@tool(**NODE_ADMIN, title="Resume the task queue")
async def p2p_taskqueue_resume() -> dict:
    """Hand out tasks again."""
    await run_blocking(lambda: services.set_paused(paused=False))
    _nudge_workers()
    return {"paused": False}


@tool(**READ, title="List workers")
async def p2p_worker_list() -> dict:
    """This node's task-queue workers (Trio runtime and standalone), alive or not."""
    workers = await run_blocking(selectors.list_workers)
    return {"workers": workers, "count": len(workers)}


# ---------------------------------------------------------------- workflows


@tool(**P2P, title="Submit a workflow")
async def p2p_workflow_submit(
    steps: list[dict[str, Any]], name: str = "", ctx: ToolContext | None = None
) -> dict:
    """Run a DAG of steps. Each step: `id`, `tool`, `arguments` (a string
    `{{steps.<id>.result}}` or `{{steps.<id>.result.<field>}}` is replaced by that step's
    result), `depends_on` (step ids), optional `peer_id` to run it on, `max_attempts`. A failed
    step cancels the steps that depend on it. The caller must be allowed to call every step's
    tool."""
    if ctx is not None:
        for step in steps:
            if isinstance(step, dict) and isinstance(step.get("tool"), str):
                ctx.require_call_permission(step["tool"])
    submitter = _submitter(ctx)
    workflow = await run_blocking(
        lambda: workflows.submit_workflow(steps=steps, name=name, submitter=submitter)
    )
    _nudge_workers()
    return await run_blocking(selectors.workflow_dict, workflow)


def _workflow(workflow_id: str, ctx: ToolContext | None) -> Any:
    return workflows.get_workflow(workflow_id, owner=_owner(ctx))


@tool(**READ, title="Workflow status")
async def p2p_workflow_status(workflow_id: str, ctx: ToolContext | None = None) -> dict:
    """A workflow and each step's status, task, result or error (the caller's own workflows
    only, unless it has `admin`)."""
    return await run_blocking(lambda: selectors.workflow_dict(_workflow(workflow_id, ctx)))


@tool(**READ, title="List workflows")
async def p2p_workflow_list(
    status: str | None = None, limit: int = 50, ctx: ToolContext | None = None
) -> dict:
    """Workflows, newest first (the caller's own only, unless it has `admin`)."""
    items = await run_blocking(
        lambda: selectors.list_workflows(status=status, limit=limit, owner=_owner(ctx))
    )
    return {"workflows": items, "count": len(items)}


@tool(**P2P, title="Cancel a workflow")
async def p2p_workflow_cancel(workflow_id: str, ctx: ToolContext | None = None) -> dict:
    """Cancel a running workflow: its unfinished steps and their tasks."""
    owner = _owner(ctx)
    workflow = await run_blocking(
        lambda: workflows.cancel_workflow(workflow_id=workflow_id, owner=owner)
    )
    return await run_blocking(selectors.workflow_dict, workflow)


@tool(**READ, title="Workflow results")
async def p2p_workflow_result(workflow_id: str, ctx: ToolContext | None = None) -> dict:
    """The results of a workflow's steps by step id (final once `status` is succeeded)."""

    def read() -> dict:
        data = selectors.workflow_dict(_workflow(workflow_id, ctx))
        return {
            "workflow_id": data["workflow_id"],
            "status": data["status"],
            "finished": data["status"] != "running",
            "results": {s["id"]: s["result"] for s in data["steps"]},
            "errors": {s["id"]: s["error"] for s in data["steps"] if s["error"]},
        }

    return await run_blocking(read)


@tool(**READ, title="Workflow dependencies")
async def p2p_workflow_dependencies(workflow_id: str, ctx: ToolContext | None = None) -> dict:
    """A workflow's DAG: each step's dependencies and dependents, roots and leaves."""
    return await run_blocking(lambda: selectors.workflow_dependencies(_workflow(workflow_id, ctx)))
