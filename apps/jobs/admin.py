"""Jobs in the admin: filter by status, watch progress, cancel, follow a job to its calls."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.access.services import principal_for_user
from apps.jobs import selectors, services
from apps.jobs.models import Job, JobStatus
from mcp_platform.admin import ReadOnlyAdminMixin


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "tool_name",
        "status",
        "progress_display",
        "caller",
        "via",
        "attempts",
        "worker",
        "duration_display",
        "calls_link",
    )
    list_filter = ("status", "via", "tool_name", "idempotent", "created_at")
    search_fields = ("id", "tool_name", "caller", "error", "worker")
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False
    actions = ["cancel_jobs"]
    fieldsets = (
        (None, {"fields": ("id", "tool_name", "status", "progress_display", "caller", "via")}),
        ("Call", {"fields": ("arguments_display", "result_display", "error")}),
        (
            "Execution",
            {
                "fields": (
                    "attempts",
                    "max_attempts",
                    "idempotent",
                    "retry_policy",
                    "worker",
                    "heartbeat_at",
                    "cancel_requested_at",
                    "cancel_requested_by",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "calls_table",
                )
            },
        ),
    )

    readonly_extra = ("progress_display", "arguments_display", "result_display", "calls_table")

    @admin.display(description="progress")
    def progress_display(self, job: Job) -> str:
        if job.progress is None:
            return "—"
        if job.progress_total:
            percent = min(100.0, 100.0 * job.progress / job.progress_total)
            return format_html(
                '<progress max="100" value="{}"></progress> {}%', f"{percent:.0f}", f"{percent:.0f}"
            )
        return f"{job.progress:g}"

    @admin.display(description="duration")
    def duration_display(self, job: Job) -> str:
        seconds = job.duration_seconds
        return "—" if seconds is None else f"{seconds:.1f}s"

    @admin.display(description="calls")
    def calls_link(self, job: Job) -> str:
        url = reverse("admin:tools_toolcall_changelist") + f"?q={job.request_id_prefix}"
        return format_html('<a href="{}">calls</a>', url)

    @admin.display(description="arguments")
    def arguments_display(self, job: Job) -> str:
        return format_html("<pre>{}</pre>", json.dumps(job.arguments, indent=2))

    @admin.display(description="result")
    def result_display(self, job: Job) -> str:
        if job.result is None:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(job.result, indent=2)[:20000])

    @admin.display(description="calls of this job")
    def calls_table(self, job: Job) -> str:
        calls = list(selectors.calls_of(job))
        if not calls:
            return "—"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{} ms</td></tr>',
            (
                (
                    reverse("admin:tools_toolcall_change", args=[call.pk]),
                    call.request_id,
                    call.outcome,
                    call.runtime,
                    f"{call.duration_ms:.0f}",
                )
                for call in calls
            ),
        )
        return format_html("<table>{}</table>", rows)

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        principal = principal_for_user(request.user, kind="admin")
        asked = skipped = 0
        for job in queryset.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]):
            services.cancel_job(job=job, principal=principal)
            asked += 1
        skipped = queryset.count() - asked
        self.message_user(
            request,
            f"Cancelled {asked} job(s) (running ones stop within a second)"
            + (f"; {skipped} had already finished" if skipped else ""),
            messages.SUCCESS if asked else messages.WARNING,
        )
