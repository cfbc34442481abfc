"""The P2P settings do what they say: the peer TTL decides which gone peers are forgotten."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.peers.models import P2PSettings, Peer
from apps.peers.services import prune_gone_peers

pytestmark = pytest.mark.django_db


def _gone_inbound_peer(peer_id: str, *, minutes_ago: int) -> None:
    seen = timezone.now() - timedelta(minutes=minutes_ago)
    Peer.objects.create(peer_id=peer_id, source="inbound", status="unreachable", last_seen=seen)
    Peer.objects.filter(peer_id=peer_id).update(updated_at=seen)


def test_a_short_peer_ttl_forgets_a_peer_the_default_would_keep():
    P2PSettings.objects.update_or_create(pk=1, defaults={"peer_ttl": 600})
    _gone_inbound_peer("12D3KooWhalfhour", minutes_ago=30)  # inside the default hour
    _gone_inbound_peer("12D3KooWfiveminutes", minutes_ago=5)

    assert prune_gone_peers() == 1
    assert list(Peer.objects.values_list("peer_id", flat=True)) == ["12D3KooWfiveminutes"]


def test_a_long_peer_ttl_keeps_a_peer_the_default_would_forget():
    P2PSettings.objects.update_or_create(pk=1, defaults={"peer_ttl": 3 * 3600})
    _gone_inbound_peer("12D3KooWtwohours", minutes_ago=120)  # past the default hour
    _gone_inbound_peer("12D3KooWfourhours", minutes_ago=240)

    assert prune_gone_peers() == 1
    assert list(Peer.objects.values_list("peer_id", flat=True)) == ["12D3KooWtwohours"]
