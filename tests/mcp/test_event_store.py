"""The bounds of the SSE event store that makes 2025-era streams resumable
(apps.tools.mcp_events): an operator relies on it never growing past its limits, and a client
on getting back exactly the events after the one it names, of its own session only."""

from __future__ import annotations

import gc

import anyio
from mcp_types import JSONRPCNotification

from apps.tools.mcp_events import EventBuffer


def _note(n: int) -> JSONRPCNotification:
    return JSONRPCNotification(
        jsonrpc="2.0",
        method="notifications/progress",
        params={"progressToken": "t", "progress": n},
    )


async def _replayed(store, last_event_id: str) -> tuple[str | None, list[tuple[str, int]]]:
    got = []

    async def collect(event) -> None:
        got.append((event.event_id, event.message.params["progress"]))

    stream = await store.replay_events_after(last_event_id, collect)
    return stream, got


def test_replay_gives_the_later_events_of_the_same_stream_and_session_only():
    async def scenario():
        buffer = EventBuffer(per_stream=100, max_age=300, max_bytes=1 << 20)
        mine, theirs = buffer.session_store(), buffer.session_store()
        priming = await mine.store_event("1", None)
        ids = [await mine.store_event("1", _note(n)) for n in range(3)]
        await mine.store_event("2", _note(99))  # another request's stream
        await theirs.store_event("1", _note(42))  # the same request id in another session

        assert await _replayed(mine, priming) == ("1", list(zip(ids, range(3), strict=True)))
        assert await _replayed(mine, ids[1]) == ("1", [(ids[2], 2)])
        assert await _replayed(theirs, priming) == (None, [])
        assert await _replayed(mine, "no-such-event") == (None, [])

    anyio.run(scenario)


def test_the_store_stays_within_its_bounds_per_stream_and_in_bytes():
    async def scenario():
        buffer = EventBuffer(per_stream=5, max_age=300, max_bytes=2000)
        store = buffer.session_store()
        first = await store.store_event("1", _note(0))
        for n in range(1, 50):
            await store.store_event("1", _note(n))
        assert len(buffer) == 5
        assert await _replayed(store, first) == (None, [])  # evicted: an empty stream
        for n in range(200):
            await store.store_event(str(n), _note(n))  # many streams: the bytes bound holds
        assert buffer.bytes <= 2000 and len(buffer) < 200
        for n in range(200):
            await store.store_event(f"p{n}", None)  # priming events have no message, but cost
        assert buffer.bytes <= 2000 and len(buffer) < 200

    anyio.run(scenario)


def test_a_sessions_events_go_when_its_store_does():
    async def scenario():
        buffer = EventBuffer(per_stream=100, max_age=300, max_bytes=1 << 20)
        kept, ended = buffer.session_store(), buffer.session_store()
        await kept.store_event("1", _note(1))
        for n in range(10):
            await ended.store_event("1", _note(n))
        del ended
        gc.collect()  # the store's finalizer (in whatever thread collects it) queues its session
        await kept.store_event("1", _note(2))  # the next use, on the loop, forgets it
        assert len(buffer) == 2

    anyio.run(scenario)
