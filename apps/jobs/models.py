"""Jobs: tool calls run later, by a Celery worker, through the same call service."""

import uuid

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    # Parked until its caller answers the questions the tool asked (an MCP task, 2026 era).
    INPUT_REQUIRED = "input_required"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """One tool call, queued for a worker.

    A worker runs it only after claiming it: the claim bumps `fence`, and every later write of
    that worker (heartbeat, progress, outcome) is conditional on its fence still being current.
    A worker that lost its claim (the reaper gave the job to another, or failed it) can no
    longer change the job.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tool_name = models.CharField(max_length=128, db_index=True)
    arguments = models.JSONField(default=dict, blank=True)
    # The caller: its name (whose job it is) and the whole Principal the worker calls as.
    caller = models.CharField(max_length=200, db_index=True)
    caller_principal = models.JSONField(
        default=dict, help_text="Principal.to_dict() of the caller."
    )
    via = models.CharField(max_length=16, default="rest", help_text="rest, mcp, ...")
    priority = models.PositiveSmallIntegerField(default=5, help_text="The tool's, 0-10.")
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(null=True, blank=True)
    progress_total = models.FloatField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Snapshot of the tool's retry policy at submission: how often a lost worker may be replaced.
    idempotent = models.BooleanField(default=False)
    retry_policy = models.CharField(max_length=12, default="none")
    max_attempts = models.PositiveSmallIntegerField(default=1)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Executions started.")
    fence = models.PositiveIntegerField(default=0, help_text="Bumped by every claim and reap.")
    worker = models.CharField(max_length=200, blank=True, help_text="Who runs (or last ran) it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.CharField(max_length=200, blank=True)
    ttl_seconds = models.PositiveIntegerField(null=True, blank=True)
    # An MCP task's questions (2026 era; empty for a job that cannot ask): "capabilities" the
    # client declared (what the tool may ask), "requests" still open (key -> {method, params}),
    # "asked" (key -> the question's digest) and "answers" (key -> {"q": digest, "a": result}).
    input_state = models.JSONField(default=dict, blank=True)
    # The submission's W3C trace context (traceparent, tracestate): the run continues its trace.
    trace_context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="job_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1), name="job_max_attempts_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} job {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def request_id_prefix(self) -> str:
        """Every call this job makes carries a request id starting with this."""
        return f"job-{self.pk.hex}"

    def request_id(self, attempt: int) -> str:
        return f"{self.request_id_prefix}-{attempt}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or self.updated_at
        return max((end - self.started_at).total_seconds(), 0.0)
