"""Running a claimed job in a worker: the call goes through the call service (so routing
applies: a trio-routed tool runs on the Trio runtime) under anyio, beside a watcher thread that
renews the claim and stops the call within a fraction of a second when cancellation is
requested or the claim was lost."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from django.conf import settings
from django.db import close_old_connections, connection

from apps.jobs import services
from apps.jobs.models import Job, JobStatus
from apps.routing import bridge
from apps.tools import call_log, interaction
from apps.tools.call_service import CallError, ToolResult, call_tool
from mcp_platform import tracing
from mcp_platform.concurrency import run_blocking

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 0.2  # seconds between cancellation checks: a cancel lands well within a second
PROGRESS_INTERVAL = 0.25  # at most this often a progress report is written


class JobAsker(interaction.Asker):
    """An MCP task's way to ask (2026 era): a question answered through `tasks/update` in an
    earlier round is answered at once; any other ends the run with `InputRequired`, and the job
    waits for its answers (`input_required`). What the client did not declare it cannot be
    asked (a tool error, as on every door)."""

    def __init__(self, state: dict[str, Any]):
        super().__init__("this job cannot ask its caller for input: only an MCP task can")
        self.capabilities = set(state.get("capabilities") or ())
        self.answers: dict[str, Any] = dict(state.get("answers") or {})
        self.pending: dict[str, dict[str, Any]] = {}
        self.asked: dict[str, str] = {}

    def supports(self, method: str) -> bool:
        return interaction.CAPABILITY[method] in self.capabilities

    async def ask(self, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        question = interaction.digest(method, params)
        recorded = self.answers.get(key)
        # An answer counts for the question as it was asked (a changed question is asked again).
        if recorded is not None and recorded.get("q") == question:
            return recorded["a"]
        if not self.supports(method):
            capability = interaction.CAPABILITY[method]
            raise interaction.InputUnavailable(
                f"the client did not declare the '{capability}' capability ({method})",
                missing_capability=capability,
            )
        self.pending[key] = {"method": method, "params": params}
        self.asked[key] = question
        raise interaction.InputRequired()

    def pending_result(self) -> dict[str, Any] | None:
        return {"requests": self.pending, "asked": self.asked} if self.pending else None


def asker_for(job: Job) -> interaction.Asker | None:
    """The job's asker: an MCP task's (it declared what it can answer), else none."""
    return JobAsker(job.input_state) if "capabilities" in (job.input_state or {}) else None


@dataclass
class Outcome:
    result: ToolResult | None = None
    call_error: CallError | None = None
    crash: BaseException | None = None
    stop_reason: str = ""  # "cancel" or "lost"


def run_job(*, job_id: str, worker: str) -> str:
    """Claim and run one job; returns what became of it (a status, or 'skipped'/'lost')."""
    job = services.claim_job(job_id=job_id, worker=worker)
    if job is None:
        return "skipped"
    logger.info("job %s (%s) attempt %d on %s", job.pk, job.tool_name, job.attempts, worker)
    outcome = anyio.run(_run_claimed, job, backend="asyncio")
    return _record(job, outcome)


async def _run_claimed(job: Job) -> Outcome:
    outcome = Outcome()
    stop = threading.Event()
    last_progress = 0.0

    async def progress(done: float, total: float | None, message: str | None) -> None:
        nonlocal last_progress
        now = time.monotonic()
        if now - last_progress < PROGRESS_INTERVAL and not (total and done >= total):
            return
        last_progress = now
        await run_blocking(
            services.record_progress,
            job_id=job.pk,
            fence=job.fence,
            progress=done,
            total=total,
            message=message,
        )

    async def call() -> None:
        try:
            with tracing.continued(job.trace_context):  # the trace of its submission
                outcome.result = await call_tool(
                    job.tool_name,
                    job.arguments,
                    services.principal_for(job),
                    "job",
                    request_id=job.request_id(job.attempts),
                    progress=progress,
                    asker=asker_for(job),
                )
        except CallError as exc:
            outcome.call_error = exc
        except Exception as exc:
            logger.exception("job %s crashed", job.pk)
            outcome.crash = exc
        finally:
            stop.set()

    try:
        async with anyio.create_task_group() as group:
            cancel = group.cancel_scope.cancel
            group.start_soon(anyio.to_thread.run_sync, _watch, job, stop, cancel, outcome)
            group.start_soon(call)
    finally:
        await bridge.close()  # this loop ends with the job: so do its bridge connections
        await run_blocking(close_old_connections)
    return outcome


def _watch(job: Job, stop: threading.Event, cancel: Any, outcome: Outcome) -> None:
    """Renew the claim and watch for cancellation until the call ends (a worker thread with its
    own database connection, so a busy call never delays it)."""
    beat_every = max(settings.MCP_PLATFORM_JOB_LEASE_SECONDS / 4, WATCH_INTERVAL)
    last_beat = time.monotonic()
    try:
        while not stop.wait(WATCH_INTERVAL):
            if time.monotonic() - last_beat >= beat_every:
                ours, cancelled = services.renew_claim(job_id=job.pk, fence=job.fence)
                last_beat = time.monotonic()
            else:
                ours, cancelled = services.cancel_requested(job_id=job.pk, fence=job.fence)
            if not ours or cancelled:
                outcome.stop_reason = "lost" if not ours else "cancel"
                anyio.from_thread.run_sync(cancel)
                return
    except Exception:  # a database hiccup: the next check retries; the lease covers the gap
        logger.exception("watching job %s failed", job.pk)
    finally:
        connection.close()


def _record(job: Job, outcome: Outcome) -> str:
    """Write the outcome (fenced) and the call log; returns the job's new status."""
    call_log.flush()  # the job's ToolCall rows exist by the time it is seen finished
    if outcome.result is not None and outcome.result.input_required is not None:
        pending = outcome.result.input_required
        parked = services.park_job(
            job_id=job.pk, fence=job.fence, requests=pending["requests"], asked=pending["asked"]
        )
        if not parked:
            logger.warning("job %s: the claim was lost before it could wait for input", job.pk)
            return "lost"
        logger.info("job %s waits for input (%s)", job.pk, ", ".join(pending["requests"]))
        return str(JobStatus.INPUT_REQUIRED)
    if outcome.result is not None:
        result = outcome.result
        status = JobStatus.FAILED if result.is_error else JobStatus.SUCCEEDED
        fields: dict[str, Any] = {
            "status": status,
            "result": result.to_dict(),
            "error": result.text if result.is_error else "",
        }
    elif outcome.stop_reason == "lost":
        logger.warning("job %s: the claim was lost (reaped); its outcome is dropped", job.pk)
        return "lost"
    elif outcome.stop_reason == "cancel":
        who = Job.objects.filter(pk=job.pk).values_list("cancel_requested_by", flat=True).first()
        fields = {"status": JobStatus.CANCELLED, "error": f"Cancelled by {who} while running"}
    elif outcome.call_error is not None:
        fields = {"status": JobStatus.FAILED, "error": outcome.call_error.message}
    else:
        crash = outcome.crash
        fields = {"status": JobStatus.FAILED, "error": f"Internal error: {crash!r}"}
    if not services.finish_job(job_id=job.pk, fence=job.fence, **fields):
        logger.warning("job %s: the claim was lost before its outcome was written", job.pk)
        return "lost"
    logger.info("job %s %s", job.pk, fields["status"])
    return str(fields["status"])
