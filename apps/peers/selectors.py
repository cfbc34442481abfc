"""Reads behind the status pages: peers (filtered, sorted, paged), one peer's history, the
runtimes with their call statistics, and the cheap change markers the live pages poll."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import close_old_connections
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from apps.peers.models import BootstrapNode, P2PSettings, Peer, PeerRttSample, PeerStatus
from apps.peers.services import INBOUND_PREFIX, OUTBOUND_MARK, RTT_HISTORY
from apps.routing import selectors as routing
from apps.routing.models import RuntimeInstance, RuntimeStatus
from apps.tools.models import Outcome, ToolCall

PEERS_PER_PAGE = 50
DISABLED = "disabled"  # shown instead of the observed status when an admin disabled the peer
STATUS_FILTERS = (
    PeerStatus.CONNECTED,
    PeerStatus.REACHABLE,
    PeerStatus.UNREACHABLE,
    PeerStatus.UNKNOWN,
    DISABLED,
)
# Sort key → ordering; a `-` prefix on the key sorts descending. Ties break on peer_id.
PEER_SORTS = {
    "peer_id": ("peer_id",),
    "status": ("status", "peer_id"),
    "rtt": ("rtt_ms", "peer_id"),
    "last_seen": ("last_seen", "peer_id"),
    "source": ("source", "peer_id"),
    "trusted": ("trusted", "peer_id"),
}
STATS_WINDOW = timedelta(hours=1)
LATENCY_SAMPLE = 2000  # most recent calls per runtime that p50/p99 are computed over


def display_status(peer: Peer) -> str:
    """What the badge says: the admin's `disabled` wins over the observed status."""
    return peer.status if peer.enabled else DISABLED


def peers_filtered(*, status: str = "", search: str = "", sort: str = "peer_id") -> QuerySet[Peer]:
    """Peers matching a status filter (one of STATUS_FILTERS) and an id search, sorted."""
    peers = Peer.objects.all()
    if status == DISABLED:
        peers = peers.filter(enabled=False)
    elif status in PeerStatus.values:
        peers = peers.filter(enabled=True, status=status)
    if search:
        peers = peers.filter(peer_id__icontains=search.strip())
    key = sort.removeprefix("-")
    fields = PEER_SORTS.get(key, PEER_SORTS["peer_id"])
    if sort.startswith("-"):
        fields = tuple(f"-{f}" for f in fields)
    return peers.order_by(*fields)


def peer_page(
    *, status: str = "", search: str = "", sort: str = "peer_id", page: int | str = 1
) -> Page:
    """One page of peers: two queries (count, rows) however many peers exist."""
    peers = peers_filtered(status=status, search=search, sort=sort).defer("note", "agent_version")
    return Paginator(peers, PEERS_PER_PAGE).get_page(page)


def peer_status_counts() -> dict[str, int]:
    """How many peers per badge, plus `all` (one query)."""
    enabled = Q(enabled=True)
    counts = Peer.objects.aggregate(
        all=Count("id"),
        disabled=Count("id", filter=Q(enabled=False)),
        **{s: Count("id", filter=enabled & Q(status=s)) for s in PeerStatus.values},
    )
    return counts


def peer_by_id(peer_id: str) -> Peer | None:
    return Peer.objects.filter(peer_id=peer_id).first()


def rtt_history(peer: Peer, *, now: datetime | None = None) -> list[tuple[datetime, float]]:
    """(measured_at, rtt_ms) over the last hour, oldest first."""
    since = (now or timezone.now()) - RTT_HISTORY
    return list(
        PeerRttSample.objects.filter(peer=peer, measured_at__gte=since)
        .order_by("measured_at")
        .values_list("measured_at", "rtt_ms")
    )


def peer_calls(peer_id: str) -> QuerySet[ToolCall]:
    """Tool calls the peer made to us (`peer:<id>`) or we made to it (`...->peer:<id>`)."""
    return ToolCall.objects.filter(
        Q(caller=f"{INBOUND_PREFIX}{peer_id}") | Q(caller__endswith=f"{OUTBOUND_MARK}{peer_id}")
    )


def recent_peer_calls(peer_id: str, *, limit: int = 20) -> list[ToolCall]:
    return list(peer_calls(peer_id).order_by("-started_at")[:limit])


def recent_peer_errors(peer_id: str, *, limit: int = 10) -> list[ToolCall]:
    return list(
        peer_calls(peer_id).exclude(outcome=Outcome.SUCCESS).order_by("-started_at")[:limit]
    )


def is_direction_inbound(call: ToolCall) -> bool:
    return call.caller.startswith(INBOUND_PREFIX)


# --- runtimes ---------------------------------------------------------------------------------


@dataclass
class RuntimeStats:
    """Calls through one runtime over STATS_WINDOW, from the call log."""

    calls: int = 0
    errors: int = 0
    fallbacks: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass
class RuntimeView:
    """One row of /runtimes/: the web process serving the page, or a Trio runtime instance."""

    kind: str  # asyncio | trio
    name: str
    up: bool
    pid: int
    host: str
    port: int | None
    started_at: datetime | None
    routing_version: int | None
    status: str
    stats: RuntimeStats
    calls_since_start: int | None = None
    errors_since_start: int | None = None
    last_heartbeat: datetime | None = None
    peer_id: str = ""
    listen_addrs: list[str] = field(default_factory=list)
    instance_id: str = ""


def runtime_stats(*, now: datetime | None = None) -> dict[str, RuntimeStats]:
    """Calls, errors, fallbacks and latency percentiles per runtime over the last hour."""
    since = (now or timezone.now()) - STATS_WINDOW
    recent = ToolCall.objects.filter(started_at__gte=since).exclude(runtime="")
    stats: dict[str, RuntimeStats] = {}
    for row in recent.values("runtime").annotate(
        calls=Count("id"),
        errors=Count("id", filter=~Q(outcome=Outcome.SUCCESS)),
        fallbacks=Count("id", filter=Q(fallback=True)),
    ):
        stats[row["runtime"]] = RuntimeStats(row["calls"], row["errors"], row["fallbacks"])
    for runtime, entry in stats.items():
        durations = sorted(
            recent.filter(runtime=runtime)
            .order_by("-started_at")
            .values_list("duration_ms", flat=True)[:LATENCY_SAMPLE]
        )
        entry.p50_ms = percentile(durations, 50)
        entry.p99_ms = percentile(durations, 99)
    return stats


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def web_runtime(stats: dict[str, RuntimeStats]) -> RuntimeView:
    """The web process serving this request (asyncio runtime)."""
    from django.conf import settings

    from mcp_platform import health

    return RuntimeView(
        kind="asyncio",
        name="web (asyncio)",
        up=True,
        pid=os.getpid(),
        host=settings.MCP_PLATFORM_HOST,
        port=settings.MCP_PLATFORM_WEB_PORT,
        started_at=datetime.fromtimestamp(health.STARTED, tz=timezone.get_current_timezone()),
        routing_version=_web_loaded_version(),
        status=RuntimeStatus.UP,
        stats=stats.get("asyncio", RuntimeStats()),
    )


def _web_loaded_version() -> int | None:
    """The routing version this process's routing cache holds (None until its first call)."""
    from apps.routing import router

    table = getattr(getattr(router, "cache", None), "table", None)
    return table.version if table is not None else None


def instance_is_up(instance: RuntimeInstance) -> bool:
    """Up: heartbeat fresh and status up, and, for a process on this machine, the pid alive —
    so a killed runtime shows down at once rather than when its heartbeat goes stale."""
    if not routing.is_live(instance):
        return False
    if _runs_on_this_machine(instance):
        return _pid_alive(instance.pid)
    return True


def _runs_on_this_machine(instance: RuntimeInstance) -> bool:
    # The Trio runtime names its row `<runtime>@<hostname>:<port>`.
    return instance.instance_id.startswith(f"{instance.runtime}@{socket.gethostname()}:")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def trio_runtimes(stats: dict[str, RuntimeStats]) -> list[RuntimeView]:
    views = []
    for instance in routing.runtime_instances():
        up = instance_is_up(instance)
        views.append(
            RuntimeView(
                kind=instance.runtime,
                name=f"{instance.runtime} runtime",
                up=up,
                pid=instance.pid,
                host=instance.host,
                port=instance.port,
                started_at=instance.started_at,
                routing_version=instance.routing_version,
                status=instance.status if up else RuntimeStatus.DOWN,
                stats=stats.get(instance.runtime, RuntimeStats()),
                calls_since_start=instance.calls,
                errors_since_start=instance.errors,
                last_heartbeat=instance.last_heartbeat,
                peer_id=instance.peer_id,
                listen_addrs=list(instance.listen_addrs or []),
                instance_id=instance.instance_id,
            )
        )
    return views


@dataclass
class RuntimesOverview:
    current_version: int
    runtimes: list[RuntimeView]
    fallbacks: int
    node_peer_id: str
    node_listen_addrs: list[str]


def runtimes_overview() -> RuntimesOverview:
    stats = runtime_stats()
    trio = trio_runtimes(stats)
    node = next((r for r in trio if r.up and r.peer_id), None) or next(
        (r for r in trio if r.peer_id), None
    )
    return RuntimesOverview(
        current_version=routing.current_version(),
        runtimes=[web_runtime(stats), *trio],
        fallbacks=sum(s.fallbacks for s in stats.values()),
        node_peer_id=node.peer_id if node else "",
        node_listen_addrs=node.listen_addrs if node else [],
    )


# --- change markers: cheap values that change whenever a page would render differently -------


def peers_marker() -> tuple:
    return tuple(Peer.objects.aggregate(n=Count("id"), last=Max("updated_at")).values())


def peer_marker(peer_id: str) -> tuple:
    peer = Peer.objects.filter(peer_id=peer_id).values_list("pk", "updated_at").first()
    if peer is None:
        return (None,)
    last_call = peer_calls(peer_id).aggregate(last=Max("id"))["last"]
    return (*peer, last_call)


def runtimes_marker() -> tuple:
    """Changes when an instance starts, stops, goes stale, reloads routing, or calls are logged;
    not on every heartbeat (the page ticks uptime and "ago" itself)."""
    instances = tuple(
        (i.instance_id, i.pid, i.started_at, i.routing_version, instance_is_up(i), i.calls)
        for i in routing.runtime_instances().only(
            "instance_id",
            "runtime",
            "pid",
            "started_at",
            "routing_version",
            "status",
            "last_heartbeat",
            "calls",
        )
    )
    last_call = ToolCall.objects.aggregate(last=Max("id"))["last"]
    return (routing.current_version(), last_call, instances)


# --- the P2P engine and the peer tools ------------------------------------------------------


@dataclass(frozen=True)
class P2PConfig:
    """What the libp2p host reads from the P2P settings when it starts."""

    enabled: bool = True
    connection_timeout: float = 10.0


def load_p2p_config() -> P2PConfig:
    close_old_connections()
    row = P2PSettings.objects.filter(pk=1).first()
    if row is None:
        return P2PConfig()
    return P2PConfig(enabled=row.enabled, connection_timeout=row.connection_timeout)


def known_addresses(peer_id: str) -> list[str]:
    close_old_connections()
    peer = Peer.objects.filter(peer_id=peer_id).first()
    return list(peer.addresses) if peer else []


def peer_is_enabled(peer_id: str) -> bool:
    return not Peer.objects.filter(peer_id=peer_id, enabled=False).exists()


def peer_dict(peer: Peer) -> dict[str, Any]:
    """A peer as the peer tools return it."""
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


def peer_rows(status: str | None = None) -> list[dict[str, Any]]:
    peers = Peer.objects.all().order_by("peer_id")
    if status:
        peers = peers.filter(status=status)
    return [peer_dict(p) for p in peers[:500]]


def bootstrap_rows() -> list[dict[str, Any]]:
    return [
        {"multiaddr": b.multiaddr, "enabled": b.enabled, "note": b.note}
        for b in BootstrapNode.objects.order_by("multiaddr")
    ]
