"""The task-queue worker pool in this process (a real trio loop, the real test database):
a worker whose lease is taken from it cancels its tool instead of running on unfenced."""

from __future__ import annotations

import pytest
import trio

from apps.taskqueue import services
from apps.taskqueue.models import AttemptOutcome, TaskStatus
from apps.taskqueue.workers import WorkerConfig, WorkerPool

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_that_loses_its_lease_cancels_its_tool(catalogue):
    task, _ = services.submit_task(tool="echo", lease_seconds=0.6)
    events: list[str] = []
    started, cancelled = trio.Event(), trio.Event()

    async def slow_tool(claimed) -> tuple[bool, str]:
        events.append("started")
        started.set()
        try:
            await trio.sleep(60)
        except trio.Cancelled:
            events.append("cancelled")
            cancelled.set()
            raise
        events.append("finished")
        return True, "done"

    async def wait_for(event: trio.Event) -> None:
        with trio.fail_after(20):
            await event.wait()

    async def main() -> None:
        pool = WorkerPool(WorkerConfig(prefix="lease-test", concurrency=1), slow_tool)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pool.run)
            await wait_for(started)
            # An operator cancels the running task: its token moves on, the next renewal fails.
            await trio.to_thread.run_sync(lambda: services.cancel_task(task_id=task.pk))
            await wait_for(cancelled)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert events == ["started", "cancelled"]
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    assert [a.outcome for a in task.attempt_log.all()] == [AttemptOutcome.CANCELLED]
