"""A running platform node with the 300 bulk tools and the test tools, and SDK client helpers."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from apps.tools.services import sync_tools
from tests.harness import PlatformProcess

TOOL_MODULES = "tests.mcp.bulk_tools,tests.tool_fixtures"


@pytest.fixture
def bulk_tools(transactional_db):
    """The 300 bulk tools and the test tools, registered here and synced into the database."""
    bulk = importlib.import_module("tests.mcp.bulk_tools")
    importlib.import_module("tests.tool_fixtures")
    bulk.register_all()
    sync_tools()
    yield bulk.NAMES
    bulk.unregister_all()


@pytest.fixture
def mcp_node(bulk_tools, tmp_path):
    """A platform node (runplatform) that serves the bulk tools too."""
    node = PlatformProcess(tmp_path / "node", env={"MCP_PLATFORM_TOOL_MODULES": TOOL_MODULES})
    node.start()
    yield node
    node.stop()


@contextlib.asynccontextmanager
async def mcp_client(
    url: str, token: str | None, *, mode: str = "legacy", headers: dict | None = None, **kwargs
) -> AsyncIterator[Client]:
    """An official SDK client of `url` (Streamable HTTP) sending the bearer token."""
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120))
    async with (
        http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs) as c,
    ):
        yield c


async def list_all(client: Client) -> list:
    """Every tool, page by page; fails if the pages do not end."""
    tools, cursor, pages = [], None, 0
    while True:
        pages += 1
        assert pages < 50, "tools/list never ended"
        page = await client.list_tools(cursor=cursor, cache_mode="bypass")
        tools.extend(page.tools)
        if page.next_cursor is None:
            return tools, pages
        cursor = page.next_cursor
