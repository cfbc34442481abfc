"""/api/v2/jobs: submit a tool call to run later, follow it, fetch its result, cancel it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status

from apps.jobs import selectors, services
from apps.jobs.models import Job
from apps.jobs.schemas import JobCreatedOut, JobIn, JobListOut, JobOut

router = Router(tags=["jobs"])

MAX_PAGE = 500
# Past this an offset is refused (422), not handed to the database, which overflows on it.
MAX_OFFSET = 2**31 - 1


def job_url(request: HttpRequest, job: Job) -> str:
    return request.build_absolute_uri(f"/api/v2/jobs/{job.pk}")


def job_body(request: HttpRequest, job: Job, *, calls: bool = False) -> dict[str, Any]:
    body = {
        "id": str(job.pk),
        "url": job_url(request, job),
        "tool": job.tool_name,
        "arguments": job.arguments,
        "caller": job.caller,
        "via": job.via,
        "status": job.status,
        "progress": job.progress,
        "progress_total": job.progress_total,
        "progress_message": job.progress_message,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "worker": job.worker,
        "cancel_requested_at": job.cancel_requested_at,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "duration_seconds": job.duration_seconds,
    }
    if calls:
        body["calls"] = list(selectors.calls_of(job).values(*JobCallFields))
    return body


JobCallFields = ("request_id", "runtime", "outcome", "duration_ms", "started_at", "error", "pid")


@router.post("", response={202: JobCreatedOut})
def submit(request: HttpRequest, payload: JobIn):
    """Queue a call of `tool`; 202 with the job's id and URL. The call is checked first, as
    the call service checks it (404 unknown tool, 403 denied, 422 invalid arguments)."""
    job = services.submit_job(
        tool_name=payload.tool, arguments=payload.arguments, principal=request.auth, via="rest"
    )
    return Status(202, {"id": str(job.pk), "url": job_url(request, job), "status": job.status})


@router.get("", response=JobListOut)
def list_jobs(
    request: HttpRequest,
    status: str | None = None,
    tool: str | None = None,
    caller: str | None = None,
    limit: int = 50,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
):
    """Your jobs (all jobs for admins), newest first; `status` takes a comma-separated list."""
    jobs = selectors.jobs_visible_to(request.auth, status=status, tool=tool, caller=caller)
    limit = max(1, min(limit, MAX_PAGE))
    page = jobs[max(offset, 0) : max(offset, 0) + limit]
    return {"jobs": [job_body(request, job) for job in page], "count": jobs.count()}


@router.get("/{job_id}", response=JobOut)
def get_job(request: HttpRequest, job_id: str):
    """The job: status, progress, result or error, attempts, and the calls it made."""
    job = services.job_for(job_id=job_id, principal=request.auth)
    return job_body(request, job, calls=True)


@router.post("/{job_id}/cancel", response={202: JobOut})
def cancel(request: HttpRequest, job_id: str):
    """Cancel: a queued job at once, a running one is stopped by its worker (202; poll for
    `cancelled`). 409 when it already finished."""
    job = services.job_for(job_id=job_id, principal=request.auth)
    job = services.cancel_job(job=job, principal=request.auth)
    return Status(202, job_body(request, job))
