"""Workflows: a DAG of steps, each run as a task once its dependencies succeeded.

A step's arguments may reference the results of the steps it depends on: a string that is
exactly `{{steps.<id>.result}}` (or `{{steps.<id>.result.<key>.<key>...}}`) is replaced by
that value; inside a longer string the value is substituted as text. A step that fails (its
task dead-lettered or cancelled) cancels every step downstream of it. Everything is in the
database and advanced in the transaction that finishes a task, so a workflow resumes after a
restart wherever it was.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.access.principals import Principal
from apps.taskqueue.models import (
    TERMINAL_STEP_STATUSES,
    StepStatus,
    Task,
    TaskStatus,
    Workflow,
    WorkflowStatus,
    WorkflowStep,
)
from apps.taskqueue.principals import runs_as, submitter_of
from apps.tools.registry import NAME_RE

logger = logging.getLogger(__name__)

REFERENCE = re.compile(r"\{\{\s*steps\.([A-Za-z0-9_.-]+?)\.result((?:\.[A-Za-z0-9_-]+)*)\s*\}\}")
STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_STEPS = 200


class WorkflowError(Exception):
    """A workflow that cannot be submitted or changed as asked."""


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return {match.group(1) for match in REFERENCE.finditer(value)}
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _validate(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(steps, list) or not steps:
        raise WorkflowError("a workflow needs a non-empty list of steps")
    if len(steps) > MAX_STEPS:
        raise WorkflowError(f"a workflow has at most {MAX_STEPS} steps")
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, raw in enumerate(steps):
        if not isinstance(raw, dict):
            raise WorkflowError(f"step {index} must be an object")
        step_id = str(raw.get("id") or raw.get("step_id") or "")
        tool = raw.get("tool") or raw.get("tool_name") or ""
        if not STEP_ID.match(step_id):
            raise WorkflowError(f"step {index}: id must match {STEP_ID.pattern}")
        if step_id in seen:
            raise WorkflowError(f"step id {step_id!r} is used twice")
        if not isinstance(tool, str) or not NAME_RE.match(tool):
            raise WorkflowError(f"step {step_id!r}: invalid tool name {tool!r}")
        arguments = raw.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise WorkflowError(f"step {step_id!r}: arguments must be an object")
        depends_on = raw.get("depends_on") or []
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            raise WorkflowError(f"step {step_id!r}: depends_on must be a list of step ids")
        missing = _references(arguments) - set(depends_on)
        if missing:
            raise WorkflowError(
                f"step {step_id!r} references {sorted(missing)} without depending on them"
            )
        max_attempts = int(raw.get("max_attempts", 1))
        if max_attempts < 1:
            raise WorkflowError(f"step {step_id!r}: max_attempts must be at least 1")
        seen.add(step_id)
        clean.append(
            {
                "step_id": step_id,
                "tool_name": tool,
                "arguments": arguments,
                "depends_on": list(dict.fromkeys(depends_on)),
                "target_peer": str(raw.get("target_peer") or raw.get("peer_id") or ""),
                "max_attempts": max_attempts,
                "position": index,
            }
        )
    for step in clean:
        unknown = set(step["depends_on"]) - seen
        if unknown:
            raise WorkflowError(f"step {step['step_id']!r} depends on unknown {sorted(unknown)}")
    _check_acyclic(clean)
    return clean


def _check_acyclic(steps: list[dict[str, Any]]) -> None:
    remaining = {s["step_id"]: set(s["depends_on"]) for s in steps}
    while remaining:
        ready = [sid for sid, deps in remaining.items() if not deps]
        if not ready:
            raise WorkflowError(f"the steps {sorted(remaining)} form a dependency cycle")
        for sid in ready:
            del remaining[sid]
        for deps in remaining.values():
            deps.difference_update(ready)


def _lookup(value: Any, path: str, step_id: str) -> Any:
    for key in [part for part in path.split(".") if part]:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise WorkflowError(f"step {step_id!r} has no result field {path.lstrip('.')!r}")
    return value


def resolve_arguments(arguments: Any, results: dict[str, Any]) -> Any:
    """Replace `{{steps.<id>.result...}}` references with the referenced results."""
    if isinstance(arguments, dict):
        return {k: resolve_arguments(v, results) for k, v in arguments.items()}
    if isinstance(arguments, list):
        return [resolve_arguments(v, results) for v in arguments]
    if not isinstance(arguments, str):
        return arguments
    whole = REFERENCE.fullmatch(arguments.strip())
    if whole:
        return _lookup(results[whole.group(1)], whole.group(2), whole.group(1))

    def text(match: re.Match) -> str:
        value = _lookup(results[match.group(1)], match.group(2), match.group(1))
        return value if isinstance(value, str) else json.dumps(value)

    return REFERENCE.sub(text, arguments)


@transaction.atomic
def submit_workflow(
    *,
    steps: list[dict[str, Any]],
    name: str = "",
    submitted_by: str = "",
    submitter: Principal | None = None,
) -> Workflow:
    """Persist a workflow and queue its first steps, which run as `submitter`, whole (else as
    the queue itself); raises WorkflowError for a bad DAG."""
    from apps.peers.models import P2PSettings

    clean = _validate(steps)
    settings = P2PSettings.objects.filter(pk=1).first()
    limit = settings.workflow_max if settings else 100
    if Workflow.objects.filter(status=WorkflowStatus.RUNNING).count() >= limit:
        raise WorkflowError(f"{limit} workflows are running already (the configured maximum)")
    submitter, submitted_by = submitter_of(submitter, submitted_by)
    workflow = Workflow.objects.create(
        name=name[:200], submitted_by=submitted_by, submitter_principal=submitter.to_dict()
    )
    WorkflowStep.objects.bulk_create(WorkflowStep(workflow=workflow, **s) for s in clean)
    advance(workflow)
    return workflow


def legacy_steps(steps: Any) -> Any:
    """The legacy `/workflows/execute` steps in this module's form: a step without an `id` is
    named `step_<n>`, its `parameters` or `params` are its arguments, and when no step says
    what it depends on they run in order, each after the one before (the legacy engine ran
    them sequentially). Anything else is left for `_validate` to refuse."""
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        return steps
    sequential = not any("depends_on" in s for s in steps)
    converted: list[dict[str, Any]] = []
    for index, raw in enumerate(steps):
        step = dict(raw)
        step.setdefault("id", raw.get("step_id") or raw.get("name") or f"step_{index + 1}")
        if "arguments" not in step:
            step["arguments"] = raw.get("parameters") or raw.get("params") or {}
        if sequential and converted:
            step["depends_on"] = [converted[-1]["id"]]
        converted.append(step)
    return converted


def _queue_step(step: WorkflowStep, results: dict[str, Any]) -> None:
    from apps.taskqueue.services import submit_task

    try:
        arguments = resolve_arguments(step.arguments, results)
    except WorkflowError as exc:
        step.status, step.error = StepStatus.FAILED, str(exc)
        step.save(update_fields=["status", "error"])
        return
    task, _ = submit_task(
        tool=step.tool_name,
        arguments=arguments,
        target_peer=step.target_peer,
        max_attempts=step.max_attempts,
        idempotency_key=f"workflow:{step.workflow_id}:{step.step_id}",
        submitted_by=f"workflow:{step.workflow_id}",
        submitter=runs_as(step.workflow),
    )
    step.task, step.status = task, StepStatus.QUEUED
    step.save(update_fields=["task", "status"])


def advance(workflow: Workflow) -> Workflow:
    """Bring a workflow up to date: queue steps whose dependencies succeeded, cancel steps
    downstream of a failure, and settle the workflow once every step is final. Idempotent:
    also the way a workflow resumes after a restart."""
    steps = {s.step_id: s for s in workflow.steps.select_for_update().order_by("position")}
    for _ in range(len(steps) + 1):  # each pass settles at least one more layer of the DAG
        changed = False
        results = {sid: s.result for sid, s in steps.items() if s.status == StepStatus.SUCCEEDED}
        for step in steps.values():
            if step.status != StepStatus.PENDING or workflow.status != WorkflowStatus.RUNNING:
                continue
            deps = [steps[d] for d in step.depends_on]
            broken = [d for d in deps if d.status in (StepStatus.FAILED, StepStatus.CANCELLED)]
            if broken:
                step.status = StepStatus.CANCELLED
                step.error = f"dependency {broken[0].step_id!r} {broken[0].status}"
                step.save(update_fields=["status", "error"])
                changed = True
            elif all(d.status == StepStatus.SUCCEEDED for d in deps):
                _queue_step(step, results)
                changed = True
        if not changed:
            break
    if workflow.status == WorkflowStatus.RUNNING and all(
        s.status in TERMINAL_STEP_STATUSES for s in steps.values()
    ):
        failed = [s for s in steps.values() if s.status != StepStatus.SUCCEEDED]
        workflow.status = WorkflowStatus.FAILED if failed else WorkflowStatus.SUCCEEDED
        workflow.error = "; ".join(f"{s.step_id}: {s.error or s.status}" for s in failed)[:4000]
        workflow.finished_at = timezone.now()
        workflow.save(update_fields=["status", "error", "finished_at"])
        logger.info("workflow %s %s", workflow.pk, workflow.status)
    return workflow


def _step_result(task: Task) -> Any:
    return task.result


def task_finished(task: Task) -> None:
    """Called in the transaction that finished `task`: move its workflow on, if it has one."""
    step = WorkflowStep.objects.filter(task=task).select_related("workflow").first()
    if step is None:
        return
    if task.status == TaskStatus.SUCCEEDED:
        step.status, step.result, step.error = StepStatus.SUCCEEDED, _step_result(task), ""
    elif task.status == TaskStatus.DEAD:
        step.status, step.error = StepStatus.FAILED, task.error
    elif task.status == TaskStatus.CANCELLED:
        step.status, step.error = StepStatus.CANCELLED, task.error or "cancelled"
    else:
        return
    step.save(update_fields=["status", "result", "error"])
    advance(Workflow.objects.select_for_update().get(pk=step.workflow_id))


def get_workflow(workflow_id: Any, *, owner: str | None = None) -> Workflow:
    """The workflow, if `owner` (a principal's name; None for any) submitted it."""
    from apps.taskqueue.selectors import workflows_of

    try:
        return workflows_of(owner).get(pk=workflow_id)
    except (Workflow.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise WorkflowError(f"no workflow {workflow_id}") from exc


def cancel_workflow(
    *, workflow_id: Any, reason: str = "workflow cancelled", owner: str | None = None
) -> Workflow:
    """Cancel every unfinished step (and its task); the workflow ends cancelled."""
    from apps.taskqueue.services import cancel_task

    with transaction.atomic():
        workflow = get_workflow(workflow_id, owner=owner)
        workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
        if workflow.status != WorkflowStatus.RUNNING:
            raise WorkflowError(f"workflow {workflow.pk} is already {workflow.status}")
        workflow.status = WorkflowStatus.CANCELLED
        workflow.error = reason
        workflow.finished_at = timezone.now()
        workflow.save(update_fields=["status", "error", "finished_at"])
        for step in workflow.steps.exclude(status__in=TERMINAL_STEP_STATUSES):
            if step.task_id and step.task.status in (TaskStatus.QUEUED, TaskStatus.RUNNING):
                cancel_task(task_id=step.task_id, reason=reason)
            step.status, step.error = StepStatus.CANCELLED, reason
            step.save(update_fields=["status", "error"])
    return workflow


def resume_workflows() -> int:
    """Advance every running workflow (at start: nothing is lost between two transactions)."""
    count = 0
    for workflow_id in Workflow.objects.filter(status=WorkflowStatus.RUNNING).values_list(
        "id", flat=True
    ):
        with transaction.atomic():
            advance(Workflow.objects.select_for_update().get(pk=workflow_id))
        count += 1
    return count
