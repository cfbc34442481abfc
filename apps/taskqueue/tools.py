"""The P2P tools: the node and its peers, bootstrap nodes, remote tools, the task queue and
workflows. All are `requires_p2p`, so routing runs them in the Trio runtime, where the libp2p
host and the workers live; the host is imported there, at call time (the web process only
registers these tools, it never loads libp2p).
"""

from __future__ import annotations

import time
from typing import Any

import pydantic
import trio

from apps.access.principals import SCOPE_ADMIN
from apps.taskqueue import selectors, services, workflows
from apps.tools.call_service import ToolResult
from apps.tools.models import Outcome
from apps.tools.registry import ToolContext, tool
from mcp_platform.concurrency import run_blocking

P2P = {"category": "p2p", "requires_p2p": True, "runtime": "trio", "fallback_allowed": False}
READ = {**P2P, "read_only_hint": True}
# Tools that act as the node itself (its queue, its connections, its bootstrap list): admin only.
NODE_ADMIN = {**P2P, "required_scope": SCOPE_ADMIN}
WAIT_POLL_SECONDS = 0.1


def _node():
    from trio_runtime.p2p.node import current_node

    return current_node()


def _nudge_workers() -> None:
    from trio_runtime.p2p.workers import current_pool

    pool = current_pool()
    if pool is not None:
        pool.nudge()


def _owner(ctx: ToolContext | None) -> str | None:
    """Whose tasks and workflows the caller may see and act on: its own (by principal name),
    or every one (None) for an admin and for the platform's own calls."""
    principal = ctx.principal if ctx is not None else None
    if principal is None or principal.has_scope(SCOPE_ADMIN):
        return None
    return principal.name


def _error(message: str, **structured: Any) -> ToolResult:
    result = ToolResult.error(message)
    result.structured_content = {"status": "error", "error": message, **structured}
    return result


# ---------------------------------------------------------------- node and peers


@tool(**READ, title="P2P node status")
async def p2p_node_status() -> dict:
    """This node's libp2p identity, listen addresses, connected peers and queue summary."""
    status = _node().status()
    status["taskqueue"] = await run_blocking(selectors.queue_stats)
    return status


def _peer_rows(status: str | None = None) -> list[dict[str, Any]]:
    from apps.peers.models import Peer

    peers = Peer.objects.all().order_by("peer_id")
    if status:
        peers = peers.filter(status=status)
    return [_peer_dict(p) for p in peers[:500]]


def _peer_dict(peer: Any) -> dict[str, Any]:
    return {
        "peer_id": peer.peer_id,
        "addresses": peer.addresses,
        "source": peer.source,
        "enabled": peer.enabled,
        "trusted": peer.trusted,
        "status": peer.status,
        "last_seen": peer.last_seen.isoformat() if peer.last_seen else None,
        "rtt_ms": peer.rtt_ms,
        "last_error": peer.last_error or None,
        "failure_count": peer.failure_count,
        "next_retry_at": peer.next_retry_at.isoformat() if peer.next_retry_at else None,
        "agent_version": peer.agent_version or None,
        "tools": peer.tools,
    }


@tool(**READ, title="List peers")
async def p2p_peer_list(status: str | None = None) -> dict:
    """Known peers with what was observed (status, RTT, errors) and the admin's intent;
    `connected` is what the host holds right now."""
    node = _node()
    peers = await run_blocking(_peer_rows, status)
    connected = node.connected_peers()
    for peer in peers:
        peer["connected"] = peer["peer_id"] in connected
    return {"peer_id": node.peer_id, "connected": connected, "peers": peers, "count": len(peers)}


@tool(**READ, title="Peer details")
async def p2p_peer_info(peer_id: str) -> dict:
    """One peer: its row, whether it is connected, and the protocols it announced."""
    from apps.peers.models import Peer

    node = _node()
    peer = await run_blocking(lambda: Peer.objects.filter(peer_id=peer_id).first())
    if peer is None:
        raise ValueError(f"unknown peer {peer_id}")
    return {
        **_peer_dict(peer),
        "connected": peer_id in node.connected_peers(),
        "protocols": node.peer_protocols(peer_id),
    }


@tool(**NODE_ADMIN, timeout_seconds=30, title="Connect to a peer")
async def p2p_peer_connect(address: str) -> dict:
    """Dial a peer by full multiaddr (`/ip4/…/tcp/…/p2p/<id>`) or by the id of a known peer.
    A peer an admin disabled is not dialled."""
    from trio_runtime.p2p import observations

    node = _node()
    if "/" in address:
        addr, peer_id = observations.split_multiaddr(address)
        addrs = [addr]
    else:
        peer_id, addrs = address, None
    if not await run_blocking(observations.peer_is_enabled, peer_id):
        raise PermissionError(f"peer {peer_id} is disabled by an admin; it is not dialled")
    seconds = await node.connect(peer_id, addrs)
    await run_blocking(
        observations.mark_connected, peer_id, addrs or node._peer_addrs(peer_id), inbound=False
    )
    node.wake()
    return {"peer_id": peer_id, "connected": True, "connect_ms": round(seconds * 1000, 3)}


@tool(**NODE_ADMIN, title="Disconnect a peer")
async def p2p_peer_disconnect(peer_id: str) -> dict:
    """Close the connection to a peer (it may be dialled again if it is a bootstrap node)."""
    was_connected = await _node().disconnect(peer_id)
    return {"peer_id": peer_id, "was_connected": was_connected}


@tool(**READ, title="Ping a peer")
async def p2p_peer_ping(peer_id: str, count: int = 3) -> dict:
    """Round-trip times to a peer over the libp2p ping protocol, in milliseconds."""
    if not 1 <= count <= 20:
        raise ValueError("count must be within 1..20")
    rtts = await _node().ping(peer_id, count=count)
    return {
        "peer_id": peer_id,
        "rtt_ms": rtts,
        "min_ms": min(rtts),
        "avg_ms": round(sum(rtts) / len(rtts), 3),
        "max_ms": max(rtts),
    }


@tool(**P2P, timeout_seconds=60, title="Discover peers")
async def p2p_peer_discover() -> dict:
    """Run a discovery round now (bootstrap nodes, known and mDNS peers: dial, probe) and
    return the peers known afterwards."""
    node = _node()
    await node.maintain()
    peers = await run_blocking(_peer_rows, None)
    return {"connected": node.connected_peers(), "peers": peers, "count": len(peers)}


def _bootstrap_rows() -> list[dict[str, Any]]:
    from apps.peers.models import BootstrapNode

    return [
        {"multiaddr": b.multiaddr, "enabled": b.enabled, "note": b.note}
        for b in BootstrapNode.objects.order_by("multiaddr")
    ]


@tool(**READ, title="List bootstrap nodes")
async def p2p_bootstrap_list() -> dict:
    """The bootstrap nodes this node dials and keeps connected."""
    nodes = await run_blocking(_bootstrap_rows)
    return {"bootstrap_nodes": nodes, "count": len(nodes)}


def _add_bootstrap(multiaddr: str, note: str) -> bool:
    from apps.peers.models import BootstrapNode
    from trio_runtime.p2p.observations import split_multiaddr

    split_multiaddr(multiaddr)
    _, created = BootstrapNode.objects.update_or_create(
        multiaddr=multiaddr, defaults={"enabled": True, **({"note": note} if note else {})}
    )
    return created


@tool(**NODE_ADMIN, title="Add a bootstrap node")
async def p2p_bootstrap_add(multiaddr: str, note: str = "") -> dict:
    """Add (or re-enable) a bootstrap node, `/ip4/…/tcp/…/p2p/<id>`; it is dialled at once."""
    created = await run_blocking(_add_bootstrap, multiaddr, note)
    node = _node()
    await node.maintain()
    return {"multiaddr": multiaddr, "created": created, "connected": node.connected_peers()}


def _remove_bootstrap(multiaddr: str) -> int:
    from apps.peers.models import BootstrapNode

    deleted, _ = BootstrapNode.objects.filter(multiaddr=multiaddr).delete()
    return deleted


@tool(**NODE_ADMIN, title="Remove a bootstrap node")
async def p2p_bootstrap_remove(multiaddr: str) -> dict:
    """Forget a bootstrap node (an open connection stays until it closes)."""
    removed = await run_blocking(_remove_bootstrap, multiaddr)
    if not removed:
        raise ValueError(f"no bootstrap node {multiaddr}")
    return {"multiaddr": multiaddr, "removed": True}


# ---------------------------------------------------------------- remote tools


def _clamp_timeout(timeout: float) -> float:
    return min(max(float(timeout), 1.0), 120.0)


@tool(**READ, timeout_seconds=130, title="List a peer's tools")
async def p2p_remote_tools_list(peer_id: str, timeout: float = 30.0) -> dict:  # noqa: ASYNC109 (a legacy/tool argument)
    """The tools a peer offers this node (`tools/list` over `/mcp+p2p/1.0.0`)."""
    return await p2p_remote_request(peer_id, "tools/list", {}, timeout)


async def p2p_remote_request(
    peer_id: str,
    method: str,
    params: dict[str, Any] | None,
    timeout: float,  # noqa: ASYNC109 (a legacy/tool argument)
) -> Any:
    """A JSON-RPC request to a peer; remote and transport failures are error results that
    carry the code (-32001 unauthorized, ...)."""
    from trio_runtime.p2p.node import PeerUnreachable, RemoteError, UnknownPeer

    node = _node()
    started = time.perf_counter()
    try:
        result = await node.request(peer_id, method, params, timeout=_clamp_timeout(timeout))
    except RemoteError as exc:
        return _error(
            f"peer {peer_id} refused {method}: {exc.message} ({exc.code})",
            code=exc.code,
            peer_id=peer_id,
            remote_error={"code": exc.code, "message": exc.message, "data": exc.data},
        )
    except UnknownPeer as exc:
        return _error(str(exc), code="unknown_peer", peer_id=peer_id)
    except PeerUnreachable as exc:
        return _error(str(exc), code="unreachable", peer_id=peer_id)
    except trio.TooSlowError:
        failed = _error(f"peer {peer_id} did not answer {method} in time", code="timeout")
        failed.outcome = Outcome.TIMEOUT
        return failed
    except ValueError as exc:
        return _error(str(exc), code="unknown_peer", peer_id=peer_id)
    elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
    if method == "tools/list" and isinstance(result, dict):
        return {"peer_id": peer_id, "tools": result.get("tools", []), "elapsed_ms": elapsed_ms}
    return {"peer_id": peer_id, "method": method, "result": result, "elapsed_ms": elapsed_ms}


@tool(**P2P, timeout_seconds=130, title="Call a tool on a peer")
async def p2p_remote_call(
    peer_id: str,
    tool: str = "",
    arguments: dict[str, Any] | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109 (a legacy/tool argument)
    method: str = "tools/call",
    params: dict[str, Any] | None = None,
    ctx: ToolContext | None = None,
) -> dict:
    """Call `tool` with `arguments` on a peer over `/mcp+p2p/1.0.0` and return its MCP result
    (`isError` as the peer reported it). `method`/`params` send another request (`ping`,
    `tools/list`) as the legacy `/mcp/p2p/call` did. The caller must itself be allowed to call
    `tool`: the peer trusts this node, not the caller."""
    if method == "tools/call":
        if not tool and params:
            tool, arguments = params.get("name", ""), params.get("arguments")
        if not tool:
            raise ValueError("name the tool to call on the peer")
        if ctx is not None:
            ctx.require_call_permission(tool)
        params = {"name": tool, "arguments": arguments or {}}
    reply = await p2p_remote_request(peer_id, method, params or {}, timeout)
    if isinstance(reply, ToolResult) or method != "tools/call":
        return reply
    remote = reply["result"] or {}
    return ToolResult(
        content=remote.get("content", []),
        structured_content={
            "peer_id": peer_id,
            "tool": tool,
            "result": remote,
            "elapsed_ms": reply["elapsed_ms"],
        },
        is_error=bool(remote.get("isError")),
    )


# ---------------------------------------------------------------- task queue


class QueuedCall(pydantic.BaseModel):
    """One task of a batch submission: the single form's fields, for one tool call."""

    model_config = pydantic.ConfigDict(extra="forbid")

    tool: str
    arguments: dict[str, Any] | None = None
    priority: int = 5
    peer_id: str | None = None
    idempotency_key: str | None = None
    max_attempts: int = 3
    backoff_seconds: float = 1.0
    lease_seconds: float = 30.0
    queue: str = "default"


@tool(**P2P, title="Submit a task")
async def p2p_taskqueue_submit(
    tool: str | None = None,
    arguments: dict[str, Any] | None = None,
    priority: int = 5,
    peer_id: str | None = None,
    idempotency_key: str | None = None,
    max_attempts: int = 3,
    backoff_seconds: float = 1.0,
    lease_seconds: float = 30.0,
    queue: str = "default",
    tasks: list[QueuedCall] | None = None,
    ctx: ToolContext | None = None,
) -> dict | ToolResult:
    """Queue a tool call, durably. `peer_id` runs it on that peer over P2P; the same
    `idempotency_key` returns the task it first created. Higher `priority` (0-10) runs first;
    a failing task is retried with backoff and dead-lettered after `max_attempts`. The caller
    must itself be allowed to call `tool`. Or, instead of `tool`, `tasks`: a list of up to 1000
    such calls (each with its own fields), queued all or none in one transaction; the reply's
    `task_ids` are in the order given."""
    if tasks is not None:
        if tool is not None:
            return _error("give either `tool` (one task) or `tasks` (a batch), not both")
        return await _submit_batch(tasks, ctx)
    if tool is None:
        return _error("`tool` is required (or `tasks`, a list of calls)")
    if ctx is not None:
        ctx.require_call_permission(tool)
    submitter = ctx.principal if ctx is not None else None
    task, created = await run_blocking(
        lambda: services.submit_task(
            tool=tool,
            arguments=arguments,
            priority=priority,
            target_peer=peer_id or "",
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            lease_seconds=lease_seconds,
            queue=queue,
            submitted_by="p2p_taskqueue_submit",
            submitter=submitter,
        )
    )
    if created:
        _nudge_workers()
    return {"created": created, **selectors.task_dict(task)}


async def _submit_batch(calls: list[QueuedCall], ctx: ToolContext | None) -> dict:
    if ctx is not None:
        for name in dict.fromkeys(call.tool for call in calls):
            ctx.require_call_permission(name)
    submissions = []
    for call in calls:
        fields = call.model_dump()
        fields["target_peer"] = fields.pop("peer_id") or ""
        submissions.append(fields)
    placed = await run_blocking(
        lambda: services.submit_tasks(
            tasks=submissions,
            submitted_by="p2p_taskqueue_submit",
            submitter=ctx.principal if ctx is not None else None,
        )
    )
    created = [was_created for _, was_created in placed]
    if any(created):
        _nudge_workers()
    # Ids and whether each was new, not every task's full row: a batch of 1,000 stays small.
    return {
        "count": len(placed),
        "created": created,
        "task_ids": [str(task.id) for task, _ in placed],
    }


@tool(**READ, title="Get a task")
async def p2p_taskqueue_get(task_id: str, ctx: ToolContext | None = None) -> dict:
    """A task with its result or error, and every attempt (worker, fencing token, outcome).
    A caller without `admin` sees only the tasks it queued."""
    owner = _owner(ctx)
    return await run_blocking(
        lambda: selectors.task_dict(services.get_task(task_id, owner=owner), attempts=True)
    )


@tool(**READ, title="List tasks")
async def p2p_taskqueue_list(
    status: str | None = None, limit: int = 50, ctx: ToolContext | None = None
) -> dict:
    """Tasks, newest first; `status` is queued, running, succeeded, dead or cancelled.
    A caller without `admin` sees only the tasks it queued."""
    tasks = await run_blocking(
        lambda: selectors.list_tasks(status=status, limit=limit, owner=_owner(ctx))
    )
    return {"tasks": tasks, "count": len(tasks)}


@tool(**P2P, title="Cancel a task")
async def p2p_taskqueue_cancel(task_id: str, ctx: ToolContext | None = None) -> dict:
    """Cancel a queued or running task; a running worker's late result is then rejected."""
    owner = _owner(ctx)
    task = await run_blocking(lambda: services.cancel_task(task_id=task_id, owner=owner))
    return selectors.task_dict(task)


@tool(**READ, timeout_seconds=610, title="Wait for a task")
async def p2p_taskqueue_wait(
    task_id: str,
    timeout: float = 30.0,  # noqa: ASYNC109 (a legacy/tool argument)
    ctx: ToolContext | None = None,
) -> dict:
    """Wait until a task is finished (succeeded, dead or cancelled) or `timeout` seconds pass;
    returns the task and whether it finished."""
    timeout = min(max(timeout, 0.0), 600.0)
    owner = _owner(ctx)
    with trio.move_on_after(timeout):
        while True:
            task = await run_blocking(lambda: services.get_task(task_id, owner=owner))
            if task.is_terminal:
                return {"finished": True, **selectors.task_dict(task, attempts=True)}
            await trio.sleep(WAIT_POLL_SECONDS)
    task = await run_blocking(lambda: services.get_task(task_id, owner=owner))
    return {"finished": task.is_terminal, **selectors.task_dict(task, attempts=True)}


@tool(**P2P, title="Retry a task")
async def p2p_taskqueue_retry(task_id: str, ctx: ToolContext | None = None) -> dict:
    """Queue a dead-lettered or cancelled task again with a fresh attempt budget."""
    owner = _owner(ctx)
    task = await run_blocking(lambda: services.retry_task(task_id=task_id, owner=owner))
    _nudge_workers()
    return selectors.task_dict(task)


@tool(**READ, title="Task queue statistics")
async def p2p_taskqueue_stats() -> dict:
    """Tasks by status, the dead letter count, recent throughput, live workers."""
    return await run_blocking(selectors.queue_stats)


@tool(**NODE_ADMIN, title="Pause the task queue")
async def p2p_taskqueue_pause() -> dict:
    """Stop handing out tasks (running ones finish)."""
    await run_blocking(lambda: services.set_paused(paused=True))
    return {"paused": True}


@tool(**NODE_ADMIN, title="Resume the task queue")
async def p2p_taskqueue_resume() -> dict:
    """Hand out tasks again."""
    await run_blocking(lambda: services.set_paused(paused=False))
    _nudge_workers()
    return {"paused": False}


@tool(**READ, title="List workers")
async def p2p_worker_list() -> dict:
    """This node's task-queue workers (Trio runtime and standalone), alive or not."""
    workers = await run_blocking(selectors.list_workers)
    return {"workers": workers, "count": len(workers)}


# ---------------------------------------------------------------- workflows


@tool(**P2P, title="Submit a workflow")
async def p2p_workflow_submit(
    steps: list[dict[str, Any]], name: str = "", ctx: ToolContext | None = None
) -> dict:
    """Run a DAG of steps. Each step: `id`, `tool`, `arguments` (a string
    `{{steps.<id>.result}}` or `{{steps.<id>.result.<field>}}` is replaced by that step's
    result), `depends_on` (step ids), optional `peer_id` to run it on, `max_attempts`. A failed
    step cancels the steps that depend on it. The caller must be allowed to call every step's
    tool."""
    if ctx is not None:
        for step in steps:
            if isinstance(step, dict) and isinstance(step.get("tool"), str):
                ctx.require_call_permission(step["tool"])
    submitter = ctx.principal if ctx is not None else None
    workflow = await run_blocking(
        lambda: workflows.submit_workflow(
            steps=steps, name=name, submitted_by="p2p", submitter=submitter
        )
    )
    _nudge_workers()
    return await run_blocking(selectors.workflow_dict, workflow)


def _workflow(workflow_id: str, ctx: ToolContext | None) -> Any:
    return workflows.get_workflow(workflow_id, owner=_owner(ctx))


@tool(**READ, title="Workflow status")
async def p2p_workflow_status(workflow_id: str, ctx: ToolContext | None = None) -> dict:
    """A workflow and each step's status, task, result or error (the caller's own workflows
    only, unless it has `admin`)."""
    return await run_blocking(lambda: selectors.workflow_dict(_workflow(workflow_id, ctx)))


@tool(**READ, title="List workflows")
async def p2p_workflow_list(
    status: str | None = None, limit: int = 50, ctx: ToolContext | None = None
) -> dict:
    """Workflows, newest first (the caller's own only, unless it has `admin`)."""
    items = await run_blocking(
        lambda: selectors.list_workflows(status=status, limit=limit, owner=_owner(ctx))
    )
    return {"workflows": items, "count": len(items)}


@tool(**P2P, title="Cancel a workflow")
async def p2p_workflow_cancel(workflow_id: str, ctx: ToolContext | None = None) -> dict:
    """Cancel a running workflow: its unfinished steps and their tasks."""
    owner = _owner(ctx)
    workflow = await run_blocking(
        lambda: workflows.cancel_workflow(workflow_id=workflow_id, owner=owner)
    )
    return await run_blocking(selectors.workflow_dict, workflow)


@tool(**READ, title="Workflow results")
async def p2p_workflow_result(workflow_id: str, ctx: ToolContext | None = None) -> dict:
    """The results of a workflow's steps by step id (final once `status` is succeeded)."""

    def read() -> dict:
        data = selectors.workflow_dict(_workflow(workflow_id, ctx))
        return {
            "workflow_id": data["workflow_id"],
            "status": data["status"],
            "finished": data["status"] != "running",
            "results": {s["id"]: s["result"] for s in data["steps"]},
            "errors": {s["id"]: s["error"] for s in data["steps"] if s["error"]},
        }

    return await run_blocking(read)


@tool(**READ, title="Workflow dependencies")
async def p2p_workflow_dependencies(workflow_id: str, ctx: ToolContext | None = None) -> dict:
    """A workflow's DAG: each step's dependencies and dependents, roots and leaves."""
    return await run_blocking(lambda: selectors.workflow_dependencies(_workflow(workflow_id, ctx)))
