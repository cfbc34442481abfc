"""The status pages' websocket: tells an open page that what it shows changed.

A page subscribes to one topic (`peers`, `peer:<peer id>`, `runtimes`) and, on `changed`,
fetches its live region again. News arrives two ways:

- polling (always): one task per topic per web process reads the topic's change marker (see
  `selectors.*_marker`) every POLL_SECONDS and tells every page on that topic when it moves.
  This is what carries writes from the Trio runtime on the embedded default, where the
  in-memory channel layer cannot cross processes;
- pushes (when REDIS_URL is set): `services.announce_*` group_send through channels-redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import connection

from apps.peers import selectors
from apps.peers.services import PEERS_GROUP, RUNTIMES_GROUP

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.3
Notify = Callable[[], Awaitable[None]]

# One thread reads every marker, keeping one database connection open between polls instead
# of opening one per poll; it is closed when no page is watching.
_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="status-markers")


def _marker_for(topic: str) -> Callable[[], tuple]:
    if topic == "peers":
        return selectors.peers_marker
    if topic == "runtimes":
        return selectors.runtimes_marker
    return partial(selectors.peer_marker, topic.removeprefix("peer:"))


def _read(marker: Callable[[], tuple]) -> tuple:
    try:
        return marker()
    except Exception:
        connection.close()  # reconnect on the next poll (e.g. after a database restart)
        raise


def _close_reader_connection() -> None:
    connection.close()


class MarkerWatcher:
    """Per topic, one polling task shared by every page in this process that watches it."""

    def __init__(self, *, interval: float = POLL_SECONDS) -> None:
        self.interval = interval
        self._subscribers: dict[str, set[Notify]] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    def subscribe(self, topic: str, notify: Notify) -> Callable[[], None]:
        """Call `notify` whenever `topic`'s marker moves; returns the unsubscribe function."""
        self._subscribers.setdefault(topic, set()).add(notify)
        if topic not in self._tasks:
            self._tasks[topic] = asyncio.get_running_loop().create_task(self._poll(topic))

        def unsubscribe() -> None:
            subscribers = self._subscribers.get(topic, set())
            subscribers.discard(notify)
            if not subscribers:
                self._subscribers.pop(topic, None)
                task = self._tasks.pop(topic, None)
                if task is not None:
                    task.cancel()
                if not self._tasks:
                    asyncio.get_running_loop().run_in_executor(_reader, _close_reader_connection)

        return unsubscribe

    async def _poll(self, topic: str) -> None:
        loop = asyncio.get_running_loop()
        marker = _marker_for(topic)
        last: tuple | None = None
        while True:
            try:
                current = await loop.run_in_executor(_reader, _read, marker)
            except Exception:
                logger.warning("status marker %s could not be read", topic, exc_info=True)
            else:
                if last is not None and current != last:
                    await asyncio.gather(
                        *(notify() for notify in list(self._subscribers.get(topic, ()))),
                        return_exceptions=True,
                    )
                last = current
            await asyncio.sleep(self.interval)


watcher = MarkerWatcher()


class StatusConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/status/?topic=...`: staff only; sends `{"type": "changed"}` when the topic moves."""

    topic = ""
    group = ""
    _unsubscribe: Callable[[], None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not (user is not None and user.is_active and user.is_staff):
            await self.close(code=4403)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        topic = query.get("topic", [""])[0]
        if not (topic in {"peers", "runtimes"} or (topic.startswith("peer:") and topic[5:])):
            await self.close(code=4400)
            return
        self.topic = topic
        self.group = RUNTIMES_GROUP if topic == "runtimes" else PEERS_GROUP
        if self.channel_layer is not None:
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self._unsubscribe = watcher.subscribe(topic, self.changed)
        await self.send_json({"type": "hello", "topic": topic})

    async def disconnect(self, code: int) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.group and self.channel_layer is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if content.get("type") == "ping":  # keep-alive from the page
            await self.send_json({"type": "pong"})

    async def status_changed(self, event: dict) -> None:
        """A push from `services.announce_*` (channels-redis across processes)."""
        await self.changed()

    async def changed(self) -> None:
        await self.send_json({"type": "changed", "topic": self.topic})
