"""The durable P2P task queue (tasks, their attempts, workers) and workflows (DAGs of steps)."""

import uuid

from django.db import models


class TaskStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead", "dead letter"
    CANCELLED = "cancelled"


TERMINAL_TASK_STATUSES = (TaskStatus.SUCCEEDED, TaskStatus.DEAD, TaskStatus.CANCELLED)


class Submitted(models.Model):
    """Who queued the work: a task runs as its submitter, the whole principal (scopes, tool
    patterns, denied tools, toolsets), so the queue never lets a caller reach a tool it could
    not call itself."""

    submitted_by = models.CharField(max_length=200, blank=True)
    # No default: work stored without whom it runs as is refused by the database.
    submitter_principal = models.JSONField(
        help_text="Principal.to_dict() of the submitter (or of the queue itself)."
    )

    class Meta:
        abstract = True


class Task(Submitted):
    """A tool call to run once, by whichever worker claims it, locally or on a target peer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    queue = models.CharField(max_length=64, default="default", db_index=True)
    tool_name = models.CharField(max_length=128)
    arguments = models.JSONField(default=dict, blank=True)
    target_peer = models.CharField(
        max_length=128, blank=True, help_text="Run on this peer over P2P; blank runs it here."
    )
    priority = models.SmallIntegerField(default=5, help_text="0-10, higher first.")
    # Unique per submitter (see Meta): one caller's key never finds another's task. NULL (no
    # key) rather than "", so that tasks without a key never collide.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    backoff_seconds = models.FloatField(default=1.0, help_text="Retry n waits backoff * 2^(n-1).")
    lease_seconds = models.FloatField(default=30.0)
    next_run_at = models.DateTimeField(db_index=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Bumped at every claim (and on cancel): only the holder of the current token may finish it.
    fencing_token = models.BigIntegerField(default=0)
    worker_id = models.CharField(max_length=200, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The submission's W3C trace context (traceparent, tracestate): the run continues its trace.
    trace_context = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "queue", "-priority", "next_run_at"], name="task_claim"),
            models.Index(fields=["status", "lease_expires_at"], name="task_lease"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["submitted_by", "idempotency_key"], name="task_idempotency_per_submitter"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TaskStatus.values), name="task_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1), name="task_max_attempts_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} [{self.status}] {self.id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_TASK_STATUSES


class AttemptOutcome(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost", "lease lost"
    RELEASED = "released"
    STALE = "stale", "late completion rejected"
    CANCELLED = "cancelled"


class TaskAttempt(models.Model):
    """One claim of a task: who held which fencing token, and how it ended."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="attempt_log")
    fencing_token = models.BigIntegerField()
    worker_id = models.CharField(max_length=200)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["task", "fencing_token"]
        constraints = [
            models.UniqueConstraint(fields=["task", "fencing_token"], name="attempt_token_unique")
        ]

    def __str__(self) -> str:
        return f"{self.task_id} token {self.fencing_token}: {self.outcome}"


class Worker(models.Model):
    """A task-queue worker of this node (in the Trio runtime or a standalone process)."""

    worker_id = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, default="runtime", help_text="runtime or standalone")
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)
    peer_id = models.CharField(max_length=128, blank=True)
    queues = models.JSONField(default=list, blank=True)
    current_task = models.CharField(max_length=64, blank=True)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    stopped = models.BooleanField(default=False)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return self.worker_id


class QueueState(models.Model):
    """The singleton (pk=1) switch an operator flips to pause claiming."""

    paused = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="queue_state_singleton")
        ]

    def __str__(self) -> str:
        return "paused" if self.paused else "running"


class WorkflowStatus(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Workflow(Submitted):
    """A DAG of steps, each a task; persisted, so it resumes after a restart."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=WorkflowStatus.choices, default=WorkflowStatus.RUNNING
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name or 'workflow'} [{self.status}] {self.id}"


class StepStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its dependencies
    QUEUED = "queued"  # its task exists
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STEP_STATUSES = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED)


class WorkflowStep(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    step_id = models.CharField(max_length=64)
    position = models.PositiveIntegerField(default=0)
    tool_name = models.CharField(max_length=128)
    arguments = models.JSONField(default=dict, blank=True)
    depends_on = models.JSONField(default=list, blank=True)
    target_peer = models.CharField(max_length=128, blank=True)
    max_attempts = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    task = models.OneToOneField(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflow_step"
    )
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["workflow", "position"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "step_id"], name="step_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id}:{self.step_id} [{self.status}]"
