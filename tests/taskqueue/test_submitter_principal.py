"""A queued task runs as its whole submitter: the tools the submitter is denied and the toolsets
it is bound to hold for the task as for a direct call, however the work was queued (one task,
a batch, a workflow, a task that queues another). Submitted through the real call path, run by
the real worker pool with the Trio runtime's executor, on the real test database."""

from __future__ import annotations

import time

import pytest
import trio

from apps.access.principals import Principal
from apps.taskqueue import services
from apps.taskqueue.models import Task, TaskStatus, Workflow, WorkflowStatus
from apps.taskqueue.workers import WorkerConfig, WorkerPool
from apps.tools.call_service import call_tool
from apps.tools.services import sync_tools
from trio_runtime.p2p.service import execute_task

CALL = frozenset({"tools:call"})
# May call any tool (no patterns) but echo.
DENIED_ECHO = Principal(name="token:no-echo", kind="token", scopes=CALL, denied_tools=("echo",))
# Bound to a toolset holding the queue tool and echo: nothing else, calculate included.
TOOLSET_BOUND = Principal(
    name="token:bound",
    kind="token",
    scopes=CALL,
    toolset_patterns=("p2p_taskqueue_submit", "p2p_workflow_submit", "echo"),
)


@pytest.fixture
def tools(transactional_db):
    sync_tools()


def submit(principal: Principal, tool: str, arguments: dict):
    """A call made the way the Trio runtime makes it (the queue tools run there)."""
    result = trio.run(call_tool, tool, arguments, principal, "test")
    assert not result.is_error, result.text
    return result.structured_content


def run_queue_until_settled(*, seconds: float = 30.0, remote: bool = False) -> None:
    """Run the worker pool until every task is finished (bounded)."""

    async def main() -> None:
        pool = WorkerPool(
            WorkerConfig(prefix="principal-test", concurrency=2, remote=remote, poll_seconds=0.05),
            execute_task,
        )
        deadline = time.monotonic() + seconds
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pool.run)
            while time.monotonic() < deadline:
                open_tasks = await trio.to_thread.run_sync(
                    lambda: Task.objects.exclude(
                        status__in=(TaskStatus.SUCCEEDED, TaskStatus.DEAD, TaskStatus.CANCELLED)
                    ).count()
                )
                if not open_tasks:
                    break
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert not Task.objects.exclude(status__in=(TaskStatus.SUCCEEDED, TaskStatus.DEAD)).exists()


def nested(tool: str, arguments: dict) -> dict:
    """A task that queues another: its inner submission is made as the task's principal."""
    return {"tool": tool, "arguments": arguments, "max_attempts": 1}


def test_a_task_of_a_submitter_denied_a_tool_cannot_run_that_tool(tools):
    task, _ = services.submit_task(
        tool="echo", arguments={"message": "x"}, max_attempts=1, submitter=DENIED_ECHO
    )
    run_queue_until_settled()
    task.refresh_from_db()
    assert task.status == TaskStatus.DEAD
    assert task.error == "Caller 'token:no-echo' may not call tool 'echo'"


def test_a_task_for_a_peer_is_not_sent_when_its_submitter_is_denied_the_tool(tools):
    """The peer trusts this node, not the submitter: the submitter's rights are checked here."""
    task, _ = services.submit_task(
        tool="echo", target_peer="12D3KooWsomepeer", max_attempts=1, submitter=DENIED_ECHO
    )
    run_queue_until_settled(remote=True)
    task.refresh_from_db()
    assert task.status == TaskStatus.DEAD
    assert task.error == "Caller 'token:no-echo' may not call tool 'echo'"


def test_a_task_that_queues_a_denied_tool_is_refused_the_inner_submission(tools):
    """Before tasks kept the whole principal, the task ran without the submitter's denied
    tools, so queueing `echo` from inside a task got past the denial."""
    outer = submit(
        DENIED_ECHO,
        "p2p_taskqueue_submit",
        nested("p2p_taskqueue_submit", nested("echo", {"message": "x"})),
    )
    run_queue_until_settled()
    task = Task.objects.get(pk=outer["task_id"])
    assert task.status == TaskStatus.DEAD
    assert "may not call tool 'echo'" in task.error
    assert Task.objects.count() == 1  # the inner echo was never queued


@pytest.mark.parametrize("form", ["single", "batch"])
def test_a_toolset_bound_submitters_task_cannot_run_a_tool_outside_the_toolset(tools, form):
    """Within the toolset the nested submission queues and runs; outside it (calculate) the
    task's own submission is refused, whether it was queued alone or in a batch."""
    inside = nested("p2p_taskqueue_submit", nested("echo", {"message": "in"}))
    outside = nested("p2p_taskqueue_submit", nested("calculate", {"expression": "1+1"}))
    if form == "single":
        ids = [
            submit(TOOLSET_BOUND, "p2p_taskqueue_submit", c)["task_id"] for c in (inside, outside)
        ]
    else:
        ids = submit(TOOLSET_BOUND, "p2p_taskqueue_submit", {"tasks": [inside, outside]})[
            "task_ids"
        ]
    run_queue_until_settled()
    queued_inside, queued_outside = (Task.objects.get(pk=i) for i in ids)
    assert queued_outside.status == TaskStatus.DEAD
    assert "may not call tool 'calculate'" in queued_outside.error
    assert queued_inside.status == TaskStatus.SUCCEEDED, queued_inside.error
    inner = Task.objects.exclude(pk__in=ids).get()  # only echo was queued from inside
    assert inner.tool_name == "echo" and inner.status == TaskStatus.SUCCEEDED
    assert inner.submitter_principal == TOOLSET_BOUND.to_dict()


def test_a_workflows_steps_run_as_its_whole_submitter(tools):
    workflow = submit(
        TOOLSET_BOUND,
        "p2p_workflow_submit",
        {
            "steps": [
                {
                    "id": "escape",
                    "tool": "p2p_taskqueue_submit",
                    "arguments": {"tool": "calculate", "arguments": {"expression": "1+1"}},
                }
            ]
        },
    )
    run_queue_until_settled()
    stored = Workflow.objects.get(pk=workflow["workflow_id"])
    assert stored.submitter_principal == TOOLSET_BOUND.to_dict()
    assert stored.status == WorkflowStatus.FAILED
    step = stored.steps.get()
    assert "may not call tool 'calculate'" in step.error
    assert step.task.submitter_principal == TOOLSET_BOUND.to_dict()
    assert step.task.submitted_by == f"workflow:{stored.pk}"
    assert not Task.objects.filter(tool_name="calculate").exists()
