"""Blocking work (ORM, files) off the event loop, on whichever loop is running."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import sniffio
from anyio.lowlevel import RunVar

T = TypeVar("T")


async def run_blocking(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `func` in a worker thread: asgiref's on asyncio (Django's own, so it shares the
    request's database connection), Trio's thread pool on Trio."""
    call = functools.partial(func, *args, **kwargs)
    if sniffio.current_async_library() == "trio":
        import trio

        return await trio.to_thread.run_sync(call)
    from asgiref.sync import sync_to_async

    return await sync_to_async(call, thread_sensitive=True)()


_sync_tools: RunVar[tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]] = RunVar(
    "sync_tool_limiters"
)


def sync_tool_limiter() -> anyio.CapacityLimiter:
    """The threads sync tools may hold, per event loop, apart from those of the ORM and the
    rest: a tool stuck past its timeout keeps its thread (a thread cannot be stopped), and must
    not take one the database calls need."""
    return _sync_tool_limiters()[0]


def _sync_tool_limiters() -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
    from django.conf import settings

    try:
        return _sync_tools.get()
    except LookupError:
        size = settings.MCP_PLATFORM_SYNC_TOOL_THREADS
        # The second one only carries the threads (anyio's default pool would be shared).
        limiters = (anyio.CapacityLimiter(size), anyio.CapacityLimiter(size))
        _sync_tools.set(limiters)
        return limiters


async def run_sync_tool(func: Callable[[], T]) -> T:
    """Run a sync tool in a thread of the sync tools' pool; cancelling the caller abandons the
    thread, which keeps its place in the pool until the tool really returns (anyio gives an
    abandoned thread's place back at once on asyncio, so the place is held here)."""
    limiter, carrier = _sync_tool_limiters()
    borrower = object()
    await limiter.acquire_on_behalf_of(borrower)
    loop = anyio.lowlevel.current_token()
    gate = threading.Lock()
    state = "pending"  # then "running" (the thread's), or "abandoned" (the caller gave up first)

    def run() -> T:
        nonlocal state
        with gate:
            if state == "abandoned":
                return None  # type: ignore[return-value]  (nobody waits for it)
            state = "running"
        try:
            return func()
        finally:
            # Once the event loop is gone there is nothing left to release.
            with contextlib.suppress(Exception):
                anyio.from_thread.run_sync(limiter.release_on_behalf_of, borrower, token=loop)

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True, limiter=carrier)
    except BaseException:
        with gate:
            never_ran = state == "pending"
            state = "abandoned" if never_ran else state
        if never_ran:
            limiter.release_on_behalf_of(borrower)
        raise
