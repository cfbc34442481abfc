"""/mcp under several web workers (`runplatform --workers 2`): sessions cannot live in one
process, so 2025-era requests are served statelessly and every worker watches the catalogue."""

from __future__ import annotations

import anyio
import pytest
from django.db import connection
from mcp.shared.subscriptions import ToolsListChanged

from apps.tools.models import Tool
from apps.tools.services import set_tools_enabled
from tests.harness import PlatformProcess
from tests.mcp.conftest import TOOL_MODULES, list_all, mcp_client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_worker_node(bulk_tools, tmp_path_factory):
    node = PlatformProcess(
        tmp_path_factory.mktemp("node"),
        env={"MCP_PLATFORM_TOOL_MODULES": TOOL_MODULES},
        args=["--workers", "2"],
    )
    node.start(timeout=180)  # two workers import everything side by side
    yield node
    node.stop()


def test_clients_of_both_eras_work_against_two_web_workers(two_worker_node, new_token):
    token = new_token()
    url = f"{two_worker_node.url}/mcp"
    outcomes: list[str] = []

    async def one(mode: str, number: int) -> None:
        async with mcp_client(url, token, mode=mode) as client:
            _, pages = await list_all(client)
            assert pages >= 3
            for attempt in range(3):
                message = f"{mode}-{number}-{attempt}"
                reply = await client.call_tool("echo", {"message": message})
                assert reply.structured_content == {"message": message}
            outcomes.append(client.protocol_version)

    async def scenario():
        async with anyio.create_task_group() as tasks:
            for number in range(6):
                tasks.start_soon(one, "legacy", number)
                tasks.start_soon(one, "auto", number)

    anyio.run(scenario)
    assert sorted(outcomes) == ["2025-11-25"] * 6 + ["2026-07-28"] * 6


def test_listen_streams_on_every_worker_hear_a_catalogue_change(two_worker_node, new_token):
    token = new_token()
    url = f"{two_worker_node.url}/mcp"

    def disable() -> None:
        try:
            set_tools_enabled(tools=Tool.objects.filter(name="bulk_042"), enabled=False)
        finally:
            connection.close()  # a worker thread's connection must not outlive it

    async def scenario():
        heard = 0
        async with (
            mcp_client(url, token, mode="auto") as first,
            mcp_client(url, token, mode="auto") as second,
            mcp_client(url, token, mode="auto") as third,
            first.listen(tools_list_changed=True) as one,
            second.listen(tools_list_changed=True) as two,
            third.listen(tools_list_changed=True) as three,
        ):
            await anyio.to_thread.run_sync(disable)
            for subscription in (one, two, three):
                with anyio.fail_after(10):
                    async for event in subscription:
                        assert isinstance(event, ToolsListChanged)
                        heard += 1
                        break
            assert "bulk_042" not in [tool.name for tool in (await list_all(first))[0]]
        assert heard == 3

    try:
        anyio.run(scenario)
    finally:
        set_tools_enabled(tools=Tool.objects.filter(name="bulk_042"), enabled=True)
