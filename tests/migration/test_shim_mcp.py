"""The sample legacy tool package over real MCP (Streamable HTTP at /mcp of a running node)."""

from __future__ import annotations

import anyio
import httpx
import pytest

from tests.harness import PlatformProcess
from tests.mcp.conftest import list_all, mcp_client
from tests.migration.conftest import LEGACY_PACKAGE

pytestmark = pytest.mark.slow


@pytest.fixture
def legacy_node(transactional_db, legacy_tools, tmp_path):
    """A platform node loading the sample legacy package by its environment setting."""
    node = PlatformProcess(
        tmp_path / "node", env={"MCP_PLATFORM_LEGACY_TOOL_MODULES": LEGACY_PACKAGE}
    )
    node.start()
    yield node
    node.stop()


def test_legacy_tools_are_listed_and_called_over_mcp_with_error_dicts_as_tool_errors(
    legacy_node, make_token
):
    token = make_token()

    async def scenario():
        async with mcp_client(f"{legacy_node.url}/mcp", token, mode="legacy") as client:
            tools, _ = await list_all(client)
            names = {tool.name for tool in tools}
            assert {"load_dataset", "pin_to_ipfs"} <= names

            loaded = await client.call_tool("load_dataset", {"source": "squad"})
            assert not loaded.is_error
            assert loaded.structured_content["rows"] == 87599

            missing = await client.call_tool("load_dataset", {"source": "nope"})
            assert missing.is_error
            assert missing.content[0].text == "dataset 'nope' not found"

            pinned = await client.call_tool("ipfs_tools.pin_to_ipfs", {"content_path": "/d"})
            assert not pinned.is_error and pinned.structured_content["cid"].startswith("bafy")

    anyio.run(scenario)


def test_legacy_tools_over_rest_on_a_real_node_carry_the_deprecation_headers(
    legacy_node, make_token
):
    headers = {"Authorization": f"Bearer {make_token()}"}
    ok = httpx.post(
        f"{legacy_node.url}/tools/execute/load_dataset", json={"source": "imdb"}, headers=headers
    )
    assert ok.status_code == 200 and ok.json()["result"]["rows"] == 25000
    assert ok.headers["Link"] == '</api/v2/tools/load_dataset/call>; rel="successor-version"'
    assert ok.headers["Deprecation"].startswith("@")
    failed = httpx.post(
        f"{legacy_node.url}/tools/execute/load_dataset", json={"source": "x"}, headers=headers
    )
    assert failed.status_code == 500
    assert failed.json()["error"] == "Tool execution failed: dataset 'x' not found"
    v2 = httpx.get(f"{legacy_node.url}/api/v2/tools/", headers=headers)
    assert v2.headers["API-Version"] == "2"
