"""Job operations: submit, cancel, and the worker's side (claim, heartbeat, progress, finish),
plus the reaper that recovers jobs whose worker was lost.

Every write a worker makes is fenced: it names the `fence` value its claim got and changes
nothing once the job was claimed again, reaped or finished (`mcp_platform.leases`, shared with
the P2P task queue). That is what makes a job run at
most once per claim, and a non-idempotent job at most once at all.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.access.principals import SCOPE_ADMIN, SCOPE_CALL, Principal
from apps.jobs.models import FINISHED, Job, JobStatus
from apps.tools.call_service import CallRequest, prepare_call, retry_delay
from mcp_platform import tracing
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import ApiError, Forbidden
from mcp_platform.leases import HEARTBEAT, Leases, after_lost_attempt

logger = logging.getLogger(__name__)


# A job's lease is its worker's heartbeat: it runs out MCP_PLATFORM_JOB_LEASE_SECONDS after it.
LEASES = Leases(
    model=Job,
    token="fence",
    holder="worker",
    lease="heartbeat_at",
    kind=HEARTBEAT,
    queued=JobStatus.QUEUED,
    running=JobStatus.RUNNING,
    dead=JobStatus.FAILED,
)


class JobNotFound(ApiError):
    status_code = 404


class JobConflict(ApiError):
    status_code = 409


# --- callers ---------------------------------------------------------------------------------


def principal_for(job: Job) -> Principal:
    """The caller who submitted `job`, as the call service expects it."""
    return Principal.from_dict(job.caller_principal)


def may_see(principal: Principal, job: Job) -> bool:
    return principal.has_scope(SCOPE_ADMIN) or job.caller == principal.name


def job_for(*, job_id: Any, principal: Principal) -> Job:
    """The job, if `principal` may see it; raises JobNotFound (also for others' jobs)."""
    job = Job.objects.filter(pk=job_id).first() if _is_uuid(job_id) else None
    if job is None or not may_see(principal, job):
        raise JobNotFound(f"Job '{job_id}' not found")
    return job


def _is_uuid(value: Any) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# --- submit ----------------------------------------------------------------------------------


def create_job(
    *,
    request: CallRequest,
    arguments: dict[str, Any],
    ttl_seconds: int | None = None,
    can_ask: list[str] | None = None,
    answers: dict[str, Any] | None = None,
):
    """Store a prepared call as a queued job and publish it once the transaction commits.
    `can_ask`: the client capabilities its tool may ask through (an MCP task, 2026 era: the
    job then waits for the answers, `input_required`); None, it cannot ask. `answers`: those
    its questions already have (asked before the call became a task), by key."""
    tool, principal = request.tool, request.principal
    retries = request.plan.retries
    input_state: dict[str, Any] = {}
    if can_ask is not None:  # an MCP task's questions: what it may ask, what it has answered
        input_state["capabilities"] = sorted(can_ask)
        if answers:
            input_state["answers"] = answers
    job = Job.objects.create(
        tool_name=tool.name,
        arguments=arguments,
        caller=principal.name,
        caller_principal=principal.to_dict(),
        via=request.via,
        priority=tool.priority,
        idempotent=tool.idempotent_hint,
        retry_policy=tool.retry_policy,
        max_attempts=1 + retries,
        ttl_seconds=ttl_seconds,
        trace_context=tracing.carrier(),
        input_state=input_state,
    )
    transaction.on_commit(lambda: publish(job))
    return job


def submit_job(
    *,
    tool_name: str,
    arguments: Any,
    principal: Principal,
    via: str = "rest",
    ttl_seconds: int | None = None,
) -> Job:
    """Check the call as the call service would (tool, scope, arguments) and queue it.

    Raises ToolNotFound, CallDenied or InvalidArguments, like `call_tool`.
    """
    request = async_to_sync(prepare_call)(tool_name, arguments, principal, via, "")
    return create_job(request=request, arguments=arguments or {}, ttl_seconds=ttl_seconds)


async def asubmit_job(
    *,
    tool_name: str,
    arguments: Any,
    principal: Principal,
    via: str = "mcp",
    ttl_seconds: int | None = None,
    can_ask: list[str] | None = None,
    answers: dict[str, Any] | None = None,
) -> Job:
    """`submit_job` for async callers (the MCP endpoint); `can_ask` and `answers` as for
    `create_job`."""
    request = await prepare_call(tool_name, arguments, principal, via, "")
    return await run_blocking(
        create_job,
        request=request,
        arguments=arguments or {},
        ttl_seconds=ttl_seconds,
        can_ask=can_ask,
        answers=answers,
    )


def publish(job: Job, *, countdown: float = 0.0) -> None:
    """Send the job's message to the broker (the claim decides whether a delivery runs it)."""
    from apps.jobs.tasks import run_job
    from mcp_platform.celery import job_priority, job_queue

    try:
        run_job.apply_async(
            args=[str(job.pk)],
            # The queue of the database this job is in (as connected now: tests switch it).
            queue=job_queue(connection.settings_dict),
            priority=job_priority(job.priority),
            countdown=countdown or None,
        )
    except Exception:  # the stale-queue sweep publishes it again
        logger.exception("could not publish job %s; it will be published again later", job.pk)
        return
    Job.objects.filter(pk=job.pk).update(published_at=timezone.now())


# --- cancel ----------------------------------------------------------------------------------


def cancel_job(*, job: Job, principal: Principal) -> Job:
    """Cancel a queued job (or one waiting for input) at once; ask the worker of a running one
    to stop it (it does within a fraction of a second). Raises Forbidden without `tools:call`,
    JobConflict for a finished job."""
    if not principal.has_scope(SCOPE_CALL):
        raise Forbidden(f"Caller '{principal.name}' lacks the '{SCOPE_CALL}' scope")
    now = timezone.now()
    who = principal.name[:200]
    cancelled = 0
    for status, when in (
        (JobStatus.QUEUED, "before it started"),
        (JobStatus.INPUT_REQUIRED, "while it waited for input"),
    ):
        cancelled = Job.objects.filter(pk=job.pk, status=status).update(
            status=JobStatus.CANCELLED,
            cancel_requested_at=now,
            cancel_requested_by=who,
            finished_at=now,
            fence=F("fence") + 1,
            error=f"Cancelled by {who} {when}",
        )
        if cancelled:
            break
    if not cancelled:
        Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            cancel_requested_at=now, cancel_requested_by=who
        )
    job.refresh_from_db()
    if job.status in FINISHED and job.cancel_requested_at is None:
        raise JobConflict(f"Job '{job.pk}' already {job.status}", status=job.status)
    return job


# --- the worker's side -----------------------------------------------------------------------


def claim_job(*, job_id: str, worker: str) -> Job | None:
    """Take a queued job for `worker`: None when it is not queued (another delivery has it, it
    finished, or it was cancelled). The returned job carries the new fence."""
    job = Job.objects.filter(pk=job_id).first() if _is_uuid(job_id) else None
    if job is None:
        logger.warning("job %s does not exist; its message is dropped", job_id)
        return None
    if job.status != JobStatus.QUEUED:
        logger.info("job %s is %s; this delivery is dropped", job_id, job.status)
        return None
    now = timezone.now()
    claimed = LEASES.claim(
        job.pk, holder=worker, now=now, token=job.fence, started_at=job.started_at or now
    )
    if not claimed:
        return None
    job.refresh_from_db()
    return job


def renew_claim(*, job_id: Any, fence: int) -> tuple[bool, bool]:
    """Heartbeat: (still ours, cancel requested)."""
    if not LEASES.renew(job_id, fence):
        return False, False
    return True, Job.objects.filter(pk=job_id, cancel_requested_at__isnull=False).exists()


def cancel_requested(*, job_id: Any, fence: int) -> tuple[bool, bool]:
    """(still ours, cancel requested), read without writing."""
    row = Job.objects.filter(pk=job_id).values_list("fence", "status", "cancel_requested_at")
    found = row.first()
    if found is None:
        return False, False
    current, status, requested = found
    return current == fence and status == JobStatus.RUNNING, requested is not None


def record_progress(
    *, job_id: Any, fence: int, progress: float, total: float | None, message: str | None
) -> None:
    LEASES.held(job_id, fence).update(
        progress=progress, progress_total=total, progress_message=(message or "")[:500]
    )


def finish_job(
    *,
    job_id: Any,
    fence: int,
    status: str,
    result: dict[str, Any] | None = None,
    error: str = "",
) -> bool:
    """Record the outcome, if the claim is still ours; returns whether it was."""
    return LEASES.finish(job_id, fence, status=status, result=result, error=error)


def park_job(*, job_id: Any, fence: int, requests: dict[str, Any], asked: dict[str, str]) -> bool:
    """The run ended asking its caller (`requests`: key -> {method, params}; `asked`: key ->
    the question's digest): the job waits, `input_required`, if the claim is still ours (the
    lease ends; it is not finished). Returns whether it was."""
    with transaction.atomic():
        job = LEASES.held(job_id, fence).select_for_update().first()
        if job is None:
            return False
        state = dict(job.input_state)
        state.update(requests=requests, asked=asked)
        return bool(
            LEASES.held(job_id, fence).update(
                status=JobStatus.INPUT_REQUIRED, heartbeat_at=None, input_state=state
            )
        )


def answer_job(*, job: Job, principal: Principal, answers: dict[str, dict[str, Any]]) -> Job:
    """Record answers (key -> the answer, a result dict already checked against its question's
    kind) to a job waiting for input; once none of its questions is open, it is queued again
    and its tool runs again from the start, each answered question answered at once. Answers to
    questions not open are ignored, as is a job not waiting. Raises Forbidden without
    `tools:call`."""
    if not principal.has_scope(SCOPE_CALL):
        raise Forbidden(f"Caller '{principal.name}' lacks the '{SCOPE_CALL}' scope")
    with transaction.atomic():
        locked = Job.objects.select_for_update().filter(pk=job.pk).first()
        if locked is None or locked.status != JobStatus.INPUT_REQUIRED:
            return locked or job
        state = dict(locked.input_state)
        requests = dict(state.get("requests") or {})
        asked = dict(state.get("asked") or {})
        recorded = dict(state.get("answers") or {})
        for key, answer in answers.items():
            if key in requests:
                recorded[key] = {"q": asked.get(key), "a": answer}
                del requests[key]
        state.update(requests=requests, answers=recorded)
        fields: dict[str, Any] = {"input_state": state, "updated_at": timezone.now()}
        if not requests:  # every question answered: run again (a fresh attempt budget)
            fields.update(status=JobStatus.QUEUED, max_attempts=F("max_attempts") + 1)
            transaction.on_commit(lambda: publish(locked))
        Job.objects.filter(pk=job.pk, status=JobStatus.INPUT_REQUIRED).update(**fields)
    locked.refresh_from_db()
    return locked


# --- recovery --------------------------------------------------------------------------------


def reap_lost_jobs(*, lease_seconds: float | None = None) -> dict[str, int]:
    """Recover running jobs whose worker stopped heartbeating.

    An idempotent job with attempts left under its tool's retry policy is queued again (after
    the policy's delay) for any worker; any other is failed with the reason; a job whose
    cancellation was requested is cancelled. Returns counts by what happened.
    """
    lease = settings.MCP_PLATFORM_JOB_LEASE_SECONDS if lease_seconds is None else lease_seconds
    counts = {"requeued": 0, "failed": 0, "cancelled": 0}
    for job in LEASES.expired(now=timezone.now(), lease_seconds=lease):
        lost_since = job.heartbeat_at.isoformat(timespec="seconds")
        what = f"The worker running this job ({job.worker or 'unknown'}) was lost"
        what += f" on attempt {job.attempts} (no heartbeat since {lost_since})"
        now = timezone.now()
        verdict = after_lost_attempt(
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            idempotent=job.idempotent,
            interrupted=True,
            tool=job.tool_name,
            noun="job",
            limit="its tool's retry policy",
        )
        if job.cancel_requested_at is not None:
            if LEASES.fence_out(
                job.pk,
                job.fence,
                status=JobStatus.CANCELLED,
                finished_at=now,
                error=f"Cancelled by {job.cancel_requested_by}; {what[0].lower()}{what[1:]}",
            ):
                counts["cancelled"] += 1
        elif verdict.retry:
            with transaction.atomic():
                requeued = LEASES.fence_out(
                    job.pk,
                    job.fence,
                    status=JobStatus.QUEUED,
                    heartbeat_at=None,
                    error=f"{what}; retrying (the tool is idempotent)",
                )
                if requeued:
                    delay = retry_delay(job.retry_policy, job.attempts)
                    delay = 0.0 if math.isinf(delay) else delay
                    transaction.on_commit(lambda job=job, d=delay: publish(job, countdown=d))
                    counts["requeued"] += 1
        elif LEASES.fence_out(
            job.pk,
            job.fence,
            status=JobStatus.FAILED,  # the jobs' dead letter
            finished_at=now,
            error=f"{what}; {verdict.why}",
        ):
            counts["failed"] += 1
    if any(counts.values()):
        logger.warning("reaped lost jobs: %s", counts)
    return counts


def republish_stale_queued(*, older_than_seconds: float = 120.0) -> int:
    """Publish again the queued jobs whose message may have been lost with a worker (a message
    it had reserved); a duplicate delivery is harmless, the claim takes only one."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        Job.objects.filter(status=JobStatus.QUEUED, published_at__lt=cutoff).order_by(
            "-priority", "created_at"
        )[:500]
    )
    never = Job.objects.filter(status=JobStatus.QUEUED, published_at__isnull=True)
    stale += list(never.filter(created_at__lt=cutoff)[:500])
    for job in stale:
        publish(job)
    return len(stale)
