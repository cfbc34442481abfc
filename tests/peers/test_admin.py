"""Peers and bootstrap nodes in the admin: inline toggles, bulk actions, filters, no N+1."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.peers.models import BootstrapNode, Peer, PeerStatus
from tests.admin_forms import submit_change_form


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def peers() -> list[Peer]:
    return [
        Peer.objects.create(peer_id="12D3KooWa", status=PeerStatus.CONNECTED),
        Peer.objects.create(peer_id="12D3KooWb", status=PeerStatus.UNREACHABLE),
        Peer.objects.create(peer_id="12D3KooWc", status=PeerStatus.CONNECTED, enabled=False),
    ]


@pytest.mark.django_db
def test_bulk_actions_trust_and_disable_peers(staff_client):
    a, b, c = peers()
    url = reverse("admin:peers_peer_changelist")
    staff_client.post(url, {"action": "trust_peers", "_selected_action": [a.pk, b.pk]})
    staff_client.post(url, {"action": "disable_peers", "_selected_action": [b.pk]})
    staff_client.post(url, {"action": "enable_peers", "_selected_action": [c.pk]})
    assert dict(Peer.objects.values_list("peer_id", "trusted")) == {
        "12D3KooWa": True,
        "12D3KooWb": True,
        "12D3KooWc": False,
    }
    assert dict(Peer.objects.values_list("peer_id", "enabled")) == {
        "12D3KooWa": True,
        "12D3KooWb": False,
        "12D3KooWc": True,
    }


@pytest.mark.django_db
def test_trust_and_enable_toggle_inline_in_the_changelist(staff_client):
    a, b, c = peers()
    url = reverse("admin:peers_peer_changelist")
    rows = [a, b, c]
    data = {
        "form-TOTAL_FORMS": "3",
        "form-INITIAL_FORMS": "3",
        "_save": "Save",
    }
    for i, peer in enumerate(rows):
        data[f"form-{i}-id"] = str(peer.pk)
        if peer is not c:
            data[f"form-{i}-enabled"] = "on"
        if peer is a:
            data[f"form-{i}-trusted"] = "on"
    response = staff_client.post(url, data)
    assert response.status_code == 302
    assert Peer.objects.get(pk=a.pk).trusted
    assert not Peer.objects.get(pk=c.pk).enabled


@pytest.mark.django_db
def test_filter_by_the_badge_the_status_pages_show(staff_client):
    peers()
    url = reverse("admin:peers_peer_changelist")
    shown = staff_client.get(url, {"badge": "connected"}).context["cl"].result_list
    assert [p.peer_id for p in shown] == ["12D3KooWa"]
    shown = staff_client.get(url, {"badge": "disabled"}).context["cl"].result_list
    assert [p.peer_id for p in shown] == ["12D3KooWc"]


@pytest.mark.django_db
def test_peer_changelist_queries_do_not_grow_with_peers(
    staff_client, django_assert_max_num_queries
):
    Peer.objects.bulk_create(Peer(peer_id=f"12D3KooW{i:04d}") for i in range(300))
    with django_assert_max_num_queries(12):
        assert staff_client.get(reverse("admin:peers_peer_changelist")).status_code == 200


@pytest.mark.django_db
def test_bootstrap_nodes_are_edited_in_the_admin(staff_client):
    node = BootstrapNode.objects.create(multiaddr="/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWx")
    url = reverse("admin:peers_bootstrapnode_change", args=[node.pk])
    submit_change_form(staff_client, url, enabled=False, note="maintenance")
    node.refresh_from_db()
    assert not node.enabled and node.note == "maintenance"
    changelist = reverse("admin:peers_bootstrapnode_changelist")
    staff_client.post(changelist, {"action": "enable_nodes", "_selected_action": [node.pk]})
    node.refresh_from_db()
    assert node.enabled
