"""The P2P part of the Trio runtime's nursery tree:

    run_p2p
    ├── libp2p host (P2PNode.run)      unless P2P is disabled in the P2P settings
    └── task-queue workers + reaper    tasks for other peers go over the host

The node's peer id and listen addresses go into the runtime's heartbeat; a routing change
(which the reloader hears of at once) makes the node re-read its bootstrap nodes and peers.
"""

from __future__ import annotations

import logging
import os
import time
from functools import partial
from typing import Any

import trio
from django.conf import settings
from django.utils import timezone

from apps.peers import services as peers
from apps.peers.node import P2PUnavailable, PeerUnreachable, RemoteError, live_node
from apps.peers.selectors import load_p2p_config
from apps.taskqueue.models import Task
from apps.taskqueue.principals import runs_as
from apps.taskqueue.workers import (
    WorkerConfig,
    WorkerPool,
    execute_locally,
    result_value,
    run_pool,
)
from apps.tools.models import Outcome
from trio_runtime import heartbeat
from trio_runtime.p2p.identity import load_or_create_identity
from trio_runtime.p2p.node import P2PNode

logger = logging.getLogger(__name__)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


async def execute_task(task: Task) -> tuple[bool, Any]:
    """Run a task here, or on its target peer over `/mcp+p2p/1.0.0` (recorded as a call this
    node made to the peer, which the peer's page lists)."""
    if not task.target_peer:
        return await execute_locally(task)
    # The peer trusts this node, not the submitter: the submitter's own rights (denied tools
    # and toolsets included) are checked here, as the call path checks a local task's.
    principal = runs_as(task)
    if not principal.may_call(task.tool_name):
        return False, f"Caller '{principal.name}' may not call tool '{task.tool_name}'"
    try:
        node = live_node()
    except P2PUnavailable as exc:
        return False, str(exc)
    started_at, started = timezone.now(), time.perf_counter()
    try:
        result = await node.call_tool(
            task.target_peer, task.tool_name, task.arguments, timeout=task.lease_seconds * 10
        )
    except (RemoteError, PeerUnreachable, ValueError, trio.TooSlowError) as exc:
        ok, value = False, f"on peer {task.target_peer}: {type(exc).__name__}: {exc}"
        outcome = Outcome.TIMEOUT if isinstance(exc, trio.TooSlowError) else Outcome.ERROR
    else:
        if result.get("isError"):
            ok, value = False, f"on peer {task.target_peer}: {result_value(result)}"
        else:
            ok, value = True, result_value(result)
        outcome = Outcome.SUCCESS if ok else Outcome.ERROR
    await trio.to_thread.run_sync(
        partial(
            peers.record_outbound_call,
            peer_id=task.target_peer,
            principal_name=principal.name,
            tool_name=task.tool_name,
            request_id=f"task-{task.pk}-{task.fencing_token}",
            started_at=started_at,
            seconds=time.perf_counter() - started,
            outcome=outcome,
            error="" if ok else str(value),
        )
    )
    return ok, value


async def run_p2p(state: Any, reloader: Any) -> None:
    """The libp2p host and the task-queue workers, until cancelled."""
    config = await trio.to_thread.run_sync(load_p2p_config)
    node: P2PNode | None = None
    async with trio.open_nursery() as nursery:
        if config.enabled:
            key_pair = await trio.to_thread.run_sync(load_or_create_identity, settings.DATA_DIR)
            node = P2PNode(
                key_pair=key_pair,
                listen_addr=settings.MCP_PLATFORM_P2P_LISTEN,
                config=config,
                probe_seconds=_env_float("MCP_PLATFORM_P2P_PROBE_SECONDS", 5.0),
            )
            try:
                await nursery.start(node.run)
            except Exception:
                logger.exception("the libp2p host failed to start; P2P is off on this node")
                node = None
            else:
                state.peer_id = node.peer_id
                state.listen_addrs = node.info.listen_addrs if node.info else []
                # The web side learns the peer id from the heartbeat: now, not a beat later.
                await heartbeat.write_once(state)
                reloader.on_change(lambda table: node.wake())
        else:
            logger.info("P2P is disabled in the P2P settings: no libp2p host")
        pool = WorkerPool(
            WorkerConfig(
                prefix="trio",
                concurrency=int(os.environ.get("MCP_PLATFORM_TASKQUEUE_WORKERS", "16")),
                queues=tuple(os.environ.get("MCP_PLATFORM_TASKQUEUE_QUEUES", "default").split(",")),
                reap_seconds=_env_float("MCP_PLATFORM_TASKQUEUE_REAP_SECONDS", 1.0),
                remote=node is not None,
                peer_id=lambda: node.peer_id if node else "",
                # Draining waits for running tasks as for bridged calls.
                stopping=lambda: state.status in ("draining", "down"),
                track=state.track_call,
            ),
            execute_task,
        )
        nursery.start_soon(run_pool, pool)
