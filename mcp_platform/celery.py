"""The Celery app behind jobs, configured from the environment.

With REDIS_URL, Redis is the broker (priorities honoured, messages acknowledged late). On the
embedded default the broker is kombu's filesystem transport in the data directory, with atomic
sends (`file_broker`): no service to run, and every process of the node (web, workers) shares
it through the disk.
Run a worker with `celery -A mcp_platform worker` (runplatform starts one).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from celery import Celery

from mcp_platform import file_broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")

JOB_QUEUE_PREFIX = "mcp_platform.jobs"
MAX_PRIORITY = 10  # tool priorities are 0-10, higher first


def broker_settings(*, redis_url: str, broker_dir: Path) -> dict[str, Any]:
    """Broker URL and transport options for Redis, or for the filesystem transport."""
    if redis_url:
        return {
            "broker_url": redis_url,
            "broker_transport_options": {
                # Redis runs lower numbers first; `job_priority` maps tool priority onto it.
                "queue_order_strategy": "priority",
                "priority_steps": list(range(MAX_PRIORITY + 1)),
                "sep": ":",
                # A message unacknowledged this long (its worker vanished) is delivered again;
                # the job's own lease and reaper usually recover the job long before.
                "visibility_timeout": 3600,
            },
        }
    queue, processed, control = (broker_dir / name for name in ("queue", "processed", "control"))
    for folder in (queue, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": f"{file_broker.ALIAS}://",
        "broker_transport_options": {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            # Consumers take a message by renaming it into this folder: atomic only on the same
            # file system, so it lives beside the queue (maintenance prunes it).
            "store_processed": True,
            "processed_folder": str(processed),
            "polling_interval": 0.1,
            # The exchange table; kombu's default is ./control in the working directory.
            "control_folder": str(control),
        },
    }


def job_priority(tool_priority: int) -> int:
    """The broker priority for a tool priority (0-10, higher first)."""
    return MAX_PRIORITY - max(0, min(MAX_PRIORITY, tool_priority))


def job_queue(database: dict[str, Any]) -> str:
    """The jobs queue, named for the database the jobs live in: platforms sharing one Redis
    (or tests, or staging beside production) never take each other's jobs."""
    identity = f"{database.get('ENGINE')}|{database.get('NAME')}"
    return f"{JOB_QUEUE_PREFIX}.{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def make_app() -> Celery:
    from django.conf import settings

    celery_app = Celery("mcp_platform")
    celery_app.conf.update(
        **broker_settings(
            redis_url=settings.REDIS_URL, broker_dir=Path(settings.MCP_PLATFORM_BROKER_DIR)
        ),
        imports=["apps.jobs.tasks"],
        task_default_queue=job_queue(settings.DATABASES["default"]),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # outcomes live on the Job row
        # A task is acknowledged only after it ran, and a worker process that died mid-task
        # puts its message back: the job's claim and fence decide whether it may run again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
        timezone="UTC",
    )
    return celery_app


app = make_app()
