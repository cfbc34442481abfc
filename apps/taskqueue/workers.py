"""Task-queue workers: claim a task (lease + fencing token), run its tool here or on its target
peer, renew the lease while it runs, and report with the token. Plus the reaper that requeues
expired leases, and the worker heartbeat.

    run_workers
    ├── claimer             claims a task for each free worker slot, in one transaction
    ├── worker x ≤ N        execute (lease renewer beside it) → report complete / fail
    ├── reaper              requeue expired leases, every interval
    └── heartbeat           Worker rows of this process

Claims and reports are batched: the claimer takes a task for every free slot (of N, each slot
a worker id with its own Worker row) in one transaction, and the reports of the workers that
finish while a report is being written go together in the next one (group commit). A task
costs two write transactions shared among the tasks of a batch instead of two of its own, and
the workers of one process never queue behind each other for the database's write lock.

A stopping runtime claims nothing new and lets running tasks finish within its drain limit; a
worker cancelled past it gives its task back at once (dead-letters it when its tool is not
idempotent: it was cut off mid-run). One that dies leaves it to the reaper, which takes it back
as soon as the worker's heartbeat stops (or a restarted runtime says the worker is gone), at the
latest when its lease expires; a non-idempotent tool cut off that way is not run again either.
A worker that cannot renew its lease (fenced out, cancelled, or the database away for a whole
lease) cancels its tool: another worker may hold the task by then, and whatever it would report
is rejected.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio
from django.db import close_old_connections, transaction

from apps.taskqueue import services
from apps.taskqueue.models import Task
from apps.taskqueue.principals import runs_as
from apps.tools.call_service import CallError, call_tool
from mcp_platform import tracing

logger = logging.getLogger(__name__)

Executor = Callable[[Task], Awaitable[tuple[bool, Any]]]


@dataclass
class WorkerConfig:
    prefix: str
    kind: str = "runtime"
    concurrency: int = 4
    queues: tuple[str, ...] = ("default",)
    poll_seconds: float = 0.2
    reap_seconds: float = 1.0
    heartbeat_seconds: float = 2.0
    remote: bool = True  # can run tasks on other peers (needs the libp2p host)
    peer_id: Callable[[], str] = field(default=lambda: "")
    # A draining runtime claims nothing new, and waits for the tasks it runs (`track`).
    stopping: Callable[[], bool] = field(default=lambda: False)
    track: Callable[[], contextlib.AbstractContextManager] = field(default=contextlib.nullcontext)


def result_value(mcp_result: dict[str, Any]) -> Any:
    """What a task stores from an MCP result: its structured content, else its text."""
    structured = mcp_result.get("structuredContent")
    if structured is not None:
        return structured
    return "\n".join(
        b.get("text", "") for b in mcp_result.get("content", []) if b.get("type") == "text"
    )


async def execute_locally(task: Task) -> tuple[bool, Any]:
    """Run the task's tool through the call service; (ok, result value or error text)."""
    try:
        with tracing.continued(task.trace_context):  # the trace of its submission
            result = await call_tool(
                task.tool_name,
                task.arguments,
                runs_as(task),
                "taskqueue",
                request_id=f"task-{task.pk}-{task.fencing_token}",
            )
    except CallError as exc:
        return False, exc.message
    mcp = result.to_mcp()
    return (not result.is_error), (result.text if result.is_error else result_value(mcp))


@dataclass
class _Reported:
    """A report's turn: set once it is written, with what went wrong (None: nothing)."""

    done: trio.Event = field(default_factory=trio.Event)
    failure: Exception | None = None


def _sync(func: Callable[..., Any], /, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        close_old_connections()
        return func(**kwargs)

    return run


class WorkerPool:
    def __init__(self, config: WorkerConfig, executor: Executor) -> None:
        self.config = config
        self.executor = executor
        self.hostname = socket.gethostname()
        self.started_at = datetime.now(UTC)
        # Pids are reused (in containers at every start): without this a restarted process
        # would take over its predecessor's worker rows, and hide that its tasks were lost.
        self.incarnation = secrets.token_hex(3)
        self.current: dict[str, str] = {}
        self._work = trio.Event()
        self._free = list(range(config.concurrency))  # worker slots with no task
        self._slot_freed = trio.Event()
        # Reports waiting for the next write, and whether one is being written now.
        self._reports: list[tuple[services.Report, _Reported]] = []
        self._reporting = False

    def worker_id(self, n: int) -> str:
        return f"{self.config.prefix}@{self.hostname}:{os.getpid()}.{self.incarnation}/{n}"

    def nudge(self) -> None:
        """New work was submitted here: look now instead of at the next poll."""
        self._work.set()

    async def run(self) -> None:
        await trio.to_thread.run_sync(_resume_workflows)
        # The Worker rows exist before the first claim: a report's completed/failed count is an
        # UPDATE of its worker's row, and a row created by a later beat would miss it.
        await self._beat(stopped=False)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._claim_loop, nursery)
            nursery.start_soon(self._reap_loop)
            nursery.start_soon(self._heartbeat_loop)

    async def _claim_loop(self, workers: trio.Nursery) -> None:
        """Claim a task for every free slot, start a worker on each; wait for a free slot, or
        for work (a nudge, or the next poll) when there was none."""
        while True:
            if self.config.stopping():
                await trio.sleep(self.config.poll_seconds)
                continue
            if not self._free:
                await self._slot_freed.wait()
                self._slot_freed = trio.Event()
                continue
            slots = sorted(self._free)
            try:
                claims = await trio.to_thread.run_sync(
                    _sync(
                        services.claim_tasks,
                        worker_ids=[self.worker_id(n) for n in slots],
                        queues=self.config.queues,
                        remote=self.config.remote,
                    )
                )
            except Exception:
                logger.exception("claiming tasks failed")
                claims = []
            if not claims:
                with trio.move_on_after(self.config.poll_seconds):
                    await self._work.wait()
                self._work = trio.Event()
                continue
            for n, claim in zip(slots, claims, strict=False):  # the i-th claim is slot i's
                self._free.remove(n)
                self.current[self.worker_id(n)] = str(claim.task.pk)
                workers.start_soon(self._work_on, n, claim)

    async def _work_on(self, n: int, claim: services.Claim) -> None:
        try:
            with self.config.track():
                await self._execute(claim)
        finally:
            self.current.pop(self.worker_id(n), None)
            self._free.append(n)
            self._slot_freed.set()

    async def _execute(self, claim: services.Claim) -> None:
        task, token = claim.task, claim.token
        ok, value = False, "the task ended without a result"
        lease_lost = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._keep_lease, task, token, nursery.cancel_scope, lease_lost)
                ok, value = await self.executor(task)
                nursery.cancel_scope.cancel()
        except* trio.Cancelled:
            # The runtime is stopping: give the task back now rather than at lease expiry.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(
                    _sync(services.release_task, task_id=task.pk, token=token, started=True)
                )
            raise
        except* Exception as group:
            logger.error("task %s raised", task.pk, exc_info=group)
            first = group.exceptions[0]
            ok, value = False, f"{type(first).__name__}: {first}"
        if lease_lost.is_set():
            return  # the tool was cancelled; the reaper (or the canceller) has the record
        failure = await self._report(services.Report(task.pk, token, ok, value))
        if isinstance(failure, services.StaleToken):
            logger.warning("%s", failure)
        elif failure is not None:
            logger.error(
                "reporting task %s failed; its lease will expire", task.pk, exc_info=failure
            )

    async def _report(self, report: services.Report) -> Exception | None:
        """Write `report` with the others pending (group commit): the first worker to report
        writes what is pending, again and again until nothing is; the others wait for their
        turn. Like the write itself, this is not cancellable: a finished task's outcome is
        always written (a stopping runtime waits for it)."""
        reported = _Reported()
        self._reports.append((report, reported))
        with trio.CancelScope(shield=True):
            if self._reporting:
                await reported.done.wait()
                return reported.failure
            self._reporting = True
            try:
                while self._reports:
                    batch, self._reports = self._reports, []
                    try:
                        failures = await trio.to_thread.run_sync(
                            _sync(services.report_tasks, reports=[r for r, _ in batch])
                        )
                    except Exception as exc:
                        failures = [exc] * len(batch)
                    for (_, waiting), failure in zip(batch, failures, strict=True):
                        waiting.failure = failure
                        waiting.done.set()
            finally:
                self._reporting = False
        return reported.failure

    async def _keep_lease(
        self, task: Task, token: int, tool_scope: trio.CancelScope, lost: trio.Event
    ) -> None:
        """Renew the lease every third of it; cancel the tool once the lease is lost, or once
        a whole lease has passed without a renewal (the database away): by then the reaper
        may have handed the task to another worker."""
        interval = max(task.lease_seconds / 3, 0.05)
        renewed_at = trio.current_time()
        while True:
            await trio.sleep(interval)
            asked_at = trio.current_time()
            try:
                renewed = await trio.to_thread.run_sync(
                    _sync(services.renew_lease, task_id=task.pk, token=token)
                )
            except Exception:
                logger.exception("renewing the lease of task %s failed", task.pk)
                renewed = None
            if renewed:
                renewed_at = asked_at
                continue
            if renewed is False or trio.current_time() - renewed_at >= task.lease_seconds:
                logger.warning(
                    "task %s: lease lost (token %s); cancelling its tool", task.pk, token
                )
                lost.set()
                tool_scope.cancel()
                return

    async def _reap_loop(self) -> None:
        while True:
            try:
                reaped = await trio.to_thread.run_sync(_sync(services.reap_expired_leases))
                if reaped:
                    self.nudge()
            except Exception:
                logger.exception("reaping expired leases failed")
            await trio.sleep(self.config.reap_seconds)

    async def _heartbeat_loop(self) -> None:
        try:
            while True:
                await trio.sleep(self.config.heartbeat_seconds)
                await self._beat(stopped=False)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await self._beat(stopped=True)

    async def _beat(self, *, stopped: bool) -> None:
        """Every slot's Worker row, in one transaction."""
        beats = [
            {
                "worker_id": self.worker_id(n),
                "kind": self.config.kind,
                "hostname": self.hostname,
                "pid": os.getpid(),
                "peer_id": self.config.peer_id(),
                "queues": list(self.config.queues),
                "current_task": self.current.get(self.worker_id(n), ""),
                "started_at": self.started_at,
                "stopped": stopped,
            }
            for n in range(self.config.concurrency)
        ]
        try:
            await trio.to_thread.run_sync(_sync(_record_workers, beats=beats))
        except Exception:
            logger.exception("worker heartbeat failed")


def _record_workers(*, beats: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        for beat in beats:
            services.record_worker(**beat)


def _resume_workflows() -> None:
    from apps.taskqueue.workflows import resume_workflows

    close_old_connections()
    resumed = resume_workflows()
    if resumed:
        logger.info("resumed %d running workflows", resumed)


_pool: WorkerPool | None = None


def current_pool() -> WorkerPool | None:
    return _pool


async def run_pool(pool: WorkerPool) -> None:
    global _pool
    _pool = pool
    try:
        await pool.run()
    finally:
        _pool = None
