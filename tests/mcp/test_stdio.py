"""`manage.py mcp_stdio` with the official SDK client over stdio."""

from __future__ import annotations

import os
import secrets
import sys

import anyio
import mcp_types as types
import pytest
from django.db import connection
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from apps.tools.models import Tool
from apps.tools.services import set_tools_enabled
from tests import harness
from tests.mcp.conftest import TOOL_MODULES, list_all

pytestmark = pytest.mark.slow


def _stdio_server(tmp_path, *args: str) -> StdioServerParameters:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"MCP_PLATFORM_TESTING"}},
        "DJANGO_SETTINGS_MODULE": "mcp_platform.settings",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DATABASE_URL": harness.test_database_url(),
        "MCP_PLATFORM_DATA_DIR": str(tmp_path),
        "MCP_PLATFORM_TOOL_MODULES": TOOL_MODULES,
    }
    return StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "mcp_stdio", *args],
        env=env,
        cwd=str(harness.REPO),
    )


def _disable(name: str) -> None:
    """Disable a tool from a worker thread (whose connection must not outlive it)."""
    try:
        set_tools_enabled(tools=Tool.objects.filter(name=name), enabled=False)
    finally:
        connection.close()


def test_stdio_serves_the_catalogue_in_pages_calls_tools_and_tells_of_changes(bulk_tools, tmp_path):
    changed = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async def scenario():
        server = _stdio_server(tmp_path)
        async with Client(server, mode="legacy", message_handler=on_message) as client:
            assert client.server_capabilities.tools.list_changed is True
            capabilities = client.server_capabilities
            assert capabilities.prompts.list_changed and capabilities.resources.subscribe
            assert capabilities.completions is not None
            tools, pages = await list_all(client)
            names = [tool.name for tool in tools]
            assert pages >= 3 and names == sorted(names) and set(bulk_tools) <= set(names)

            echoed = await client.call_tool("echo", {"message": "over stdio"})
            assert echoed.structured_content == {"message": "over stdio"}
            failed = await client.call_tool("calculate", {"a": 1, "b": 0, "operation": "divide"})
            assert failed.is_error and "division by zero" in failed.content[0].text
            invalid = await client.call_tool("calculate", {"b": 1})
            assert invalid.is_error and "a: Field required" in invalid.content[0].text
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("no_such_tool", {})
            assert unknown.value.error.code == -32602

            progress: list[float] = []

            async def on_progress(done, total, message) -> None:
                progress.append(done)

            await client.call_tool("sleep", {"seconds": 1.5}, progress_callback=on_progress)
            assert progress and progress[-1] == 1.5

            # A change made by another process reaches the stdio session too.
            await anyio.to_thread.run_sync(_disable, "bulk_007")
            with anyio.fail_after(10):
                await changed.wait()
            assert "bulk_007" not in [tool.name for tool in (await list_all(client))[0]]

        async with Client(_stdio_server(tmp_path), mode="auto") as modern:
            assert modern.protocol_version == "2026-07-28"
            reply = await modern.call_tool("echo", {"message": "modern stdio"})
            assert reply.structured_content == {"message": "modern stdio"}

    try:
        anyio.run(scenario)
    finally:
        set_tools_enabled(tools=Tool.objects.filter(name="bulk_007"), enabled=True)


def test_stdio_with_a_token_acts_as_that_token(bulk_tools, new_token, tmp_path):
    token = new_token(scopes=("tools:read",), allowed_tools="echo*")

    async def scenario():
        async with Client(_stdio_server(tmp_path, "--token", token), mode="legacy") as client:
            assert [tool.name for tool in (await list_all(client))[0]] == ["echo"]
            with pytest.raises(MCPError) as denied:
                await client.call_tool("echo", {"message": "no"})
            assert denied.value.error.code == -32001

    anyio.run(scenario)
