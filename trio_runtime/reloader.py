"""The routing reloader: keeps this runtime's routing table at the current routing version.

Three ways to learn of a change, all ending in `reload()`: the control endpoint (the web
process calls it on commit), Redis pub/sub when REDIS_URL is set, and polling as a safety net.
Listeners (the MCP endpoint's `tools/list_changed`) are called after each version change.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from django.db import close_old_connections

from apps.routing.router import RoutingTable, cache
from apps.routing.selectors import ROUTING_VERSION
from trio_runtime.state import RuntimeState

logger = logging.getLogger(__name__)

Listener = Callable[[RoutingTable], Awaitable[None] | None]
REDIS_RETRY_SECONDS = 2.0


def _load_current() -> RoutingTable:
    close_old_connections()
    return cache.get()


class RoutingReloader:
    def __init__(self, state: RuntimeState) -> None:
        self.state = state
        self.listeners: list[Listener] = []
        self._lock = trio.Lock()

    def on_change(self, listener: Listener) -> None:
        self.listeners.append(listener)

    async def reload(self, *, reason: str = "") -> int:
        """Load the current table if the version moved; returns the version now served."""
        async with self._lock:
            table = await trio.to_thread.run_sync(_load_current)
            if table.version == self.state.routing_version:
                return table.version
            previous, self.state.routing_version = self.state.routing_version, table.version
            ROUTING_VERSION.observe(table.version)  # the call path's caches, before the news
            logger.info("routing version %s → %s (%s)", previous, table.version, reason or "reload")
            for listener in list(self.listeners):
                try:
                    outcome = listener(table)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:
                    logger.exception("routing change listener %r failed", listener)
            return table.version

    async def poll(self, *, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            try:
                await self.reload(reason="poll")
            except Exception:
                logger.exception("routing poll failed")

    async def listen_redis(self, url: str) -> None:
        """Reload on every routing-version message; reconnects after errors."""
        import redis

        from apps.routing.announce import REDIS_CHANNEL

        while True:
            try:
                client = redis.Redis.from_url(url, socket_timeout=5)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await trio.to_thread.run_sync(pubsub.subscribe, REDIS_CHANNEL)
                try:
                    while True:
                        # The thread returns within a second, so cancellation is prompt.
                        message = await trio.to_thread.run_sync(
                            partial(pubsub.get_message, timeout=1.0), abandon_on_cancel=True
                        )
                        if message is not None:
                            await self.reload(reason=f"redis {message.get('data')!r}")
                finally:
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(client.close)
            except Exception as exc:
                logger.warning("redis routing subscription failed (%r); retrying", exc)
                await trio.sleep(REDIS_RETRY_SECONDS)
