"""The status websocket in-process: who may connect, marker polling, and pushes through the
channel layer (channels-redis when REDIS_URL is set, else the in-memory layer)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from apps.peers import consumers, services
from apps.peers.consumers import StatusConsumer
from apps.peers.models import Peer, PeerStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_watcher(monkeypatch):
    watcher = consumers.MarkerWatcher(interval=0.05)
    monkeypatch.setattr(consumers, "watcher", watcher)
    return watcher


async def connect(user, topic: str = "peers") -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(StatusConsumer.as_asgi(), f"/ws/status/?topic={topic}")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    return communicator, connected


def test_anonymous_and_non_staff_websockets_are_refused(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw-for-tests-123")

    async def scenario() -> None:
        for who in (AnonymousUser(), user):
            communicator, connected = await connect(who)
            assert not connected
            await communicator.disconnect()

    async_to_sync(scenario)()


def test_unknown_topic_is_refused(admin_user):
    async def scenario() -> None:
        communicator, connected = await connect(admin_user, topic="secrets")
        assert not connected
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_peer_row_written_elsewhere_reaches_the_page(admin_user, fast_watcher):
    peer = Peer.objects.create(peer_id="12D3KooWlive", status=PeerStatus.CONNECTED)

    def go_unreachable() -> None:
        Peer.objects.filter(pk=peer.pk).update(
            status=PeerStatus.UNREACHABLE, updated_at=timezone.now()
        )

    async def scenario() -> None:
        pages = [await connect(admin_user, topic) for topic in ("peers", "peer:12D3KooWlive")]
        for communicator, connected in pages:
            assert connected
            assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        await asyncio.sleep(0.2)  # the watchers have read the first marker
        await sync_to_async(go_unreachable, thread_sensitive=False)()
        for communicator, _ in pages:
            message = await communicator.receive_json_from(timeout=5)
            assert message["type"] == "changed"
            await communicator.disconnect()
        assert not fast_watcher._tasks  # the last page to leave stops the polling

    async_to_sync(scenario)()


def test_an_announcement_is_pushed_through_the_channel_layer(admin_user, monkeypatch, settings):
    # Polling this slowly cannot explain a message within the test: it must be the push.
    monkeypatch.setattr(consumers, "watcher", consumers.MarkerWatcher(interval=3600))
    if not settings.REDIS_URL:
        settings.REDIS_URL = "memory"  # exercise the push path on the in-memory layer

    async def scenario() -> None:
        communicator, connected = await connect(admin_user, "runtimes")
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, services.announce_runtime_change)
        message = await communicator.receive_json_from(timeout=5)
        assert message == {"type": "changed", "topic": "runtimes"}
        await communicator.disconnect()

    async_to_sync(scenario)()
