"""Live behaviour on /mcp: tools/list_changed on admin changes, progress, cancellation."""

from __future__ import annotations

import time

import anyio
import httpx
import mcp_types as types
import pytest
from django.db import connection
from django.test import Client as DjangoClient
from django.utils import timezone
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ToolsListChanged

from apps.tools.models import Outcome, Tool, ToolCall
from tests.admin_forms import submit_change_form
from tests.harness import wait_until
from tests.mcp.conftest import list_all, mcp_client

pytestmark = pytest.mark.slow


def _set_enabled_in_admin(staff_user, name: str, enabled: bool) -> None:
    """An admin ticks or unticks `enabled` on the tool's change form (from a worker thread)."""
    try:
        browser = DjangoClient()
        browser.force_login(staff_user)
        tool = Tool.objects.get(name=name)
        submit_change_form(browser, f"/admin/tools/tool/{tool.pk}/change/", enabled=enabled)
    finally:
        connection.close()


def test_open_sessions_of_both_eras_hear_list_changed_when_an_admin_disables_a_tool(
    mcp_node, new_token, staff_user
):
    token = new_token()
    url = f"{mcp_node.url}/mcp"
    changed = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async def scenario():
        async with (
            mcp_client(url, token, mode="legacy", message_handler=on_message) as legacy,
            mcp_client(url, token, mode="auto") as modern,
            modern.listen(tools_list_changed=True) as subscription,
        ):
            assert modern.protocol_version == "2026-07-28"
            assert "bulk_150" in [tool.name for tool in (await list_all(legacy))[0]]
            await anyio.sleep(0.5)  # the client opens its GET stream after the handshake
            await anyio.to_thread.run_sync(_set_enabled_in_admin, staff_user, "bulk_150", False)
            with anyio.fail_after(10):
                await changed.wait()
            with anyio.fail_after(10):
                async for event in subscription:
                    assert isinstance(event, ToolsListChanged)
                    break
            assert "bulk_150" not in [tool.name for tool in (await list_all(legacy))[0]]
            assert "bulk_150" not in [tool.name for tool in (await list_all(modern))[0]]

    try:
        anyio.run(scenario)
    finally:
        _set_enabled_in_admin(staff_user, "bulk_150", True)


def test_progress_notifications_arrive_for_a_long_tool(mcp_node, new_token):
    token = new_token()
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress, total, message) -> None:
        seen.append((progress, total, message))

    async def scenario():
        for mode in ("legacy", "auto"):
            seen.clear()
            async with mcp_client(f"{mcp_node.url}/mcp", token, mode=mode) as client:
                reply = await client.call_tool(
                    "sleep", {"seconds": 2.5}, progress_callback=on_progress
                )
                assert reply.structured_content["slept"] == 2.5
            assert len(seen) >= 2, (mode, seen)
            assert seen[-1][0] == 2.5 and seen[-1][1] == 2.5 and seen[-1][2] == "sleeping"

    anyio.run(scenario)


def _sleeps_since(since, outcome: str) -> list[ToolCall]:
    calls = ToolCall.objects.filter(tool_name="sleep", via="mcp", started_at__gte=since)
    return list(calls.filter(outcome=outcome))


def test_cancelling_a_sleep_call_stops_the_tool(mcp_node, new_token):
    token = new_token()

    async def scenario():
        for mode in ("legacy", "auto"):
            async with mcp_client(f"{mcp_node.url}/mcp", token, mode=mode) as client:
                with anyio.move_on_after(1.5) as scope:
                    await client.call_tool("sleep", {"seconds": 30})
                assert scope.cancelled_caught
                await client.call_tool("echo", {"message": "still serving"})

    started = time.monotonic()
    since = timezone.now()
    anyio.run(scenario)
    # The call log records each call when it ends: as cancelled, long before its 30 s were up.
    rows = wait_until(
        lambda: (rows := _sleeps_since(since, Outcome.CANCELLED)) and len(rows) == 2 and rows,
        timeout=20,
        what="two cancelled sleep calls in the call log",
    )
    assert all(row.duration_ms < 15_000 for row in rows), [row.duration_ms for row in rows]
    assert time.monotonic() - started < 25
    assert not _sleeps_since(since, Outcome.SUCCESS)


def _edit_in_admin(staff_user, name: str, **changes) -> None:
    """An admin saves the tool's change form with `changes` (from a worker thread)."""
    try:
        browser = DjangoClient()
        browser.force_login(staff_user)
        tool = Tool.objects.get(name=name)
        submit_change_form(browser, f"/admin/tools/tool/{tool.pk}/change/", **changes)
    finally:
        connection.close()


def test_the_trio_runtime_serves_trio_routed_tools_on_its_own_mcp_and_tells_of_changes(
    mcp_node, new_token, staff_user
):
    token = new_token()
    url = f"{mcp_node.trio_url}/mcp"
    wait_until(
        lambda: httpx.get(f"{mcp_node.trio_url}/health", timeout=2).status_code == 200,
        timeout=60,
        what="the Trio runtime's /health",
    )
    changes: list[anyio.Event] = [anyio.Event()]

    async def on_message(message) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changes[-1].set()

    async def names(client) -> list[str]:
        return [tool.name for tool in (await list_all(client))[0]]

    async def admin_edit(client, **edit) -> None:
        changes.append(anyio.Event())
        await anyio.to_thread.run_sync(lambda: _edit_in_admin(staff_user, "bulk_200", **edit))
        with anyio.fail_after(10):
            await changes[-1].wait()

    async def scenario():
        async with mcp_client(url, token, mode="legacy", message_handler=on_message) as client:
            assert client.server_info.name == "mcp-platform-trio"
            assert "bulk_200" not in await names(client)  # routed to asyncio by default
            await anyio.sleep(0.5)  # the client opens its GET stream after the handshake
            with pytest.raises(MCPError):
                await client.call_tool("bulk_200", {"value": 1})

            await admin_edit(client, runtime="trio")
            assert "bulk_200" in await names(client)
            reply = await client.call_tool("bulk_200", {"value": 1})
            assert reply.structured_content == {"index": 200, "value": 1}
            assert reply.meta["dev.mcp-platform/call"]["runtime"] == "trio"

            async with mcp_client(url, token, mode="auto") as modern:
                assert modern.protocol_version == "2026-07-28"
                reply = await modern.call_tool("bulk_200", {"value": 2})
                assert reply.structured_content == {"index": 200, "value": 2}

            await admin_edit(client, enabled=False)
            assert "bulk_200" not in await names(client)

    try:
        anyio.run(scenario)
    finally:
        _edit_in_admin(staff_user, "bulk_200", runtime="auto", enabled=True)
