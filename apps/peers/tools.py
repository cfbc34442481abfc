"""The peer tools: peers, bootstrap nodes and calls to a peer's tools. All are `requires_p2p`,
so routing runs them in the Trio runtime, where the libp2p host lives; they reach it through
`apps.peers.node.live_node()`, which the runtime provides when its host is listening (the web
process only registers these tools, it never loads libp2p).
"""

from __future__ import annotations

import time
from typing import Any

import trio
from django.utils import timezone

from apps.access.principals import SCOPE_ADMIN
from apps.peers import selectors, services
from apps.peers.models import Peer
from apps.peers.node import PeerUnreachable, RemoteError, UnknownPeer, live_node
from apps.tools.call_service import ToolResult
from apps.tools.models import Outcome
from apps.tools.registry import ToolContext, tool
from mcp_platform.concurrency import run_blocking

P2P = {"category": "p2p", "requires_p2p": True, "runtime": "trio", "fallback_allowed": False}
READ = {**P2P, "read_only_hint": True}
# Tools that act as the node itself (its connections, its bootstrap list): admin only.
NODE_ADMIN = {**P2P, "required_scope": SCOPE_ADMIN}


def _error(message: str, **structured: Any) -> ToolResult:
    result = ToolResult.error(message)
    result.structured_content = {"status": "error", "error": message, **structured}
    return result


# ---------------------------------------------------------------- peers


@tool(**READ, title="List peers")
async def p2p_peer_list(status: str | None = None) -> dict:
    """Known peers with what was observed (status, RTT, errors) and the admin's intent;
    `connected` is what the host holds right now."""
    node = live_node()
    peers = await run_blocking(selectors.peer_rows, status)
    connected = node.connected_peers()
    for peer in peers:
        peer["connected"] = peer["peer_id"] in connected
    return {"peer_id": node.peer_id, "connected": connected, "peers": peers, "count": len(peers)}


@tool(**READ, title="Peer details")
async def p2p_peer_info(peer_id: str) -> dict:
    """One peer: its row, whether it is connected, and the protocols it announced."""
    node = live_node()
    peer = await run_blocking(lambda: Peer.objects.filter(peer_id=peer_id).first())
    if peer is None:
        raise ValueError(f"unknown peer {peer_id}")
    return {
        **selectors.peer_dict(peer),
        "connected": peer_id in node.connected_peers(),
        "protocols": node.peer_protocols(peer_id),
    }


@tool(**NODE_ADMIN, timeout_seconds=30, title="Connect to a peer")
async def p2p_peer_connect(address: str) -> dict:
    """Dial a peer by full multiaddr (`/ip4/…/tcp/…/p2p/<id>`) or by the id of a known peer.
    A peer an admin disabled is not dialled."""
    node = live_node()
    if "/" in address:
        addr, peer_id = services.split_multiaddr(address)
        addrs = [addr]
    else:
        peer_id, addrs = address, None
    if not await run_blocking(selectors.peer_is_enabled, peer_id):
        raise PermissionError(f"peer {peer_id} is disabled by an admin; it is not dialled")
    seconds = await node.connect(peer_id, addrs)
    known = addrs or node.peer_addresses(peer_id)
    await run_blocking(lambda: services.mark_connected(peer_id=peer_id, addrs=known, inbound=False))
    node.wake()
    return {"peer_id": peer_id, "connected": True, "connect_ms": round(seconds * 1000, 3)}


@tool(**NODE_ADMIN, title="Disconnect a peer")
async def p2p_peer_disconnect(peer_id: str) -> dict:
    """Close the connection to a peer (it may be dialled again if it is a bootstrap node)."""
    was_connected = await live_node().disconnect(peer_id)
    return {"peer_id": peer_id, "was_connected": was_connected}


@tool(**READ, title="Ping a peer")
async def p2p_peer_ping(peer_id: str, count: int = 3) -> dict:
    """Round-trip times to a peer over the libp2p ping protocol, in milliseconds."""
    if not 1 <= count <= 20:
        raise ValueError("count must be within 1..20")
    rtts = await live_node().ping(peer_id, count=count)
    return {
        "peer_id": peer_id,
        "rtt_ms": rtts,
        "min_ms": min(rtts),
        "avg_ms": round(sum(rtts) / len(rtts), 3),
        "max_ms": max(rtts),
    }


@tool(**P2P, timeout_seconds=60, title="Discover peers")
async def p2p_peer_discover() -> dict:
    """Run a discovery round now (bootstrap nodes and known peers: dial, probe) and return the
    peers known afterwards."""
    node = live_node()
    await node.maintain()
    peers = await run_blocking(selectors.peer_rows, None)
    return {"connected": node.connected_peers(), "peers": peers, "count": len(peers)}


# ---------------------------------------------------------------- bootstrap nodes


@tool(**READ, title="List bootstrap nodes")
async def p2p_bootstrap_list() -> dict:
    """The bootstrap nodes this node dials and keeps connected."""
    nodes = await run_blocking(selectors.bootstrap_rows)
    return {"bootstrap_nodes": nodes, "count": len(nodes)}


@tool(**NODE_ADMIN, title="Add a bootstrap node")
async def p2p_bootstrap_add(multiaddr: str, note: str = "") -> dict:
    """Add (or re-enable) a bootstrap node, `/ip4/…/tcp/…/p2p/<id>`; it is dialled at once."""
    created = await run_blocking(
        lambda: services.add_bootstrap_node(multiaddr=multiaddr, note=note)
    )
    node = live_node()
    await node.maintain()
    return {"multiaddr": multiaddr, "created": created, "connected": node.connected_peers()}


@tool(**NODE_ADMIN, title="Remove a bootstrap node")
async def p2p_bootstrap_remove(multiaddr: str) -> dict:
    """Forget a bootstrap node (an open connection stays until it closes)."""
    removed = await run_blocking(lambda: services.remove_bootstrap_node(multiaddr=multiaddr))
    if not removed:
        raise ValueError(f"no bootstrap node {multiaddr}")
    return {"multiaddr": multiaddr, "removed": True}


# ---------------------------------------------------------------- remote tools


def _clamp_timeout(timeout: float) -> float:
    return min(max(float(timeout), 1.0), 120.0)


@tool(**READ, timeout_seconds=130, title="List a peer's tools")
async def p2p_remote_tools_list(
    peer_id: str,
    timeout: float = 30.0,  # noqa: ASYNC109 (a legacy/tool argument)
    ctx: ToolContext | None = None,
) -> dict:
    """The tools a peer offers this node (`tools/list` over `/mcp+p2p/1.0.0`)."""
    return await p2p_remote_request(peer_id, "tools/list", {}, timeout, ctx=ctx)


def _caller_name(ctx: ToolContext | None) -> str:
    principal = ctx.principal if ctx is not None else None
    return principal.name if principal is not None else "platform"


async def p2p_remote_request(
    peer_id: str,
    method: str,
    params: dict[str, Any] | None,
    timeout: float,  # noqa: ASYNC109 (a legacy/tool argument)
    *,
    ctx: ToolContext | None = None,
) -> Any:
    """A JSON-RPC request to a peer; remote and transport failures are error results that
    carry the code (-32001 unauthorized, ...). Each request is recorded as a call we made to
    the peer (its page lists them)."""
    started_at = timezone.now()
    started = time.perf_counter()
    outcome, error = Outcome.SUCCESS, ""
    try:
        result = await live_node().request(peer_id, method, params, timeout=_clamp_timeout(timeout))
    except RemoteError as exc:
        failed = _error(
            f"peer {peer_id} refused {method}: {exc.message} ({exc.code})",
            code=exc.code,
            peer_id=peer_id,
            remote_error={"code": exc.code, "message": exc.message, "data": exc.data},
        )
        outcome, error = Outcome.DENIED if exc.code == -32001 else Outcome.ERROR, failed.text
    except UnknownPeer as exc:
        failed = _error(str(exc), code="unknown_peer", peer_id=peer_id)
        outcome, error = Outcome.NOT_FOUND, str(exc)
    except PeerUnreachable as exc:
        failed = _error(str(exc), code="unreachable", peer_id=peer_id)
        outcome, error = Outcome.UNAVAILABLE, str(exc)
    except trio.TooSlowError:
        failed = _error(f"peer {peer_id} did not answer {method} in time", code="timeout")
        failed.outcome = Outcome.TIMEOUT
        outcome, error = Outcome.TIMEOUT, failed.text
    except ValueError as exc:
        return _error(str(exc), code="unknown_peer", peer_id=peer_id)  # not a peer id: no call
    else:
        failed = None
        if method == "tools/call" and isinstance(result, dict) and result.get("isError"):
            outcome, error = Outcome.ERROR, "the peer's tool reported an error"
    elapsed = time.perf_counter() - started
    services.record_outbound_call(
        peer_id=peer_id,
        principal_name=_caller_name(ctx),
        tool_name=(params or {}).get("name", "") if method == "tools/call" else method,
        request_id=ctx.request_id if ctx is not None else "",
        started_at=started_at,
        seconds=elapsed,
        outcome=outcome,
        error=error,
    )
    if failed is not None:
        return failed
    elapsed_ms = round(elapsed * 1000, 3)
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
    reply = await p2p_remote_request(peer_id, method, params or {}, timeout, ctx=ctx)
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
