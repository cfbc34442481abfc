"""Resumable SSE streams for 2025-era MCP sessions held in this process (SEP-1699).

With an event store the SDK's Streamable HTTP transport (mcp 2.3.0) gives every SSE event of a
session an id, opens each stream of a 2025-11-25 client with a *priming event* (an id, empty
data and a `retry:` field), and answers a `GET` carrying `Last-Event-ID` with the events of that
stream the client missed, then the rest of the stream as it happens. So a client whose POST
stream broke (or which the server told to go away, `close_sse_stream()` below) still gets the
result of its call, and a broken GET stream loses no `list_changed`.

The events live here, in this process's memory, bounded three ways (docs/configuration.md):
`MCP_PLATFORM_MCP_EVENTS_PER_STREAM` events per stream (the oldest go first),
`MCP_PLATFORM_MCP_EVENTS_MAX_AGE_SECONDS`, and `MCP_PLATFORM_MCP_EVENTS_MAX_BYTES` of serialized
messages for all sessions of all the process's endpoints together (`process_buffer`). A client
resuming after an event that is gone gets an empty stream. Each session has a store of its own (`EventBuffer.session_store`): stream ids are
JSON-RPC request ids, which repeat across sessions, and a client resumes only within the session
its `Mcp-Session-Id` names (the transport checks it), never another's events.

Only sessions held in one process are resumable, as they are with any number of web workers
(each keeps its own, and the others relay their requests: apps.tools.mcp_relay); sessions shared
statelessly (MCP_PLATFORM_MCP_STATELESS, apps.tools.mcp_sessions) have no event store.
"""

from __future__ import annotations

import contextvars
import itertools
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import JSONRPCMessage, jsonrpc_message_adapter

_closer: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar(
    "mcp_sse_stream_closer", default=None
)


async def close_sse_stream() -> bool:
    """End the SSE stream of the MCP request being served (SEP-1699 polling): the client
    reconnects after the stream's `retry` interval with `Last-Event-ID` and gets what it missed,
    the result included. For long calls that should not hold a connection open.

    True when the stream was closed; False where there is none to close or it could not be
    resumed (no MCP request, a client before 2025-11-25, sessions shared statelessly
    (MCP_PLATFORM_MCP_STATELESS), a tool run on the Trio runtime): then the call simply goes on on its stream."""
    closer = _closer.get()
    if closer is None:
        return False
    await closer()
    return True


async def middleware(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Server middleware: lets the request's handler (a tool) call `close_sse_stream()`. The SDK
    offers the callback only for resumable streams (an event store, 2025-11-25 or later)."""
    token = _closer.set(getattr(ctx, "close_sse_stream", None))
    try:
        return await call_next(ctx)
    finally:
        _closer.reset(token)


# What an event costs besides its message (the record, its id, its place in the deques): a
# priming event has no message but is not free.
EVENT_OVERHEAD = 256


def _size(data: str | None) -> int:
    return EVENT_OVERHEAD + len(data or "")


@dataclass(slots=True)
class _Event:
    key: tuple[int, StreamId]  # (session store, stream)
    data: str | None  # the serialized message; None for a priming event
    at: float


class EventBuffer:
    """The SSE events of every session of one manager, bounded per stream, in age and in
    bytes for all of them. Event ids are a counter; each session's store only sees its own."""

    def __init__(self, *, per_stream: int, max_age: float, max_bytes: int):
        self.per_stream = max(1, per_stream)
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._events: OrderedDict[int, _Event] = OrderedDict()  # oldest first
        self._streams: dict[tuple[int, StreamId], deque[int]] = {}
        self._ids = itertools.count(1)
        self._owners = itertools.count(1)
        # Sessions gone: a store's finalizer may run in any thread (whenever the collector
        # frees it), so it only queues its owner; the loop's thread forgets them (`_purge`).
        self._gone: deque[int] = deque()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._events)

    def session_store(self) -> SessionEventStore:
        """A store for one session; its events are dropped when it is garbage (the session's
        transport went away)."""
        store = SessionEventStore(self, next(self._owners))
        weakref.finalize(store, self._gone.append, store.owner)
        return store

    def add(self, owner: int, stream_id: StreamId, data: str | None) -> EventId:
        self._purge()
        now = time.monotonic()
        event_id = next(self._ids)
        key = (owner, stream_id)
        self._events[event_id] = _Event(key, data, now)
        self.bytes += _size(data)
        stream = self._streams.setdefault(key, deque())
        stream.append(event_id)
        while len(stream) > self.per_stream:
            self._drop(stream.popleft())
        self._evict(now)
        return str(event_id)

    def after(
        self, owner: int, last_event_id: EventId
    ) -> tuple[StreamId, list[tuple[str, str]]] | None:
        """The stream of `last_event_id` and the (id, message) pairs stored after it, or None
        when the id is not one of `owner`'s events (unknown, evicted or another session's)."""
        self._purge()
        self._evict(time.monotonic())
        try:
            event = self._events.get(int(last_event_id))
        except ValueError:
            return None
        if event is None or event.key[0] != owner:
            return None
        later = [(i, self._events[i].data) for i in self._streams[event.key]]
        return event.key[1], [
            (str(i), data) for i, data in later if i > int(last_event_id) and data is not None
        ]

    def _evict(self, now: float) -> None:
        events = self._events
        while events:
            oldest_id, oldest = next(iter(events.items()))
            if self.bytes <= self.max_bytes and now - oldest.at <= self.max_age:
                break
            self._drop(oldest_id)
            stream = self._streams.get(oldest.key)
            if stream and stream[0] == oldest_id:
                stream.popleft()
                if not stream:
                    del self._streams[oldest.key]

    def _drop(self, event_id: int) -> None:
        event = self._events.pop(event_id, None)
        if event is not None:
            self.bytes -= _size(event.data)

    def _purge(self) -> None:
        while self._gone:
            self._forget(self._gone.popleft())

    def _forget(self, owner: int) -> None:
        for key in [key for key in self._streams if key[0] == owner]:
            for event_id in self._streams.pop(key):
                self._drop(event_id)


_process_buffer: EventBuffer | None = None


def process_buffer() -> EventBuffer:
    """The buffer every MCP endpoint of this process (`/mcp`, each `/mcp/<slug>`) keeps its
    sessions' events in, so the settings bound them all together."""
    global _process_buffer
    if _process_buffer is None:
        from django.conf import settings

        _process_buffer = EventBuffer(
            per_stream=settings.MCP_PLATFORM_MCP_EVENTS_PER_STREAM,
            max_age=settings.MCP_PLATFORM_MCP_EVENTS_MAX_AGE_SECONDS,
            max_bytes=settings.MCP_PLATFORM_MCP_EVENTS_MAX_BYTES,
        )
    return _process_buffer


class SessionEventStore(EventStore):
    """The SDK's EventStore for one session, over the shared bounded buffer."""

    def __init__(self, buffer: EventBuffer, owner: int):
        self._buffer = buffer
        self.owner = owner

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        data = None
        if message is not None:
            data = message.model_dump_json(by_alias=True, exclude_unset=True)
        return self._buffer.add(self.owner, stream_id, data)

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        found = self._buffer.after(self.owner, last_event_id)
        if found is None:
            return None
        stream_id, messages = found
        for event_id, data in messages:
            message = jsonrpc_message_adapter.validate_json(data)
            await send_callback(EventMessage(message, event_id))
        return stream_id


class ResumableSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager with one event store per session over `events`.

    The SDK hands its `event_store` to each session's transport when it opens the session (and
    uses it nowhere else), so reading the attribute gives a new session's store here."""

    def __init__(self, *, events: EventBuffer, **kwargs: Any):
        self._events = events
        super().__init__(**kwargs)

    @property  # type: ignore[override]
    def event_store(self) -> EventStore | None:
        return self._events.session_store()

    @event_store.setter
    def event_store(self, value: EventStore | None) -> None:
        if value is not None:
            raise ValueError("ResumableSessionManager keeps its own event stores")
