"""Periodic maintenance, run by every worker on its own schedule (a thread in the worker's main
process): recover lost jobs and mark stale runtime instances down every few seconds, prune old
call records, finished jobs and consumed broker files every `MCP_PLATFORM_MAINTENANCE_SECONDS`.

Every step is a conditional update or delete, so several workers running it at once is safe.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from apps.audit import services as audit_services
from apps.jobs import services
from apps.jobs.models import FINISHED, Job, JobStatus

logger = logging.getLogger(__name__)

PROCESSED_MESSAGE_SECONDS = 600  # consumed filesystem-broker messages are kept this long

_stop = threading.Event()
_thread: threading.Thread | None = None


def prune_call_records(*, days: int | None = None) -> int:
    """Delete ToolCall rows older than the call retention; returns how many."""
    from apps.tools.models import ToolCall

    days = settings.MCP_PLATFORM_CALL_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ToolCall.objects.filter(started_at__lt=cutoff).delete()
    return deleted


def prune_finished_jobs(*, days: int | None = None) -> int:
    """Delete finished jobs older than the job retention, or past their own TTL (MCP tasks)."""
    days = settings.MCP_PLATFORM_JOB_RETENTION_DAYS if days is None else days
    now = timezone.now()
    finished = Job.objects.filter(status__in=FINISHED)
    deleted, _ = finished.filter(finished_at__lt=now - timedelta(days=days)).delete()
    # TTLs differ per job (MCP tasks ask for one), so they are compared here, a batch a round.
    with_ttl = finished.filter(ttl_seconds__isnull=False).values_list(
        "pk", "created_at", "ttl_seconds"
    )
    expired = [pk for pk, created, ttl in with_ttl[:1000] if created + timedelta(seconds=ttl) < now]
    more, _ = Job.objects.filter(pk__in=expired).delete()
    # A task whose questions were never answered is abandoned after the retention too.
    waiting = Job.objects.filter(status=JobStatus.INPUT_REQUIRED)
    abandoned, _ = waiting.filter(updated_at__lt=now - timedelta(days=days)).delete()
    return deleted + more + abandoned


def mark_stale_runtimes_down(*, stale_seconds: float | None = None) -> int:
    """Mark runtime instances whose heartbeat is older than the threshold as down."""
    from apps.routing.models import RuntimeInstance, RuntimeStatus

    if stale_seconds is None:
        stale_seconds = settings.MCP_PLATFORM_RUNTIME_STALE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=stale_seconds)
    stale = RuntimeInstance.objects.filter(last_heartbeat__lt=cutoff).exclude(
        status=RuntimeStatus.DOWN
    )
    return stale.update(status=RuntimeStatus.DOWN)


def prune_down_runtimes(*, older_than_days: float = 7.0) -> int:
    """Delete the rows of runtime processes long gone (each process writes its own row)."""
    from apps.routing.models import RuntimeInstance, RuntimeStatus

    cutoff = timezone.now() - timedelta(days=older_than_days)
    stale = RuntimeInstance.objects.filter(status=RuntimeStatus.DOWN, last_heartbeat__lt=cutoff)
    deleted, _ = stale.delete()
    return deleted


def prune_broker_files() -> int:
    """Remove consumed messages of the filesystem broker (it keeps them to take them atomically)."""
    if settings.REDIS_URL:
        return 0
    folder = Path(settings.MCP_PLATFORM_BROKER_DIR) / "processed"
    cutoff = time.time() - PROCESSED_MESSAGE_SECONDS
    removed = 0
    for path in folder.glob("*.msg"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another worker pruned it first
            continue
    return removed


def reap_task_leases() -> int:
    from apps.taskqueue.services import reap_expired_leases

    return reap_expired_leases()


def run_round(*, prune: bool) -> dict[str, int]:
    """One maintenance round; returns counts by step."""
    counts = {
        **services.reap_lost_jobs(),
        "republished": services.republish_stale_queued(),
        "runtimes_down": mark_stale_runtimes_down(),
        # Also here, not only in the Trio runtimes: a node whose only runtime died gets its
        # tasks back once the runtime's workers are silent, not when the runtime returns.
        "tasks_reaped": reap_task_leases(),
    }
    if prune:
        counts["calls_pruned"] = prune_call_records()
        counts["jobs_pruned"] = prune_finished_jobs()
        counts["audit_pruned"] = audit_services.prune_expired()
        counts["broker_files_pruned"] = prune_broker_files()
        counts["runtimes_pruned"] = prune_down_runtimes()
    return counts


def _loop() -> None:
    next_prune = time.monotonic()
    while not _stop.wait(settings.MCP_PLATFORM_JOB_REAP_SECONDS):
        prune = time.monotonic() >= next_prune
        try:
            counts = run_round(prune=prune)
            if prune:
                next_prune = time.monotonic() + settings.MCP_PLATFORM_MAINTENANCE_SECONDS
                logger.info("maintenance: %s", counts)
        except Exception:  # the database may be briefly away; the next round retries
            logger.exception("maintenance round failed")
        finally:
            close_old_connections()


def start_schedule() -> None:
    """Start the maintenance thread (once per worker process)."""
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    _stop.clear()
    _thread = threading.Thread(target=_loop, name="jobs-maintenance", daemon=True)
    _thread.start()


def stop_schedule() -> None:
    _stop.set()
