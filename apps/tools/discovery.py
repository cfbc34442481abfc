"""Find tool implementations: apps' tools.py, MCP_PLATFORM_TOOL_MODULES, entry points, and
the sources other apps add (the migration app's legacy modules, through its shim)."""

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points

from django.conf import settings
from django.utils.module_loading import autodiscover_modules

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mcp_platform.tools"

# More sources of tools, added by apps that sit above this one (they run at every discovery).
extra_sources: list[Callable[[], None]] = []


def discover_tools() -> None:
    """Import every source of tools; a module that fails to import is logged, not fatal."""
    autodiscover_modules("tools")
    for module in settings.MCP_PLATFORM_TOOL_MODULES:
        try:
            importlib.import_module(module)
        except Exception:
            logger.exception(
                "tool module %r from MCP_PLATFORM_TOOL_MODULES failed to import", module
            )
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry_point.load()
        except Exception:
            logger.exception("tool entry point %r failed to load", entry_point.name)
    for source in extra_sources:
        source()
