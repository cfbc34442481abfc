"""Test-only tools, loaded into platform children with MCP_PLATFORM_TOOL_MODULES=tests.tool_fixtures.

Executions are counted for real: each one appends a line `<call_id> <pid>` to the file named by
MCP_PLATFORM_TEST_COUNTER_FILE (one O_APPEND write per line, atomic across processes).
"""

from __future__ import annotations

import os
import threading

import anyio
import sniffio

from apps.tools import registry

COUNTER_ENV = "MCP_PLATFORM_TEST_COUNTER_FILE"


def _count(call_id: str) -> None:
    path = os.environ.get(COUNTER_ENV)
    if not path:
        raise RuntimeError(f"{COUNTER_ENV} is not set")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{call_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


async def test_counter(call_id: str) -> dict:
    """Count one execution of `call_id` (async) and say where it ran."""
    _count(call_id)
    return {"call_id": call_id, "pid": os.getpid(), "loop": sniffio.current_async_library()}


async def test_p2p_probe(call_id: str) -> dict:
    """Count one execution of `call_id`; requires P2P, so it never falls back."""
    _count(call_id)
    return {"call_id": call_id, "pid": os.getpid()}


def test_where_sync() -> dict:
    """Where a sync tool runs: pid and thread."""
    return {"pid": os.getpid(), "thread": threading.current_thread().name}


async def test_where_async() -> dict:
    """Where an async tool runs: pid and event loop."""
    return {"pid": os.getpid(), "loop": sniffio.current_async_library()}


async def test_resumable_stream(ctx: registry.ToolContext) -> str:
    """Report progress 1 of 2, end this call's SSE stream (resumable MCP sessions), then answer
    after a moment: the client hears both on the stream it resumes with Last-Event-ID."""
    from apps.tools.mcp_events import close_sse_stream

    await ctx.report_progress(1, 2, "before the stream closed")
    closed = await close_sse_stream()
    await anyio.sleep(0.3)
    return f"answered after the stream {'closed' if closed else 'stayed open'}"


TOOLS = {
    "test_counter": (test_counter, {"category": "testing", "fallback_allowed": True}),
    "test_p2p_probe": (test_p2p_probe, {"category": "testing", "requires_p2p": True}),
    "test_where_sync": (test_where_sync, {"category": "testing"}),
    "test_where_async": (test_where_async, {"category": "testing"}),
    "test_resumable_stream": (
        test_resumable_stream,
        {"category": "testing", "runtime": "asyncio"},
    ),
}


def register_all() -> None:
    for name, (func, metadata) in TOOLS.items():
        registry.register(func, name=name, **metadata)


register_all()
