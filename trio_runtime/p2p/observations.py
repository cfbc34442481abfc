"""What the libp2p host observes, written to `Peer` rows (blocking ORM: call via a thread).

Observed fields only (status, last_seen, rtt, errors, backoff, agent, tools, addresses); the
admin's intent (`enabled`, `trusted`) is read, never written, here. Writes set `updated_at`,
which the status pages watch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import close_old_connections, models, transaction
from django.utils import timezone

from apps.peers.models import BootstrapNode, P2PSettings, Peer, PeerSource, PeerStatus
from mcp_platform.backoff import backoff_delay

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
# At most this many gone peers are forgotten per maintenance round: a flood of identities is
# drained over rounds, never in one long delete.
PRUNE_BATCH = 500


@dataclass
class DialTarget:
    peer_id: str
    addrs: list[str]
    source: str


@dataclass
class DialPlan:
    targets: list[DialTarget] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class P2PConfig:
    enabled: bool = True
    enable_mdns: bool = False
    connection_timeout: float = 10.0
    max_connections: int = 100


def load_config() -> P2PConfig:
    close_old_connections()
    row = P2PSettings.objects.filter(pk=1).first()
    if row is None:
        return P2PConfig()
    return P2PConfig(
        enabled=row.enabled,
        enable_mdns=row.enable_mdns,
        connection_timeout=row.connection_timeout,
        max_connections=row.max_connections,
    )


def split_multiaddr(multiaddr: str) -> tuple[str, str]:
    """('/ip4/…/tcp/…', peer id) of a '/…/p2p/<id>' multiaddr; ValueError without an id."""
    address, marker, peer_id = multiaddr.rstrip("/").rpartition("/p2p/")
    if not marker or not peer_id or "/" in peer_id:
        raise ValueError(f"{multiaddr!r} does not end in /p2p/<peer id>")
    return address, peer_id


def load_dial_plan(*, now=None) -> DialPlan:
    """Peers to keep connected (bootstrap nodes, manual and mDNS peers) that are due a dial,
    and the peers an admin disabled. Creates the `Peer` row of a new bootstrap node."""
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
        enabled=True,
        source__in=(PeerSource.BOOTSTRAP, PeerSource.MANUAL, PeerSource.MDNS),
    ).exclude(addresses=[])
    for peer in candidates:
        if peer.next_retry_at and peer.next_retry_at > now:
            continue
        plan.targets.append(DialTarget(peer.peer_id, list(peer.addresses), peer.source))
    return plan


def known_addresses(peer_id: str) -> list[str]:
    close_old_connections()
    peer = Peer.objects.filter(peer_id=peer_id).first()
    return list(peer.addresses) if peer else []


def peer_is_enabled(peer_id: str) -> bool:
    return not Peer.objects.filter(peer_id=peer_id, enabled=False).exists()


def mark_connected(peer_id: str, addrs: list[str], *, inbound: bool) -> None:
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
    _announce(peer_id)


def prune_gone_peers(*, now=None, limit: int = PRUNE_BATCH) -> int:
    """Forget untrusted peers that only ever dialled in and have not been seen for the
    settings' `peer_ttl` seconds (at most `limit` per call); returns how many. Peers an admin
    added, trusted, disabled, or that are bootstrap or discovered nodes stay."""
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


def mark_disconnected(peer_id: str) -> None:
    """The connection closed: the peer was reachable moments ago; the next dial decides."""
    Peer.objects.filter(peer_id=peer_id, status=PeerStatus.CONNECTED).update(
        status=PeerStatus.REACHABLE, updated_at=timezone.now()
    )
    _announce(peer_id)


def backoff_seconds(failure_count: int) -> float:
    return backoff_delay(failure_count, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_MAX_SECONDS)


def mark_failed(peer_id: str, error: str) -> None:
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
    _announce(peer_id)


def record_probe(peer_id: str, rtt_ms: float, addrs: list[str]) -> None:
    from apps.peers.services import record_rtt

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
    _announce(peer_id)


def record_details(peer_id: str, *, agent_version: str | None, tools: list[str] | None) -> None:
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


def add_discovered(peer_id: str, addrs: list[str], source: str) -> None:
    peer, created = Peer.objects.get_or_create(
        peer_id=peer_id, defaults={"addresses": addrs, "source": source}
    )
    if not created:
        merged = list(dict.fromkeys([*peer.addresses, *addrs]))[-10:]
        if merged != peer.addresses:
            peer.addresses = merged
            peer.save(update_fields=["addresses", "updated_at"])


def _announce(peer_id: str) -> None:
    try:
        from apps.peers.services import announce_peer_change
    except ImportError:
        return
    announce_peer_change([peer_id])
