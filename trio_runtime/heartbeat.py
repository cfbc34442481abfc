"""The heartbeat writer: the runtime's `RuntimeInstance` row, refreshed every interval."""

from __future__ import annotations

import logging

import trio
from django.db import close_old_connections

from trio_runtime.state import RuntimeState

logger = logging.getLogger(__name__)


def _write(instance_id: str, fields: dict) -> None:
    from apps.routing.services import record_heartbeat

    close_old_connections()  # a connection broken by a database restart is replaced
    record_heartbeat(instance_id=instance_id, **fields)


async def write_once(state: RuntimeState) -> None:
    """Write the heartbeat now; a failure is logged (the next beat retries). One write at a
    time, each of the state as it is when its turn comes: the beats of several tasks (the
    loop, "up", the P2P host's start) never land out of order."""
    async with state.heartbeat_writing:
        try:
            await trio.to_thread.run_sync(_write, state.instance_id, state.heartbeat_fields())
        except Exception:
            logger.exception("heartbeat write failed")


def _retire(state: RuntimeState) -> int:
    from apps.routing.services import retire_runtime_instances
    from apps.taskqueue.services import retire_workers

    close_old_connections()
    pids = retire_runtime_instances(address=state.address, current=state.instance_id)
    # Their task-queue workers are gone too: their tasks need not wait for a stale heartbeat.
    retire_workers(hostname=state.hostname, pids=pids, started_before=state.started_at)
    return len(pids)


async def retire_predecessors(state: RuntimeState) -> None:
    """Once this process holds its port: the rows of earlier processes on it are marked down
    (a hard-killed runtime's row would otherwise say "up" until it went stale), and so are
    their task-queue workers."""
    try:
        retired = await trio.to_thread.run_sync(_retire, state)
    except Exception:
        logger.exception("marking earlier runtime rows down failed")
        return
    if retired:
        logger.info("marked %d earlier runtime row(s) at %s down", retired, state.address)


async def run_heartbeat(state: RuntimeState, *, interval: float) -> None:
    while True:
        await write_once(state)
        await trio.sleep(interval)
