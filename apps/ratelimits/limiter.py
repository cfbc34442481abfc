"""Enforcing rate limits in the call path (`apps.tools.call_service.call_tool` asks `admit`
once per call, after it is authorized, and releases the admission when the call ends).

Counting is the `limits` library's moving window; concurrency (calls in flight) is counted
here. Both live in Redis when REDIS_URL is set, so every web worker, the Trio runtime and
every job worker of the node share one count; otherwise in this process's memory (the
embedded profile: one web process).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import anyio
from django.conf import settings
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from apps.ratelimits import metrics
from apps.ratelimits.selectors import LimitView, limits_cache
from mcp_platform.concurrency import run_blocking

# A call in flight whose process died without releasing it stops counting after its budget
# plus this margin (Redis only: in memory, the process's death takes the count with it).
IN_FLIGHT_MARGIN_SECONDS = 30.0
CONCURRENCY_RETRY_AFTER = 1  # seconds: a slot frees when any call in flight ends
KEY_PREFIX = "mcp_platform:ratelimits"


@dataclass
class Admission:
    """What `admit` answers: refused (by which limit, and when to try again), or admitted
    holding slots of concurrency limits until `release`."""

    refused_by: LimitView | None = None
    retry_after: int = 0
    _held: list[tuple[LimitView, str]] = field(default_factory=list)

    async def release(self) -> None:
        if not self._held:
            return
        held, self._held = self._held, []
        store = _store()
        with anyio.CancelScope(shield=True):  # runs while a cancelled call unwinds
            if store.blocking:
                await anyio.to_thread.run_sync(store.release_all, held)
            else:
                store.release_all(held)


ADMITTED = Admission()  # no limit applies: nothing to release


class _Store:
    blocking = False

    def __init__(self, storage) -> None:
        self.storage = storage
        self.windows = MovingWindowRateLimiter(storage)

    def admit(self, rows: list[LimitView], *, tool: str, principal: str, budget: float):
        admission = Admission()
        for row in rows:
            if row.is_concurrency:
                token = uuid.uuid4().hex
                if self.acquire(row, tool=tool, token=token, budget=budget):
                    admission._held.append((_slot_key(row, tool), token))
                    continue
                refusal = CONCURRENCY_RETRY_AFTER
            else:
                item = RateLimitItemPerSecond(row.limit, row.window_seconds)
                keys = (KEY_PREFIX, row.name, tool, principal)
                if self.windows.hit(item, *keys):
                    continue
                reset = self.windows.get_window_stats(item, *keys).reset_time
                refusal = max(1, math.ceil(reset - time.time()))
            self.release_all(admission._held)
            return Admission(refused_by=row, retry_after=refusal)
        return admission

    def acquire(self, row: LimitView, *, tool: str, token: str, budget: float) -> bool:
        raise NotImplementedError

    def release_all(self, held: list[tuple[str, str]]) -> None:
        raise NotImplementedError


class _MemoryStore(_Store):
    def __init__(self) -> None:
        super().__init__(MemoryStorage())
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()

    def acquire(self, row: LimitView, *, tool: str, token: str, budget: float) -> bool:
        key = _slot_key(row, tool)
        with self._lock:
            if self._in_flight[key] >= row.limit:
                return False
            self._in_flight[key] += 1
            return True

    def release_all(self, held: list[tuple[str, str]]) -> None:
        with self._lock:
            for key, _token in held:
                self._in_flight[key] -= 1
                if self._in_flight[key] <= 0:
                    del self._in_flight[key]

    def reset(self) -> None:
        self.storage.reset()
        with self._lock:
            self._in_flight.clear()


class _RedisStore(_Store):
    """Calls in flight are a sorted set per (row, tool): members are calls, scores the time
    each stops counting, so a crashed process's calls expire on their own."""

    blocking = True

    def __init__(self, url: str) -> None:
        import redis

        super().__init__(storage_from_string(url))
        self.redis = redis.Redis.from_url(url)

    def acquire(self, row: LimitView, *, tool: str, token: str, budget: float) -> bool:
        key = _slot_key(row, tool)
        now = time.time()
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {token: now + budget + IN_FLIGHT_MARGIN_SECONDS})
        pipe.zcard(key)
        pipe.expire(key, math.ceil(budget + IN_FLIGHT_MARGIN_SECONDS))
        in_flight = pipe.execute()[2]
        if in_flight > row.limit:
            self.redis.zrem(key, token)
            return False
        return True

    def release_all(self, held: list[tuple[str, str]]) -> None:
        if held:
            pipe = self.redis.pipeline()
            for key, token in held:
                pipe.zrem(key, token)
            pipe.execute()

    def reset(self) -> None:
        self.storage.reset()
        for key in self.redis.scan_iter(f"{KEY_PREFIX}:*"):
            self.redis.delete(key)


def _slot_key(row: LimitView, tool: str) -> str:
    return f"{KEY_PREFIX}:inflight:{row.name}:{tool}"


_stores: dict[str, _Store] = {}
_stores_lock = threading.Lock()


def _store() -> _Store:
    """The store of this process's REDIS_URL (or memory), made once."""
    url = settings.REDIS_URL
    store = _stores.get(url)
    if store is None:
        with _stores_lock:
            store = _stores.get(url)
            if store is None:
                store = _stores[url] = _RedisStore(url) if url else _MemoryStore()
    return store


async def admit(*, tool: str, principal: str, budget: float, version: int | None) -> Admission:
    """Admit a call of `tool` by `principal` (whose run may take `budget` seconds), or refuse
    it naming the limit and when to retry. `version`: the routing version the tool row was
    read at (the rows are read at it). With no limit matching, no count is touched."""
    rows = limits_cache.peek(version)
    if rows is None:
        rows = await run_blocking(limits_cache.get, version)
    matching = [row for row in rows if row.applies_to(tool=tool, principal=principal)]
    if not matching:
        return ADMITTED
    store = _store()
    if store.blocking:
        admission = await anyio.to_thread.run_sync(
            lambda: store.admit(matching, tool=tool, principal=principal, budget=budget)
        )
    else:
        admission = store.admit(matching, tool=tool, principal=principal, budget=budget)
    if admission.refused_by is not None:
        metrics.REFUSED.labels(tool, admission.refused_by.name).inc()
    return admission


def reset() -> None:
    """Forget every count and call in flight (tests)."""
    _store().reset()
    limits_cache.clear()
