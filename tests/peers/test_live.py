"""The status websocket in-process: who may connect, marker polling, and pushes through the
channel layer (channels-redis when REDIS_URL is set, else the in-memory layer)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import trio
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
    in_memory = not settings.REDIS_URL
    if in_memory:
        settings.REDIS_URL = "memory"  # exercise the push path on the in-memory layer

    async def scenario() -> None:
        communicator, connected = await connect(admin_user, "runtimes")
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        loop = asyncio.get_running_loop()
        if in_memory:
            # The in-memory layer's queues belong to one event loop (a send from the
            # announcer's own loop, in another thread, may never wake this one): the
            # announcement is sent on the page's loop here. Redis has no such limit.
            monkeypatch.setattr(services, "_announcer_loop", lambda: loop)
        await loop.run_in_executor(None, services.announce_runtime_change)
        message = await communicator.receive_json_from(timeout=5)
        assert message == {"type": "changed", "topic": "runtimes"}
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_push_reaches_pages_open_on_two_web_processes(admin_user, client, settings, tmp_path):
    """The push exists to cross processes: an announcement made outside the web processes
    (here, in the test's own process) reaches a status page open on each of two separate web
    processes, through the Redis channel layer. Nothing changes in the database, so the pages'
    polling cannot explain the message."""
    from django.conf import settings as django_settings

    from tests.conftest import require_service
    from tests.harness import PlatformProcess

    if not settings.REDIS_URL:  # the embedded profile has no Redis, by design
        pytest.skip("the Redis channel layer is the scaled-out profile's (CI's second pass)")
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{settings.REDIS_URL}: {exc!r}")
    client.force_login(admin_user)  # a session row both web processes read
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies['sessionid'].value}"
    # The same SECRET_KEY as this process: the session's auth hash is signed with it.
    env = {"REDIS_URL": settings.REDIS_URL, "SECRET_KEY": django_settings.SECRET_KEY}
    args = ["--no-trio", "--worker-concurrency", "0"]
    nodes = [PlatformProcess(tmp_path / name, env=env, args=args) for name in ("a", "b")]
    try:
        for node in nodes:
            node.start()
        received = trio.run(_pages_told_of_a_push, nodes, cookie)
    except BaseException as exc:
        if isinstance(exc, AssertionError):
            outputs = "\n".join(f"--- {n.url} ---\n{n.output}" for n in nodes)
            raise AssertionError(f"{exc}\n{outputs}") from None
        raise
    finally:
        for node in nodes:
            node.stop()
    assert received == [{"type": "changed", "topic": "peers"}] * 2


async def _pages_told_of_a_push(nodes, cookie: str) -> list[dict]:
    import json

    from trio_websocket import open_websocket_url

    async with contextlib.AsyncExitStack() as stack:
        pages = []
        for node in nodes:
            headers = [(b"Cookie", cookie.encode()), (b"Origin", node.url.encode())]
            url = node.url.replace("http://", "ws://") + "/ws/status/?topic=peers"
            page = await stack.enter_async_context(
                open_websocket_url(url, extra_headers=headers, connect_timeout=20)
            )
            with trio.fail_after(20):
                assert json.loads(await page.get_message())["type"] == "hello"
            pages.append(page)
        # Both consumers have joined the group once they said hello; announce from here.
        await trio.to_thread.run_sync(services.announce_peer_change, ["12D3KooWelsewhere"])
        received = []
        for page in pages:
            with trio.fail_after(20):
                received.append(json.loads(await page.get_message()))
        return received
