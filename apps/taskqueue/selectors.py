"""Reads of the task queue and workflows, as the JSON the tools and the API return."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.taskqueue.models import (
    Task,
    TaskAttempt,
    TaskStatus,
    Worker,
    Workflow,
    WorkflowStep,
)

WORKER_ALIVE_SECONDS = 10.0


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def task_dict(task: Task, *, attempts: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task_id": str(task.pk),
        "tool": task.tool_name,
        "arguments": task.arguments,
        "queue": task.queue,
        "target_peer": task.target_peer or None,
        "priority": task.priority,
        "idempotency_key": task.idempotency_key,
        "status": task.status,
        "attempts": task.attempts,
        "max_attempts": task.max_attempts,
        "fencing_token": task.fencing_token,
        "worker_id": task.worker_id or None,
        "result": task.result,
        "error": task.error or None,
        "created_at": _iso(task.created_at),
        "started_at": _iso(task.started_at),
        "finished_at": _iso(task.finished_at),
        "next_run_at": _iso(task.next_run_at),
        "lease_expires_at": _iso(task.lease_expires_at),
    }
    if attempts:
        data["attempt_log"] = [
            {
                "fencing_token": a.fencing_token,
                "worker_id": a.worker_id,
                "outcome": a.outcome,
                "error": a.error or None,
                "started_at": _iso(a.started_at),
                "finished_at": _iso(a.finished_at),
            }
            for a in TaskAttempt.objects.filter(task=task).order_by("fencing_token")
        ]
    return data


def tasks_of(owner: str | None) -> QuerySet[Task]:
    """The tasks `owner` (a principal's name) queued, itself or through its workflows; every
    task when `owner` is None (an admin, the platform)."""
    if owner is None:
        return Task.objects.all()
    return Task.objects.filter(
        Q(submitted_by=owner) | Q(workflow_step__workflow__submitted_by=owner)
    )


def workflows_of(owner: str | None) -> QuerySet[Workflow]:
    """The workflows `owner` submitted; every workflow when `owner` is None."""
    if owner is None:
        return Workflow.objects.all()
    return Workflow.objects.filter(submitted_by=owner)


def list_tasks(
    *, status: str | None = None, limit: int = 50, owner: str | None = None
) -> list[dict[str, Any]]:
    tasks = tasks_of(owner)
    if status:
        tasks = tasks.filter(status=status)
    return [task_dict(t) for t in tasks.order_by("-created_at")[: max(1, min(limit, 500))]]


def queue_stats() -> dict[str, Any]:
    from apps.taskqueue.services import is_paused

    counts = {status: 0 for status in TaskStatus.values}
    for row in Task.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    since = timezone.now() - timedelta(seconds=60)
    return {
        "paused": is_paused(),
        "by_status": counts,
        "dead_letter": counts[TaskStatus.DEAD],
        "total": sum(counts.values()),
        "completed_last_minute": Task.objects.filter(
            status=TaskStatus.SUCCEEDED, finished_at__gte=since
        ).count(),
        "workers_alive": len([w for w in list_workers() if w["alive"]]),
    }


def list_workers() -> list[dict[str, Any]]:
    fresh = timezone.now() - timedelta(seconds=WORKER_ALIVE_SECONDS)
    return [
        {
            "worker_id": w.worker_id,
            "kind": w.kind,
            "hostname": w.hostname,
            "pid": w.pid,
            "peer_id": w.peer_id or None,
            "queues": w.queues,
            "current_task": w.current_task or None,
            "completed": w.completed,
            "failed": w.failed,
            "started_at": _iso(w.started_at),
            "last_seen": _iso(w.last_seen),
            "alive": not w.stopped and w.last_seen >= fresh,
        }
        for w in Worker.objects.order_by("-last_seen")[:200]
    ]


def step_dict(step: WorkflowStep) -> dict[str, Any]:
    return {
        "id": step.step_id,
        "tool": step.tool_name,
        "depends_on": step.depends_on,
        "target_peer": step.target_peer or None,
        "status": step.status,
        "task_id": str(step.task_id) if step.task_id else None,
        "result": step.result,
        "error": step.error or None,
    }


def workflow_dict(workflow: Workflow, *, steps: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "workflow_id": str(workflow.pk),
        "name": workflow.name,
        "status": workflow.status,
        "error": workflow.error or None,
        "created_at": _iso(workflow.created_at),
        "finished_at": _iso(workflow.finished_at),
    }
    if steps:
        data["steps"] = [step_dict(s) for s in workflow.steps.order_by("position")]
    return data


def list_workflows(
    *, status: str | None = None, limit: int = 50, owner: str | None = None
) -> list[dict[str, Any]]:
    workflows = workflows_of(owner)
    if status:
        workflows = workflows.filter(status=status)
    return [
        workflow_dict(w, steps=False)
        for w in workflows.order_by("-created_at")[: max(1, min(limit, 500))]
    ]


def workflow_dependencies(workflow: Workflow) -> dict[str, Any]:
    steps = list(workflow.steps.order_by("position"))
    dependents: dict[str, list[str]] = {s.step_id: [] for s in steps}
    for step in steps:
        for dep in step.depends_on:
            dependents.setdefault(dep, []).append(step.step_id)
    return {
        "workflow_id": str(workflow.pk),
        "depends_on": {s.step_id: s.depends_on for s in steps},
        "dependents": dependents,
        "roots": [s.step_id for s in steps if not s.depends_on],
        "leaves": [sid for sid, deps in dependents.items() if not deps],
    }


def p2p_status() -> dict[str, Any]:
    """This node's P2P identity as its Trio runtime's heartbeat reports it (web side)."""
    from apps.routing.selectors import live_instance

    instance = live_instance("trio")
    if instance is None or not instance.peer_id:
        return {"status": "disabled", "peer_id": None, "multiaddrs": [], "started": None}
    return {
        "status": "active",
        "peer_id": instance.peer_id,
        "multiaddrs": [
            a if "/p2p/" in a else f"{a}/p2p/{instance.peer_id}" for a in instance.listen_addrs
        ],
        "started": _iso(instance.started_at),
    }


def legacy_peers() -> dict[str, Any]:
    """`GET /mcp/p2p/peers`: the node and the peers it observes."""
    from apps.peers.models import Peer, PeerStatus

    node = p2p_status()
    peers = list(Peer.objects.filter(enabled=True).order_by("peer_id"))
    return {
        "peer_id": node["peer_id"],
        "multiaddrs": node["multiaddrs"],
        "protocol": "/mcp+p2p/1.0.0",
        "started": node["started"],
        "status": node["status"],
        "connected_peers": sum(p.status == PeerStatus.CONNECTED for p in peers),
        "peers": [
            {
                "peer_id": p.peer_id,
                "protocols": ["/mcp+p2p/1.0.0"] if p.status == PeerStatus.CONNECTED else [],
                "status": p.status,
                "last_seen": _iso(p.last_seen),
                "latency_ms": p.rtt_ms,
                "addresses": p.addresses,
                "trusted": p.trusted,
            }
            for p in peers
        ],
    }
