"""Find tool implementations: apps' tools.py, MCP_PLATFORM_TOOL_MODULES, entry points."""

import importlib
import logging
from importlib.metadata import entry_points

from django.conf import settings
from django.utils.module_loading import autodiscover_modules

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mcp_platform.tools"


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
    # Legacy tool modules register through the compatibility shim (apps/migration/shim.py).
    from apps.migration.shim import register_legacy_modules

    register_legacy_modules(settings.MCP_PLATFORM_LEGACY_TOOL_MODULES)
