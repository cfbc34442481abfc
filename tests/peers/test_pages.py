"""The status pages through Django's test client: access, queries, filters, history, intent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.peers import services
from apps.peers.models import Peer, PeerRttSample, PeerStatus
from apps.routing.models import RuntimeInstance
from apps.tools.models import ToolCall

PAGES = ("/peers/", "/runtimes/")


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def make_peers(count: int) -> list[Peer]:
    statuses = [PeerStatus.CONNECTED, PeerStatus.REACHABLE, PeerStatus.UNREACHABLE]
    now = timezone.now()
    return Peer.objects.bulk_create(
        Peer(
            peer_id=f"12D3KooWPeer{i:05d}xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            addresses=[f"/ip4/10.0.{i // 250}.{i % 250}/tcp/4001", "/ip6/::1/tcp/4001"],
            status=statuses[i % 3],
            enabled=i % 10 != 0,
            trusted=i % 2 == 0,
            rtt_ms=float(i % 97),
            last_seen=now - timedelta(seconds=i),
            tools=[f"tool_{j}" for j in range(i % 5)],
        )
        for i in range(count)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*PAGES, "/peers/12D3KooWnobody/"])
def test_anonymous_visitor_is_redirected_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert "next=" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_signed_in_non_staff_user_gets_403(client, django_user_model, path):
    user = django_user_model.objects.create_user("operator", password="pw-for-tests-123")
    client.force_login(user)
    assert client.get(path).status_code == 403


@pytest.mark.django_db
def test_peers_page_with_1000_peers_renders_with_bounded_queries(
    staff_client, django_assert_max_num_queries
):
    make_peers(1000)
    # session + user, count per badge, paginator count, one page of rows
    with django_assert_max_num_queries(6):
        response = staff_client.get("/peers/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<tr data-peer-id="') == 50
    assert "page 1 of 20" in body
    with django_assert_max_num_queries(6):
        staff_client.get("/peers/?sort=-rtt&status=reachable&page=3&q=Peer00")


@pytest.mark.django_db
def test_peers_are_filtered_searched_sorted_and_paged_on_the_server(staff_client):
    make_peers(120)
    disabled = staff_client.get("/peers/?status=disabled").context["peers"]
    assert {p.enabled for p in disabled} == {False}
    unreachable = staff_client.get("/peers/?status=unreachable").context["peers"]
    assert {(p.status, p.enabled) for p in unreachable} == {(PeerStatus.UNREACHABLE, True)}
    found = staff_client.get("/peers/?q=peer00042").context["peers"]
    assert [p.peer_id for p in found] == [f"12D3KooWPeer00042{'x' * 28}"]
    by_rtt = list(staff_client.get("/peers/?sort=-rtt").context["peers"])
    assert by_rtt[0].rtt_ms == 96.0
    assert [p.rtt_ms for p in by_rtt] == sorted((p.rtt_ms for p in by_rtt), reverse=True)
    page3 = staff_client.get("/peers/?page=3").context["page_obj"]
    assert page3.number == 3 and len(page3.object_list) == 20


@pytest.mark.django_db
def test_peer_list_shows_badge_short_id_copy_button_and_links_to_admin(staff_client):
    Peer.objects.create(
        peer_id="12D3KooWAbcdefghijklmnopqrstuvwxyz0123456789XYZ",
        status=PeerStatus.CONNECTED,
        rtt_ms=12.34,
        last_seen=timezone.now(),
        tools=["echo", "p2p_ping"],
    )
    Peer.objects.create(peer_id="12D3KooWoff", status=PeerStatus.CONNECTED, enabled=False)
    body = staff_client.get("/peers/").content.decode()
    # A long id shows as its first 8 and last 6 characters around an ellipsis; a short one whole.
    assert "<code>12D3KooW…789XYZ</code>" in body
    assert "<code>12D3KooWoff</code>" in body
    assert 'data-copy="12D3KooWAbcdefghijklmnopqrstuvwxyz0123456789XYZ"' in body
    assert "badge-connected" in body and "badge-disabled" in body
    assert "12.3 ms" in body and "2: echo, p2p_ping" in body
    assert reverse("admin:peers_peer_changelist") in body  # status page → admin
    assert 'id="live-region" data-live-topic="peers"' in body
    fragment = staff_client.get("/peers/?fragment=1&sort=-rtt").content.decode()
    assert "<html" not in fragment and 'data-peer-id="12D3KooWoff"' in fragment
    assert "fragment" not in fragment  # links inside the region drop the flag


@pytest.mark.django_db
def test_admin_links_to_the_status_pages(staff_client):
    body = staff_client.get(reverse("admin:index")).content.decode()
    assert 'href="/peers/"' in body and 'href="/runtimes/"' in body
    peer = Peer.objects.create(peer_id="12D3KooWlinked")
    change = staff_client.get(reverse("admin:peers_peer_change", args=[peer.pk])).content.decode()
    assert 'href="/peers/12D3KooWlinked/"' in change


@pytest.mark.django_db
def test_peer_detail_shows_rtt_history_tools_calls_and_errors(staff_client):
    peer = Peer.objects.create(
        peer_id="12D3KooWdetail",
        status=PeerStatus.UNREACHABLE,
        last_error="dial failed: connection refused",
        tools=["echo", "p2p_taskqueue_submit"],
    )
    now = timezone.now()
    for minutes, rtt in ((50, 10.0), (30, 25.0), (5, 40.0)):
        services.record_rtt(peer=peer, rtt_ms=rtt, measured_at=now - timedelta(minutes=minutes))
    services.record_rtt(peer=peer, rtt_ms=7.5)
    ToolCall.objects.create(
        tool_name="echo",
        runtime="trio",
        caller=services.inbound_caller(peer.peer_id),
        via="p2p",
        started_at=now,
        duration_ms=3.2,
        outcome="success",
    )
    ToolCall.objects.create(
        tool_name="remote_add",
        runtime="trio",
        caller=services.outbound_caller("admin", peer.peer_id),
        via="mcp",
        started_at=now - timedelta(seconds=5),
        duration_ms=9.9,
        outcome="error",
        error="peer went away",
    )
    ToolCall.objects.create(
        tool_name="echo",
        caller="peer:someone-else",
        started_at=now,
        duration_ms=1,
        outcome="success",
    )
    response = staff_client.get(f"/peers/{peer.peer_id}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "badge-unreachable" in body and "dial failed: connection refused" in body
    assert "<polyline" in body and "4 samples" in body and "last 7.5 ms" in body
    assert "p2p_taskqueue_submit" in body
    calls = response.context["calls"]
    assert [(c.tool_name, c.inbound) for c in calls] == [("echo", True), ("remote_add", False)]
    assert [c.tool_name for c in response.context["errors"]] == ["remote_add"]
    assert reverse("admin:peers_peer_change", args=[peer.pk]) in body


@pytest.mark.django_db
def test_record_rtt_keeps_the_last_hour_and_the_current_value(db):
    peer = Peer.objects.create(peer_id="12D3KooWrtt")
    old = timezone.now() - timedelta(hours=2)
    PeerRttSample.objects.create(peer=peer, rtt_ms=1.0, measured_at=old)
    services.record_rtt(peer=peer, rtt_ms=3.5)
    assert list(PeerRttSample.objects.values_list("rtt_ms", flat=True)) == [3.5]
    assert Peer.objects.get(pk=peer.pk).rtt_ms == 3.5
    with pytest.raises(ValueError):
        services.record_rtt(peer=peer, rtt_ms=-1)


@pytest.mark.django_db
def test_trust_and_disable_from_the_peer_page(staff_client):
    peer = Peer.objects.create(peer_id="12D3KooWintent")
    url = reverse("peers:intent", args=[peer.peer_id])
    assert staff_client.post(url, {"action": "trust"}).status_code == 302
    assert staff_client.post(url, {"action": "disable"}).status_code == 302
    peer.refresh_from_db()
    assert peer.trusted and not peer.enabled


@pytest.mark.django_db
def test_runtimes_page_shows_web_and_trio_runtimes(staff_client):
    now = timezone.now()
    RuntimeInstance.objects.create(
        instance_id="trio@elsewhere:8001",
        host="10.0.0.9",
        port=8001,
        pid=4242,
        peer_id="12D3KooWnode",
        listen_addrs=["/ip4/10.0.0.9/tcp/4001"],
        started_at=now - timedelta(minutes=3),
        last_heartbeat=now,
        routing_version=0,
        status="up",
        calls=7,
        errors=1,
    )
    for ms in (1, 2, 3, 100):
        ToolCall.objects.create(
            tool_name="echo", runtime="asyncio", started_at=now, duration_ms=ms, outcome="success"
        )
    ToolCall.objects.create(
        tool_name="p2p_x",
        runtime="asyncio",
        fallback=True,
        started_at=now,
        duration_ms=5,
        outcome="error",
    )
    body = staff_client.get("/runtimes/").content.decode()
    assert 'data-runtime="asyncio" data-state="up"' in body
    assert 'data-runtime="trio" data-state="up"' in body
    assert "12D3KooWnode" in body and "/ip4/10.0.0.9/tcp/4001" in body
    assert "7 calls, 1 errors" in body
    assert "badge-stale" in body  # routing version 0 is behind the current one
    overview = staff_client.get("/runtimes/").context["overview"]
    web = overview.runtimes[0].stats
    assert (web.calls, web.errors, web.fallbacks, web.p50_ms, web.p99_ms) == (5, 1, 1, 3.0, 100.0)


@pytest.mark.django_db
def test_a_stale_heartbeat_shows_the_runtime_down(staff_client):
    now = timezone.now()
    RuntimeInstance.objects.create(
        instance_id="trio@elsewhere:8001",
        host="10.0.0.9",
        port=8001,
        pid=4242,
        started_at=now - timedelta(minutes=3),
        last_heartbeat=now - timedelta(minutes=1),
        status="up",
    )
    body = staff_client.get("/runtimes/").content.decode()
    assert 'data-runtime="trio" data-state="down"' in body
