"""Fixtures of the migration tests: sample files, a catalogue with legacy families, snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.migration.shim import SHIM_MARK
from apps.peers.models import BootstrapNode, P2PSettings
from apps.routing.models import RoutingRule, RoutingVersion, RuntimeSettings
from apps.tools import registry
from apps.tools.discovery import discover_tools
from apps.tools.models import Tool
from apps.tools.services import sync_tools

LEGACY_PACKAGE = "tests.migration.legacy_tools"
SAMPLES = Path(__file__).parent / "samples"

# name → category: one tool per legacy family, and tools of two legacy categories.
LEGACY_TOOLS = {
    "load_dataset": "dataset",
    "execute_workflow": "dataset",  # not of the workflow family: families are anchored
    "ipfs_pin": "ipfs",
    "peer_legacy_probe": "p2p",
    "workflow_legacy_status": "p2p",
    "taskqueue_legacy_submit": "p2p",
}


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


@pytest.fixture
def tools(catalogue):
    """The built-in tools plus rows for the legacy families and categories."""
    for name, category in LEGACY_TOOLS.items():
        Tool.objects.create(name=name, category=category)


def enabled(name: str) -> bool:
    return Tool.objects.get(name=name).enabled


def snapshot() -> dict:
    """Everything an import may write, to compare before and after."""
    return {
        "runtime": list(RuntimeSettings.objects.values()),
        "rules": list(RoutingRule.objects.order_by("id").values()),
        "version": list(RoutingVersion.objects.values()),
        "tools": list(Tool.objects.order_by("name").values("name", "enabled", "updated_at")),
        "bootstrap": list(BootstrapNode.objects.order_by("id").values()),
        "p2p": list(P2PSettings.objects.values()),
    }


@pytest.fixture
def legacy_tools(settings):
    """The sample legacy package registered the way an operator does it: by the setting.
    (Request a database fixture first.)"""
    settings.MCP_PLATFORM_LEGACY_TOOL_MODULES = [LEGACY_PACKAGE]
    discover_tools()
    sync_tools()
    yield
    for name, spec in registry.all_specs().items():
        if getattr(spec.func, SHIM_MARK, False):
            registry.unregister(name)
