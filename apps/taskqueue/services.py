"""Writes of the task queue: submit, claim with a lease and a fencing token, renew, complete,
fail (retry with backoff, then dead letter), reap expired leases, cancel, retry, pause.

Every state change of a running task is a conditional UPDATE on (status, fencing_token): a
worker whose lease expired or whose task was cancelled holds a stale token, and whatever it
reports afterwards changes nothing. The lease mechanism is `mcp_platform.leases`, shared with
jobs.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from apps.access.principals import Principal
from apps.taskqueue.models import (
    AttemptOutcome,
    QueueState,
    Task,
    TaskAttempt,
    TaskStatus,
    Worker,
)
from apps.taskqueue.principals import submitter_of
from apps.tools.registry import NAME_RE
from mcp_platform import tracing
from mcp_platform.backoff import backoff_delay
from mcp_platform.leases import EXPIRES, Leases, after_lost_attempt

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0


class TaskQueueError(Exception):
    """A task-queue operation that cannot be done (bad input, unknown task, wrong state)."""


class StaleToken(TaskQueueError):
    """A worker reported on a task with a fencing token that is no longer current."""


class QueueFull(TaskQueueError):
    pass


# A task's lease is an expiry time, each task with its own length (`lease_seconds`).
LEASES = Leases(
    model=Task,
    token="fencing_token",
    holder="worker_id",
    lease="lease_expires_at",
    kind=EXPIRES,
    queued=TaskStatus.QUEUED,
    running=TaskStatus.RUNNING,
    dead=TaskStatus.DEAD,
)


@dataclass(frozen=True)
class Claim:
    task: Task
    token: int


def _max_open_tasks() -> int:
    from apps.peers.models import P2PSettings

    settings = P2PSettings.objects.filter(pk=1).first()
    return settings.taskqueue_max_tasks if settings else 10000


def submit_task(
    *,
    tool: str,
    arguments: dict[str, Any] | None = None,
    priority: int = 5,
    target_peer: str = "",
    idempotency_key: str | None = None,
    max_attempts: int = 3,
    backoff_seconds: float = 1.0,
    lease_seconds: float = 30.0,
    queue: str = "default",
    submitted_by: str = "",
    submitter: Principal | None = None,
) -> tuple[Task, bool]:
    """Queue a tool call; returns (task, created). The same idempotency key returns the task
    it first created, whatever its state. The task runs as `submitter`, the whole principal
    (stored with `to_dict`); without one, as the queue itself (`apps.taskqueue.principals`).
    `submitted_by` (whose task it is: listings, idempotency keys) defaults to the submitter's
    name. Raises TaskQueueError for bad input, QueueFull."""
    _check_submission(
        tool=tool,
        arguments=arguments,
        priority=priority,
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
        lease_seconds=lease_seconds,
    )
    submitter, submitted_by = submitter_of(submitter, submitted_by)
    key = idempotency_key or None
    # Keys are per submitter: one caller's key never returns (or blocks) another's task.
    same_key = Task.objects.filter(submitted_by=submitted_by, idempotency_key=key)
    if key is not None:
        existing = same_key.first()
        if existing is not None:
            return existing, False
    open_tasks = Task.objects.filter(status__in=(TaskStatus.QUEUED, TaskStatus.RUNNING)).count()
    if open_tasks >= _max_open_tasks():
        raise QueueFull(f"the task queue holds its maximum of {open_tasks} open tasks")
    try:
        with transaction.atomic():
            task = Task.objects.create(
                queue=queue,
                tool_name=tool,
                arguments=arguments or {},
                target_peer=target_peer,
                priority=priority,
                idempotency_key=key,
                max_attempts=max_attempts,
                backoff_seconds=backoff_seconds,
                lease_seconds=lease_seconds,
                next_run_at=timezone.now(),
                submitted_by=submitted_by,
                submitter_principal=submitter.to_dict(),
                trace_context=tracing.carrier(),
            )
    except IntegrityError:
        # Another submitter won the race for this key: theirs is the task.
        existing = same_key.first()
        if existing is None:
            raise
        return existing, False
    return task, True


def _check_submission(
    *,
    tool: Any,
    arguments: Any,
    priority: int,
    max_attempts: int,
    backoff_seconds: float,
    lease_seconds: float,
) -> None:
    if not isinstance(tool, str) or not NAME_RE.match(tool):
        raise TaskQueueError(f"invalid tool name {tool!r}")
    if arguments is not None and not isinstance(arguments, dict):
        raise TaskQueueError("arguments must be a JSON object")
    if not 0 <= priority <= 10:
        raise TaskQueueError("priority must be within 0..10")
    if max_attempts < 1:
        raise TaskQueueError("max_attempts must be at least 1")
    if lease_seconds <= 0 or backoff_seconds < 0:
        raise TaskQueueError("lease_seconds must be positive and backoff_seconds not negative")


# One batch is one transaction and one reply: large enough that the per-call cost (the request,
# authentication, the bridge) is spread thin, small enough that the reply and the lock stay short.
MAX_BATCH_TASKS = 1000
SUBMISSION_FIELDS = frozenset(
    {
        "tool",
        "arguments",
        "priority",
        "target_peer",
        "idempotency_key",
        "max_attempts",
        "backoff_seconds",
        "lease_seconds",
        "queue",
    }
)


def submit_tasks(
    *,
    tasks: list[dict[str, Any]],
    submitted_by: str = "",
    submitter: Principal | None = None,
) -> list[tuple[Task, bool]]:
    """Queue many tool calls at once, all or none, in one transaction; returns (task, created)
    per submission, in the order given. Each submission takes submit_task's fields (`tool`,
    `arguments`, `priority`, `target_peer`, `idempotency_key`, `max_attempts`,
    `backoff_seconds`, `lease_seconds`, `queue`). A key already used by this submitter, or
    repeated within the batch, returns the task it first created. Raises TaskQueueError naming
    the first bad submission (nothing is queued), QueueFull."""
    if not isinstance(tasks, list) or not tasks:
        raise TaskQueueError("tasks must be a non-empty list")
    if len(tasks) > MAX_BATCH_TASKS:
        raise TaskQueueError(f"at most {MAX_BATCH_TASKS} tasks per batch, got {len(tasks)}")
    submissions = []
    for index, raw in enumerate(tasks):
        if not isinstance(raw, dict):
            raise TaskQueueError(f"tasks[{index}]: must be an object")
        unknown = set(raw) - SUBMISSION_FIELDS
        if unknown:
            raise TaskQueueError(f"tasks[{index}]: unknown fields {sorted(unknown)}")
        submission = {
            "arguments": None,
            "priority": 5,
            "target_peer": "",
            "idempotency_key": None,
            "max_attempts": 3,
            "backoff_seconds": 1.0,
            "lease_seconds": 30.0,
            "queue": "default",
            **raw,
        }
        try:
            _check_submission(
                tool=submission.get("tool"),
                arguments=submission["arguments"],
                priority=submission["priority"],
                max_attempts=submission["max_attempts"],
                backoff_seconds=submission["backoff_seconds"],
                lease_seconds=submission["lease_seconds"],
            )
        except TaskQueueError as exc:
            raise TaskQueueError(f"tasks[{index}]: {exc}") from None
        submission["idempotency_key"] = submission["idempotency_key"] or None
        submissions.append(submission)
    submitter, submitted_by = submitter_of(submitter, submitted_by)
    keys = {s["idempotency_key"] for s in submissions} - {None}
    try:
        with transaction.atomic():
            return _insert_batch(submissions, keys, submitted_by, submitter)
    except IntegrityError:
        # Another submitter won the race for one of the keys: once more, now seeing theirs.
        with transaction.atomic():
            return _insert_batch(submissions, keys, submitted_by, submitter)


def _insert_batch(
    submissions: list[dict[str, Any]],
    keys: set[str],
    submitted_by: str,
    submitter: Principal,
) -> list[tuple[Task, bool]]:
    runs_as = submitter.to_dict()
    by_key: dict[str, Task] = {}
    if keys:
        existing = Task.objects.filter(submitted_by=submitted_by, idempotency_key__in=keys)
        by_key = {task.idempotency_key: task for task in existing}
    now = timezone.now()
    placed: list[tuple[Task, bool]] = []
    new: list[Task] = []
    for submission in submissions:
        key = submission["idempotency_key"]
        if key is not None and key in by_key:
            placed.append((by_key[key], False))
            continue
        task = Task(
            queue=submission["queue"],
            tool_name=submission["tool"],
            arguments=submission["arguments"] or {},
            target_peer=submission["target_peer"] or "",
            priority=submission["priority"],
            idempotency_key=key,
            max_attempts=submission["max_attempts"],
            backoff_seconds=submission["backoff_seconds"],
            lease_seconds=submission["lease_seconds"],
            next_run_at=now,
            submitted_by=submitted_by,
            submitter_principal=runs_as,
        )
        if key is not None:
            by_key[key] = task
        new.append(task)
        placed.append((task, True))
    if new:
        open_tasks = Task.objects.filter(status__in=(TaskStatus.QUEUED, TaskStatus.RUNNING)).count()
        if open_tasks + len(new) > _max_open_tasks():
            raise QueueFull(
                f"the task queue holds {open_tasks} open tasks; {len(new)} more exceed its maximum"
            )
        Task.objects.bulk_create(new)
    return placed


def is_paused() -> bool:
    return QueueState.objects.filter(pk=1, paused=True).exists()


def set_paused(*, paused: bool) -> bool:
    QueueState.objects.update_or_create(pk=1, defaults={"paused": paused})
    return paused


def claim_task(
    *,
    worker_id: str,
    queues: tuple[str, ...] = ("default",),
    remote: bool = True,
    now: datetime | None = None,
) -> Claim | None:
    """Claim the most urgent runnable task: highest priority, then earliest due. The claim
    holds a lease and a fresh fencing token. `remote=False` leaves tasks for other peers to
    workers that have a libp2p host. None when paused or nothing is due."""
    claims = claim_tasks(worker_ids=[worker_id], queues=queues, remote=remote, now=now)
    return claims[0] if claims else None


def claim_tasks(
    *,
    worker_ids: list[str],
    queues: tuple[str, ...] = ("default",),
    remote: bool = True,
    now: datetime | None = None,
) -> list[Claim]:
    """Claim up to one task for each of `worker_ids`, the most urgent first (the i-th claim
    is for the i-th worker), all in one transaction: what claim_task does for one worker, at the
    cost of one write transaction for many. On PostgreSQL claimers skip the rows another is
    claiming (`SKIP LOCKED`); SQLite's one writer serializes them. Empty when paused or
    nothing is due."""
    now = now or timezone.now()
    if not worker_ids or is_paused():
        return []
    candidates = Task.objects.filter(
        status=TaskStatus.QUEUED, queue__in=queues, next_run_at__lte=now
    )
    if not remote:
        candidates = candidates.filter(target_peer="")
    with transaction.atomic():
        due = list(
            candidates.order_by("-priority", "next_run_at", "created_at")
            .select_for_update(skip_locked=True)
            .values_list("id", "lease_seconds")[: len(worker_ids)]
        )
        if not due:
            return []
        # The rows are ours until commit (locked, or SQLite's write transaction): one UPDATE.
        won = [(task_id, holder) for (task_id, _), holder in zip(due, worker_ids, strict=False)]
        LEASES.claim_many(dict(won), now=now, lease_seconds=dict(due), started_at=now)
        tasks = Task.objects.in_bulk([task_id for task_id, _ in won])
        won = [
            (task_id, holder) for task_id, holder in won if _claimed(tasks[task_id], holder, now)
        ]
        TaskAttempt.objects.bulk_create(
            [
                TaskAttempt(
                    task=tasks[task_id],
                    fencing_token=tasks[task_id].fencing_token,
                    worker_id=holder[:200],
                )
                for task_id, holder in won
            ]
        )
    return [Claim(task=tasks[task_id], token=tasks[task_id].fencing_token) for task_id, _ in won]


def _claimed(task: Task, holder: str, now: datetime) -> bool:
    """Whether this claim took the row (it always does while the rows are locked)."""
    return (
        task.status == TaskStatus.RUNNING
        and task.worker_id == holder[:200]
        and task.started_at == now
    )


@dataclass(frozen=True)
class Report:
    """What a worker reports of a task it ran: its result (`ok`), or the error text."""

    task_id: Any
    token: int
    ok: bool
    value: Any


def report_tasks(reports: list[Report]) -> list[Exception | None]:
    """Record several workers' reports in one transaction, each as complete_task or fail_task
    would (one write transaction for many: the queue's throughput on one database writer).
    Per report, in order: None, or what its own call would have raised (StaleToken: a stale
    report is noted on its attempt and changes nothing else)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                return _report_together(reports)
        except Exception:
            # Something in the batch could not be written (a result the database refuses):
            # each report on its own, so that the others stand.
            logger.warning("a batch of task reports failed; writing them one by one", exc_info=True)
        return _report_one_by_one(reports)


def _report_together(reports: list[Report]) -> list[Exception | None]:
    """The completions with a statement per task (its fenced finish) and a few per batch;
    failures (rare) as fail_task does them."""
    from apps.taskqueue import workflows
    from apps.taskqueue.models import WorkflowStep

    now = timezone.now()
    outcomes: list[Exception | None] = [None] * len(reports)
    finished, late = [], set()
    for index, report in enumerate(reports):
        if not report.ok:
            continue
        done = LEASES.finish(
            report.task_id, report.token, status=TaskStatus.SUCCEEDED, result=report.value, error=""
        )
        if done:
            finished.append(report)
        else:
            late.add(index)
    if finished:
        attempts = Q()
        for report in finished:
            attempts |= Q(task_id=report.task_id, fencing_token=report.token)
        TaskAttempt.objects.filter(attempts).update(
            outcome=AttemptOutcome.SUCCEEDED, finished_at=now, error=""
        )
        tasks = Task.objects.in_bulk([report.task_id for report in finished])
        per_worker = Counter(task.worker_id for task in tasks.values())
        Worker.objects.filter(worker_id__in=list(per_worker)).update(
            completed=F("completed")
            + Case(
                *(When(worker_id=worker, then=Value(n)) for worker, n in per_worker.items()),
                default=Value(0),
            )
        )
        stepped = WorkflowStep.objects.filter(task_id__in=list(tasks)).values_list(
            "task_id", flat=True
        )
        for task_id in stepped:
            workflows.task_finished(tasks[task_id])
    for index, report in enumerate(reports):
        try:
            if not report.ok:
                fail_task(task_id=report.task_id, token=report.token, error=str(report.value))
            elif index in late:
                _reject_stale(report.task_id, report.token, "completion")
        except StaleToken as exc:
            outcomes[index] = exc
    return outcomes


def _report_one_by_one(reports: list[Report]) -> list[Exception | None]:
    """Each report as complete_task or fail_task, in a savepoint of its own."""
    outcomes: list[Exception | None] = []
    for report in reports:
        try:
            with transaction.atomic():
                try:
                    if report.ok:
                        complete_task(
                            task_id=report.task_id, token=report.token, result=report.value
                        )
                    else:
                        fail_task(
                            task_id=report.task_id, token=report.token, error=str(report.value)
                        )
                except StaleToken as exc:
                    outcomes.append(exc)  # its note on the attempt is kept
                else:
                    outcomes.append(None)
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def _running(task_id: uuid.UUID | str, token: int):
    return LEASES.held(task_id, token)


def _close_attempt(task_id: Any, token: int, outcome: str, error: str = "") -> None:
    TaskAttempt.objects.filter(task_id=task_id, fencing_token=token).update(
        outcome=outcome, finished_at=timezone.now(), error=error[:4000]
    )


def _reject_stale(task_id: Any, token: int, what: str) -> None:
    """Note the late report on its attempt (outside the caller's transaction) and raise."""
    TaskAttempt.objects.filter(task_id=task_id, fencing_token=token).exclude(
        outcome__in=(AttemptOutcome.SUCCEEDED, AttemptOutcome.FAILED)
    ).update(outcome=AttemptOutcome.STALE, error=f"{what} rejected: stale fencing token")
    logger.warning("task %s: %s with stale token %s rejected", task_id, what, token)
    raise StaleToken(f"task {task_id}: fencing token {token} is not current; {what} rejected")


def renew_lease(*, task_id: Any, token: int, now: datetime | None = None) -> bool:
    """Extend the lease of a running task; False when the token is stale (the lease is lost)."""
    now = now or timezone.now()
    task = _running(task_id, token).only("lease_seconds").first()
    if task is None:
        return False
    return LEASES.renew(task_id, token, now=now, lease_seconds=task.lease_seconds)


def complete_task(*, task_id: Any, token: int, result: Any) -> Task:
    """Record the result of a running task; raises StaleToken unless `token` is current."""
    from apps.taskqueue import workflows

    with transaction.atomic():
        done = LEASES.finish(task_id, token, status=TaskStatus.SUCCEEDED, result=result, error="")
        if done:
            _close_attempt(task_id, token, AttemptOutcome.SUCCEEDED)
            task = Task.objects.get(pk=task_id)
            Worker.objects.filter(worker_id=task.worker_id).update(completed=F("completed") + 1)
            workflows.task_finished(task)
    if not done:
        _reject_stale(task_id, token, "completion")
    return task


def tool_is_idempotent(name: str) -> bool:
    """What the catalogue says of the tool; an unknown one (a peer's) is taken as not."""
    from apps.tools.models import Tool

    return Tool.objects.filter(name=name, idempotent_hint=True).exists()


def _requeue_or_bury(task: Task, error: str, now: datetime, *, interrupted: bool = False) -> Task:
    """After a failed or lost attempt: retry later with backoff, or dead-letter. A tool cut off
    mid-run (`interrupted`) may or may not have taken effect, so it runs again only when it is
    idempotent: the task completes at most once."""
    from apps.taskqueue import workflows

    verdict = after_lost_attempt(
        attempts=task.attempts,
        max_attempts=task.max_attempts,
        idempotent=not interrupted or tool_is_idempotent(task.tool_name),
        interrupted=interrupted,
        tool=task.tool_name,
        noun="task",
        limit="its max_attempts",
    )
    if not verdict.retry and interrupted:
        error = f"{error}; {verdict.why}"
    if not verdict.retry:
        Task.objects.filter(pk=task.pk).update(
            status=LEASES.dead, error=error, finished_at=now, lease_expires_at=None
        )
        task.refresh_from_db()
        logger.warning("task %s dead-lettered after %d attempts: %s", task.pk, task.attempts, error)
        workflows.task_finished(task)
    else:
        Task.objects.filter(pk=task.pk).update(
            status=TaskStatus.QUEUED,
            error=error,
            lease_expires_at=None,
            next_run_at=now
            + timedelta(
                seconds=backoff_delay(
                    task.attempts, base=task.backoff_seconds, cap=MAX_BACKOFF_SECONDS
                )
            ),
        )
        task.refresh_from_db()
    return task


def fail_task(*, task_id: Any, token: int, error: str) -> Task:
    """Record a failed attempt: retried after backoff, or dead-lettered after max_attempts.
    Raises StaleToken unless `token` is current."""
    now = timezone.now()
    with transaction.atomic():
        task = _running(task_id, token).select_for_update().first()
        if task is not None:
            _close_attempt(task_id, token, AttemptOutcome.FAILED, error)
            Worker.objects.filter(worker_id=task.worker_id).update(failed=F("failed") + 1)
            return _requeue_or_bury(task, error[:4000], now)
    _reject_stale(task_id, token, "failure report")
    raise AssertionError("unreachable")  # _reject_stale raises


def release_task(*, task_id: Any, token: int, started: bool = False) -> bool:
    """Give a claimed task back without counting the attempt (a worker shutting down). A
    task whose tool had `started` is given back only when the tool is idempotent; otherwise it
    is dead-lettered, as one whose worker died mid-run."""
    if started:
        task = _running(task_id, token).only("tool_name").first()
        if task is not None and not tool_is_idempotent(task.tool_name):
            return _interrupt(task_id, token, "the worker stopped while the tool ran")
    with transaction.atomic():
        released = _running(task_id, token).update(
            status=TaskStatus.QUEUED,
            attempts=F("attempts") - 1,
            lease_expires_at=None,
            next_run_at=timezone.now(),
        )
        if released:
            _close_attempt(task_id, token, AttemptOutcome.RELEASED)
    return bool(released)


def _interrupt(task_id: Any, token: int, why: str, still_lost: Q | None = None) -> bool:
    """Fence out the holder of a running task whose tool was cut off, close its attempt as
    lost, and requeue or dead-letter the task; False when it finished or moved on meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        # Bumping the token fences the lost worker out before anyone claims it again.
        fenced = LEASES.fence_out(task_id, token, still=still_lost)
        if not fenced:
            return False
        task = Task.objects.get(pk=task_id)
        _close_attempt(task_id, token, AttemptOutcome.LOST, why)
        logger.warning("task %s: %s (worker %s)", task_id, why, task.worker_id)
        _requeue_or_bury(task, f"{why} (worker {task.worker_id})", now, interrupted=True)
    return True


def dead_workers(*, now: datetime | None = None) -> dict[str, str]:
    """Workers holding tasks that are gone: worker id → why (its heartbeat stopped, or it was
    marked stopped, as a restarted runtime marks its predecessor's)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MCP_PLATFORM_TASKQUEUE_WORKER_STALE_SECONDS)
    running = Task.objects.filter(status=TaskStatus.RUNNING).values("worker_id")
    return {
        worker_id: "the worker stopped" if stopped else "the worker's heartbeat stopped"
        for worker_id, stopped in Worker.objects.filter(worker_id__in=running)
        .filter(Q(last_seen__lt=cutoff) | Q(stopped=True))
        .values_list("worker_id", "stopped")
    }


def retire_workers(*, hostname: str, pids: list[int], started_before: datetime) -> int:
    """Mark stopped the workers of runtime processes known to be gone (a runtime restarted
    in their place): their tasks are taken back at the next reap, without waiting for their
    heartbeat to go stale."""
    if not pids:
        return 0
    return Worker.objects.filter(
        kind="runtime",
        hostname=hostname,
        pid__in=pids,
        started_at__lt=started_before,
        stopped=False,
    ).update(stopped=True)


def reap_expired_leases(*, now: datetime | None = None) -> int:
    """Requeue (or dead-letter) running tasks whose lease expired, or whose worker's heartbeat
    stopped (no need to wait out the lease of a process that is gone); returns how many."""
    now = now or timezone.now()
    reaped = 0
    expired = LEASES.expired(now=now)
    for task_id, token in expired.values_list("id", "fencing_token")[:100]:
        if _interrupt(task_id, token, "lease expired", Q(lease_expires_at__lt=now)):
            reaped += 1
    for worker_id, why in dead_workers(now=now).items():
        orphaned = Task.objects.filter(status=TaskStatus.RUNNING, worker_id=worker_id)
        for task_id, token in orphaned.values_list("id", "fencing_token")[:100]:
            if _interrupt(task_id, token, why, Q(worker_id=worker_id)):
                reaped += 1
    return reaped


def get_task(task_id: Any, *, owner: str | None = None) -> Task:
    """The task, if `owner` (a principal's name; None for any) queued it: another caller's
    task is "no task", as if it did not exist."""
    from apps.taskqueue.selectors import tasks_of

    try:
        return tasks_of(owner).get(pk=task_id)
    except (Task.DoesNotExist, ValueError, TypeError) as exc:
        raise TaskQueueError(f"no task {task_id}") from exc


def cancel_task(*, task_id: Any, reason: str = "cancelled", owner: str | None = None) -> Task:
    """Cancel a queued or running task (a running worker's report is then rejected)."""
    from apps.taskqueue import workflows

    with transaction.atomic():
        task = get_task(task_id, owner=owner)
        # Lock the row: a worker claiming or finishing it meanwhile must not be overwritten.
        task = Task.objects.select_for_update().get(pk=task.pk)
        if task.is_terminal:
            raise TaskQueueError(f"task {task.pk} is already {task.status}")
        Task.objects.filter(pk=task.pk, status=task.status).update(
            status=TaskStatus.CANCELLED,
            fencing_token=F("fencing_token") + 1,
            error=reason,
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        _close_attempt(task.pk, task.fencing_token, AttemptOutcome.CANCELLED, reason)
        task.refresh_from_db()
        workflows.task_finished(task)
    return task


def retry_task(*, task_id: Any, owner: str | None = None) -> Task:
    """Queue a dead-lettered or cancelled task again, with a fresh attempt budget."""
    with transaction.atomic():
        task = get_task(task_id, owner=owner)
        if task.status not in (TaskStatus.DEAD, TaskStatus.CANCELLED):
            raise TaskQueueError(
                f"only dead or cancelled tasks are retried; {task.pk} is {task.status}"
            )
        if hasattr(task, "workflow_step"):
            raise TaskQueueError("a workflow's task is retried by resubmitting the workflow")
        Task.objects.filter(pk=task.pk).update(
            status=TaskStatus.QUEUED,
            attempts=0,
            error="",
            finished_at=None,
            next_run_at=timezone.now(),
        )
        task.refresh_from_db()
    return task


def record_worker(
    *,
    worker_id: str,
    kind: str,
    hostname: str,
    pid: int,
    peer_id: str = "",
    queues: list[str] | None = None,
    current_task: str = "",
    started_at: datetime | None = None,
    stopped: bool = False,
) -> None:
    """The worker's heartbeat row."""
    now = timezone.now()
    fields = {
        "kind": kind,
        "hostname": hostname,
        "pid": pid,
        "peer_id": peer_id,
        "queues": queues or ["default"],
        "current_task": current_task,
        "last_seen": now,
        "stopped": stopped,
    }
    Worker.objects.update_or_create(
        worker_id=worker_id,
        defaults=fields,
        create_defaults={**fields, "started_at": started_at or now},
    )
