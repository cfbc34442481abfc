"""Celery tasks of jobs, and the worker's own maintenance schedule."""

from __future__ import annotations

import os

from celery import signals

from mcp_platform.celery import app


@app.task(name="jobs.run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self, job_id: str) -> str:
    """Run job `job_id` (a delivery of a job someone else holds is dropped by its claim)."""
    from apps.jobs.execution import run_job as execute

    return execute(job_id=job_id, worker=f"{self.request.hostname} pid {os.getpid()}")


@app.task(name="jobs.maintenance")
def maintenance() -> dict:
    """One maintenance round (for operators who prefer Celery beat over the worker's timer)."""
    from apps.jobs.maintenance import run_round

    return run_round(prune=True)


@signals.worker_process_init.connect
def _die_with_the_worker(sender=None, **kwargs) -> None:
    # A pool process exits when the worker that forked it is killed: no orphaned job processes.
    from mcp_platform.lifeline import watch_parent_if_grandchild

    watch_parent_if_grandchild()


@signals.worker_ready.connect
def _start_maintenance(sender=None, **kwargs) -> None:
    from apps.jobs.maintenance import start_schedule

    start_schedule()


@signals.worker_shutdown.connect
def _stop_maintenance(sender=None, **kwargs) -> None:
    from apps.jobs.maintenance import stop_schedule

    stop_schedule()
