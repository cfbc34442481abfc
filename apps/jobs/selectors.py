"""Reads of jobs and of the calls they made."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.access.principals import SCOPE_ADMIN, Principal
from apps.jobs.models import Job


def jobs_visible_to(
    principal: Principal,
    *,
    status: str | None = None,
    tool: str | None = None,
    caller: str | None = None,
) -> QuerySet[Job]:
    """The caller's own jobs (every job for admins), newest first, optionally filtered."""
    jobs = Job.objects.all()
    if not principal.has_scope(SCOPE_ADMIN):
        jobs = jobs.filter(caller=principal.name)
    elif caller:
        jobs = jobs.filter(caller=caller)
    if status:
        jobs = jobs.filter(status__in=status.split(","))
    if tool:
        jobs = jobs.filter(tool_name=tool)
    return jobs.order_by("-created_at")


def calls_of(job: Job):
    """The ToolCall rows of every attempt of `job` (linked by request id)."""
    from apps.tools.models import ToolCall

    return ToolCall.objects.filter(request_id__startswith=job.request_id_prefix + "-").order_by(
        "started_at"
    )
