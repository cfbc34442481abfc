"""Every write about peers, bootstrap nodes and the P2P settings: admin intent (trust,
enable), what the libp2p host observes (status, last seen, RTT, errors, backoff, agent, tools,
addresses), bootstrap nodes, and change announcements. Blocking ORM: the Trio runtime calls
these through a thread.

How the status pages learn of a change (see `apps/peers/live.py`): every open page's websocket
polls a cheap change marker in the database a few times a second (`Peer.updated_at`, the
runtime heartbeat rows), so a write from any process shows within two seconds even on the
embedded default, where the in-memory channel layer cannot cross processes. When `REDIS_URL` is
set, `announce_peer_change` / `announce_runtime_change` also push through channels-redis at once.

Conventions for the processes that keep peers current (the P2P engine in the Trio runtime):

- Write observed fields with `.save()` (which sets `updated_at`), or, with `QuerySet.update()`,
  set `updated_at=timezone.now()` yourself: the pages watch `updated_at`.
- Record each measured round trip with `record_rtt(peer=..., rtt_ms=...)`: it keeps `rtt_ms`
  on the row and a sample for the one-hour chart.
- Tool calls to and from a peer are `ToolCall` rows whose `caller` names the peer:
  `inbound_caller(peer_id)` ("peer:<peer id>") for a call the peer made to us, and
  `outbound_caller(principal_name, peer_id)` ("<principal>->peer:<peer id>") for a call we
  made to it. `apps.peers.selectors.recent_peer_calls` reads them back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.capture import recording_bulk_update
from apps.peers.models import (
    BootstrapNode,
    P2PSettings,
    Peer,
    PeerRttSample,
    PeerSource,
    PeerStatus,
)
from apps.tools import call_log
from mcp_platform.backoff import backoff_delay

logger = logging.getLogger(__name__)

RTT_HISTORY = timedelta(hours=1)
# Group names on the channel layer; the websocket consumer joins them.
PEERS_GROUP = "status.peers"
RUNTIMES_GROUP = "status.runtimes"

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
# At most this many gone peers are forgotten per maintenance round: a flood of identities is
# drained over rounds, never in one long delete.
PRUNE_BATCH = 500

INBOUND_PREFIX = "peer:"
OUTBOUND_MARK = "->peer:"


def inbound_caller(peer_id: str) -> str:
    """The `ToolCall.caller` of a call that `peer_id` made to this node."""
    return f"{INBOUND_PREFIX}{peer_id}"


def outbound_caller(principal_name: str, peer_id: str) -> str:
    """The `ToolCall.caller` of a call that `principal_name` made, through us, to `peer_id`."""
    return f"{principal_name}{OUTBOUND_MARK}{peer_id}"[-200:]


def record_outbound_call(
    *,
    peer_id: str,
    principal_name: str,
    tool_name: str,
    request_id: str,
    started_at: datetime,
    seconds: float,
    outcome: str,
    error: str = "",
) -> None:
    """Record a request this node sent to `peer_id` on behalf of `principal_name` (a call the
    peer's page lists under the calls we made); written by the call log's batch writer."""
    call_log.record(
        call_log.CallRecord(
            tool_name=tool_name[:128] or "?",
            runtime="trio",
            caller=outbound_caller(principal_name, peer_id),
            via="p2p-out",
            request_id=request_id[:64],
            started_at=started_at,
            duration_ms=round(seconds * 1000, 3),
            outcome=outcome,
            error=error[:2000],
            pid=os.getpid(),
        )
    )


def record_rtt(*, peer: Peer, rtt_ms: float, measured_at: datetime | None = None) -> PeerRttSample:
    """Store one measured round trip to `peer`: a chart sample, and the row's current `rtt_ms`.

    Samples older than an hour are pruned here, so the table stays about
    (peers x samples per hour) rows. Raises ValueError for a negative RTT.
    """
    if rtt_ms < 0:
        raise ValueError(f"rtt_ms must not be negative, got {rtt_ms}")
    now = timezone.now()
    measured_at = measured_at or now
    with transaction.atomic():
        sample = PeerRttSample.objects.create(peer=peer, rtt_ms=rtt_ms, measured_at=measured_at)
        PeerRttSample.objects.filter(peer=peer, measured_at__lt=now - RTT_HISTORY).delete()
        Peer.objects.filter(pk=peer.pk).update(rtt_ms=rtt_ms, updated_at=now)
    peer.rtt_ms = rtt_ms
    peer.updated_at = now
    return sample


def set_peer_intent(
    *, peers: QuerySet[Peer] | Iterable[Peer], actor: Any = None, **intent: bool
) -> int:
    """Set the admin intent (`trusted` and/or `enabled`) of `peers`; returns how many changed.

    Raises ValueError for any other field: observed fields belong to the P2P engine.
    """
    unknown = set(intent) - {"trusted", "enabled"}
    if unknown or not intent:
        raise ValueError(f"only trusted and enabled are admin intent, got {sorted(intent)}")
    if not isinstance(peers, QuerySet):
        peers = Peer.objects.filter(pk__in=[p.pk for p in peers])
    with recording_bulk_update(queryset=peers, changes=intent):
        changed = peers.exclude(**intent).update(**intent, updated_at=timezone.now())
    if changed:
        logger.info("peer intent %s set on %d peer(s) by %s", intent, changed, actor or "system")
        transaction.on_commit(announce_peer_change)
    return changed


# --- what the libp2p host observes ----------------------------------------------------------
# Observed fields only; the admin's intent (`enabled`, `trusted`) is read, never written, here.


@dataclass
class DialTarget:
    peer_id: str
    addrs: list[str]
    source: str


@dataclass
class DialPlan:
    targets: list[DialTarget] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)


def split_multiaddr(multiaddr: str) -> tuple[str, str]:
    """('/ip4/…/tcp/…', peer id) of a '/…/p2p/<id>' multiaddr; ValueError without an id."""
    address, marker, peer_id = multiaddr.rstrip("/").rpartition("/p2p/")
    if not marker or not peer_id or "/" in peer_id:
        raise ValueError(f"{multiaddr!r} does not end in /p2p/<peer id>")
    return address, peer_id


def load_dial_plan(*, now: datetime | None = None) -> DialPlan:
    """Peers to keep connected (bootstrap nodes and manual peers) that are due a dial, and the
    peers an admin disabled. Creates the `Peer` row of a new bootstrap node."""
    close_old_connections()
    now = now or timezone.now()
    plan = DialPlan(
        disabled=set(Peer.objects.filter(enabled=False).values_list("peer_id", flat=True))
    )
    for node in BootstrapNode.objects.filter(enabled=True):
        try:
            address, peer_id = split_multiaddr(node.multiaddr)
        except ValueError:
            continue
        peer, created = Peer.objects.get_or_create(
            peer_id=peer_id,
            defaults={"addresses": [address], "source": PeerSource.BOOTSTRAP},
        )
        if not created and address not in peer.addresses:
            peer.addresses = [address, *peer.addresses][:10]
            peer.save(update_fields=["addresses", "updated_at"])
    candidates = Peer.objects.filter(
        enabled=True, source__in=(PeerSource.BOOTSTRAP, PeerSource.MANUAL)
    ).exclude(addresses=[])
    for peer in candidates:
        if peer.next_retry_at and peer.next_retry_at > now:
            continue
        plan.targets.append(DialTarget(peer.peer_id, list(peer.addresses), peer.source))
    return plan


def mark_connected(*, peer_id: str, addrs: list[str], inbound: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        peer, _ = Peer.objects.get_or_create(
            peer_id=peer_id,
            defaults={
                "addresses": addrs,
                "source": PeerSource.INBOUND if inbound else PeerSource.MANUAL,
            },
        )
        peer.status = PeerStatus.CONNECTED
        peer.last_seen = now
        peer.failure_count = 0
        peer.next_retry_at = None
        peer.last_error = ""
        for addr in addrs:
            if addr not in peer.addresses:
                peer.addresses = [*peer.addresses, addr][-10:]
        peer.save()
    announce_peer_change([peer_id])


def prune_gone_peers(*, now: datetime | None = None, limit: int = PRUNE_BATCH) -> int:
    """Forget untrusted peers that only ever dialled in and have not been seen for the
    settings' `peer_ttl` seconds (at most `limit` per call); returns how many. Peers an admin
    added, trusted, disabled, or that are bootstrap nodes stay."""
    now = now or timezone.now()
    settings_row = P2PSettings.objects.filter(pk=1).first()
    ttl = settings_row.peer_ttl if settings_row else P2PSettings._meta.get_field("peer_ttl").default
    cutoff = now - timedelta(seconds=ttl)
    gone = (
        Peer.objects.filter(source=PeerSource.INBOUND, trusted=False, enabled=True)
        .exclude(status=PeerStatus.CONNECTED)
        .filter(updated_at__lt=cutoff)
        .filter(models.Q(last_seen__lt=cutoff) | models.Q(last_seen__isnull=True))
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    deleted, _ = Peer.objects.filter(pk__in=list(gone)).delete()
    return deleted


def mark_disconnected(*, peer_id: str) -> None:
    """The connection closed: the peer was reachable moments ago; the next dial decides."""
    Peer.objects.filter(peer_id=peer_id, status=PeerStatus.CONNECTED).update(
        status=PeerStatus.REACHABLE, updated_at=timezone.now()
    )
    announce_peer_change([peer_id])


def backoff_seconds(failure_count: int) -> float:
    return backoff_delay(failure_count, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_MAX_SECONDS)


def mark_failed(*, peer_id: str, error: str) -> None:
    """A dial or probe failed: unreachable, retried after an exponential backoff."""
    now = timezone.now()
    with transaction.atomic():
        peer = Peer.objects.select_for_update().filter(peer_id=peer_id).first()
        if peer is None:
            return
        peer.failure_count += 1
        peer.status = PeerStatus.UNREACHABLE
        peer.last_error = error[:2000]
        peer.next_retry_at = now + timedelta(seconds=backoff_seconds(peer.failure_count))
        peer.save()
    announce_peer_change([peer_id])


def record_probe(*, peer_id: str, rtt_ms: float, addrs: list[str]) -> None:
    peer = Peer.objects.filter(peer_id=peer_id).first()
    if peer is None:
        return
    record_rtt(peer=peer, rtt_ms=rtt_ms)
    changes = {
        "status": PeerStatus.CONNECTED,
        "last_seen": timezone.now(),
        "updated_at": timezone.now(),
    }
    merged = list(dict.fromkeys([*peer.addresses, *addrs]))[-10:]
    if merged != peer.addresses:
        changes["addresses"] = merged
    Peer.objects.filter(pk=peer.pk).update(**changes)
    announce_peer_change([peer_id])


def record_details(*, peer_id: str, agent_version: str | None, tools: list[str] | None) -> None:
    changes: dict = {"updated_at": timezone.now()}
    if agent_version is not None:
        changes["agent_version"] = agent_version[:200]
    if tools is not None:
        changes["tools"] = tools
    Peer.objects.filter(peer_id=peer_id).update(**changes)


def mark_all_disconnected() -> None:
    """At start and stop: this host holds no connections, whatever the rows said."""
    close_old_connections()
    Peer.objects.filter(status=PeerStatus.CONNECTED).update(
        status=PeerStatus.REACHABLE, updated_at=timezone.now()
    )


# --- bootstrap nodes ----------------------------------------------------------------------------


def add_bootstrap_node(*, multiaddr: str, note: str = "") -> bool:
    """Add (or re-enable) a bootstrap node; True when it is new. ValueError without /p2p/<id>."""
    split_multiaddr(multiaddr)
    _, created = BootstrapNode.objects.update_or_create(
        multiaddr=multiaddr, defaults={"enabled": True, **({"note": note} if note else {})}
    )
    return created


def remove_bootstrap_node(*, multiaddr: str) -> bool:
    deleted, _ = BootstrapNode.objects.filter(multiaddr=multiaddr).delete()
    return bool(deleted)


# --- announcements ------------------------------------------------------------------------------


def announce_peer_change(peer_ids: Iterable[str] = ()) -> None:
    """Tell open status pages, now, that peers changed (any process may call this).

    Best effort and non-blocking (safe from sync code, async code, and Trio threads): pages
    also poll the database, so a lost announcement only costs latency. Without Redis it does
    nothing: the in-memory channel layer cannot reach another process's pages.
    """
    _announce(PEERS_GROUP, {"peer_ids": list(peer_ids)})


def announce_runtime_change() -> None:
    """Tell open /runtimes/ pages, now, that a runtime instance changed (heartbeat, restart)."""
    _announce(RUNTIMES_GROUP, {})


def _announce(group: str, payload: dict) -> None:
    """group_send on the channel layer without blocking the caller; at most one send per group
    in flight (pages refetch everything on a change, so coalescing loses nothing)."""
    if not settings.REDIS_URL:
        return  # the in-memory layer cannot cross processes; the pages' polling carries it
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    with _lock:
        if layer is None or group in _in_flight:
            return
        _in_flight.add(group)
    try:
        future = asyncio.run_coroutine_threadsafe(
            layer.group_send(group, {"type": "status.changed", **payload}), _announcer_loop()
        )
    except Exception:  # the pages' polling is the safety net; never fail the writer
        _in_flight.discard(group)
        logger.warning("could not announce a change to %s", group, exc_info=True)
        return
    future.add_done_callback(lambda f: _sent(group, f))


def _sent(group: str, future: concurrent.futures.Future) -> None:
    with _lock:
        _in_flight.discard(group)
    if not future.cancelled() and future.exception() is not None:
        logger.warning("could not announce a change to %s: %r", group, future.exception())


_lock = threading.Lock()
_in_flight: set[str] = set()
_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: threading.Thread | None = None


def start_announcer() -> None:
    """Start the announcer's loop for the process's life (the web process's lifespan); without
    Redis there is nothing to announce to. Other processes start it on their first change."""
    if settings.REDIS_URL:
        _announcer_loop()


def stop_announcer() -> None:
    """Stop the announcer's loop (an announcement still in flight is dropped: pages poll)."""
    global _loop, _loop_thread
    with _lock:
        loop, thread, _loop, _loop_thread = _loop, _loop_thread, None, None
        _in_flight.clear()
    if loop is None:
        return
    loop.call_soon_threadsafe(loop.stop)
    if thread is not None:
        thread.join(timeout=5)
    if not loop.is_running():
        loop.close()


def _announcer_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on a daemon thread, that owns the channel layer's Redis
    connections for announcements from sync code and from the Trio runtime."""
    global _loop, _loop_thread
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            _loop_thread = threading.Thread(
                target=_loop.run_forever, name="status-announcer", daemon=True
            )
            _loop_thread.start()
        return _loop
