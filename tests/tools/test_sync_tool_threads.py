"""Sync tools run in a thread pool of their own, on both event loops: tools stuck past their
timeout hold at most MCP_PLATFORM_SYNC_TOOL_THREADS threads, and the database calls of the
process (Django's and Trio's default thread pools) keep working."""

from __future__ import annotations

import threading

import anyio
import pytest

from apps.access.principals import SCOPE_CALL, SCOPE_READ, Principal
from apps.tools import registry
from apps.tools.call_service import call_tool
from apps.tools.models import Tool
from apps.tools.services import sync_tools

release = threading.Event()
started: list[int] = []
started_lock = threading.Lock()


def stuck_sync_tool() -> str:
    """Blocks until the test lets it go (past its timeout)."""
    with started_lock:
        started.append(threading.get_ident())
    release.wait(60)
    return "released"


@pytest.fixture
def stuck_tool(transactional_db, settings):
    settings.MCP_PLATFORM_SYNC_TOOL_THREADS = 3
    registry.register(stuck_sync_tool, name="stuck_sync_tool", timeout_seconds=0.5)
    sync_tools()
    release.clear()
    started.clear()
    yield
    release.set()
    registry.unregister("stuck_sync_tool")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stuck_sync_tools_hold_only_their_own_threads(stuck_tool, backend):
    principal = Principal(name="t", kind="system", scopes=frozenset({SCOPE_READ, SCOPE_CALL}))
    # More stuck calls than the default thread pools have threads (40 on both loops).
    calls = 45

    async def main() -> tuple[list, int]:
        results: list = []

        async def one() -> None:
            results.append(await call_tool("stuck_sync_tool", {}, principal, "test"))

        async with anyio.create_task_group() as group:
            for _ in range(calls):
                group.start_soon(one)
        # Every call timed out; the database is still reachable from a worker thread.
        with anyio.fail_after(10):
            count = await anyio.to_thread.run_sync(Tool.objects.count)
        return results, count

    results, count = anyio.run(main, backend=backend)
    assert len(results) == calls
    assert all(r.is_error and "timed out" in r.text for r in results)
    assert count >= 1
    assert len(started) == 3  # only the sync tools' own threads got stuck
