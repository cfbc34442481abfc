"""Blocking work (ORM, files) off the event loop, on whichever loop is running.

On asyncio, a serving process (the web process, from its lifespan) runs it on a small pool of
long-lived threads (`MCP_PLATFORM_DB_THREADS`), each keeping its database connection open
between uses (CONN_MAX_AGE, with health checks). Elsewhere (tests, commands) it runs on
asgiref's thread-sensitive executor, which shares the caller's connection and transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio
import sniffio
from anyio.lowlevel import RunVar

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def start_db_threads(*, threads: int) -> None:
    """Run blocking work on `threads` long-lived threads from now on (idempotent)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="db")


def stop_db_threads() -> None:
    """Close the threads' connections and stop them (shutdown)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        from django.db import connections

        # One close per thread: each waits at the barrier, so no thread takes two.
        threads = len(pool._threads)
        barrier = threading.Barrier(threads) if threads else None

        def close_this_threads() -> None:
            connections.close_all()
            barrier.wait(timeout=10)

        for _ in range(threads):
            pool.submit(close_this_threads)
        pool.shutdown(wait=True)


def _in_db_thread(call: Callable[[], T]) -> T:
    from django.db import close_old_connections

    # What Django does at a request's start: drop a connection past its age or broken, and
    # check a kept one before use (CONN_HEALTH_CHECKS).
    close_old_connections()
    return call()


async def run_blocking(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `func` in a worker thread: the DB threads or asgiref's on asyncio, Trio's thread
    pool on Trio."""
    call = functools.partial(func, *args, **kwargs)
    if sniffio.current_async_library() == "trio":
        import trio

        return await trio.to_thread.run_sync(call)
    pool = _pool
    if pool is not None:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            pool, _in_db_thread, functools.partial(context.run, call)
        )
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
