"""Blocking work (ORM, files) off the event loop, on whichever loop is running."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import sniffio

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
