"""300 test tools (`bulk_000` ... `bulk_299`), registered through MCP_PLATFORM_TOOL_MODULES, so
that `tools/list` spans several pages."""

from __future__ import annotations

from apps.tools import registry

COUNT = 300
NAMES = [f"bulk_{index:03d}" for index in range(COUNT)]


def _bulk_tool(index: int):
    async def bulk(value: int = 0) -> dict:
        return {"index": index, "value": value}

    bulk.__doc__ = f"Bulk test tool number {index}."
    return bulk


def register_all() -> None:
    for index, name in enumerate(NAMES):
        if registry.get_spec(name) is None:
            registry.register(_bulk_tool(index), name=name, category="bulk")


def unregister_all() -> None:
    for name in NAMES:
        registry.unregister(name)


register_all()
