"""Writes about peers: admin intent (trust, enable), RTT samples, and change announcements.

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
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.capture import recording_bulk_update
from apps.peers.models import Peer, PeerRttSample

logger = logging.getLogger(__name__)

RTT_HISTORY = timedelta(hours=1)
# Group names on the channel layer; the websocket consumer joins them.
PEERS_GROUP = "status.peers"
RUNTIMES_GROUP = "status.runtimes"

INBOUND_PREFIX = "peer:"
OUTBOUND_MARK = "->peer:"


def inbound_caller(peer_id: str) -> str:
    """The `ToolCall.caller` of a call that `peer_id` made to this node."""
    return f"{INBOUND_PREFIX}{peer_id}"


def outbound_caller(principal_name: str, peer_id: str) -> str:
    """The `ToolCall.caller` of a call that `principal_name` made, through us, to `peer_id`."""
    return f"{principal_name}{OUTBOUND_MARK}{peer_id}"[-200:]


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
