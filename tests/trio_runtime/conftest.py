"""Fixtures with real processes: the Trio runtime alone, and a whole platform node."""

from __future__ import annotations

import httpx
import pytest

from apps.tools.services import sync_tools
from tests import tool_fixtures
from tests.harness import PlatformProcess, TrioRuntimeProcess, wait_until

FIXTURE_MODULES = "tests.tool_fixtures"


@pytest.fixture
def test_tools(transactional_db):
    """The test-only tools (registered when tests.tool_fixtures is imported, for every package
    that uses them: not unregistered here) synced into the catalogue."""
    sync_tools()


@pytest.fixture
def counter_file(tmp_path, monkeypatch):
    path = tmp_path / "executions.log"
    monkeypatch.setenv(tool_fixtures.COUNTER_ENV, str(path))  # for fallbacks run in-process
    return path


def executions(path) -> dict[str, list[str]]:
    """call id → the pids it was executed by, from the counter file."""
    seen: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            call_id, pid = line.split()
            seen.setdefault(call_id, []).append(pid)
    return seen


@pytest.fixture
def trio_runtime(test_tools, counter_file, tmp_path):
    runtime = TrioRuntimeProcess(
        tmp_path / "runtime",
        env={
            "MCP_PLATFORM_TOOL_MODULES": FIXTURE_MODULES,
            tool_fixtures.COUNTER_ENV: str(counter_file),
            "MCP_PLATFORM_ROUTING_POLL_SECONDS": "0.2",
            "MCP_PLATFORM_HEARTBEAT_SECONDS": "0.2",
        },
    )
    runtime.start()
    yield runtime
    runtime.stop()


def runtime_health(node: PlatformProcess) -> dict:
    return httpx.get(f"{node.url}/health/runtime", timeout=5).json()


@pytest.fixture
def node_env(counter_file) -> dict[str, str]:
    return {
        "MCP_PLATFORM_TOOL_MODULES": FIXTURE_MODULES,
        tool_fixtures.COUNTER_ENV: str(counter_file),
        "MCP_PLATFORM_HEARTBEAT_SECONDS": "0.5",
    }


@pytest.fixture
def trio_node(test_tools, node_env, tmp_path):
    """A platform node (runplatform: web + Trio runtime) with the test tools, Trio up."""
    node = PlatformProcess(tmp_path / "node", env=node_env)
    node.start()
    try:
        wait_until(
            lambda: runtime_health(node)["trio"] == "up", timeout=120, what="the Trio runtime"
        )
    except AssertionError as exc:
        node.stop()
        raise AssertionError(f"{exc}\n{node.output}") from None
    yield node
    node.stop()
