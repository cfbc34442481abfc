"""Test-only tools, registered through MCP_PLATFORM_TOOL_MODULES like any third-party module.

Each execution of `count_call` appends a line to a file, so a test can count real executions
across processes.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from apps.tools.registry import tool


def _counter_file(key: str) -> Path:
    directory = Path(os.environ.get("MCP_PLATFORM_DATA_DIR", "var")) / "counters"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{key}.log"


@tool(category="testing", idempotent_hint=False, fallback_allowed=True)
async def count_call(key: str, delay: float = 0.0) -> dict:
    """Record one execution under `key` (a line in a file), optionally after a delay."""
    if delay:
        await anyio.sleep(delay)
    with _counter_file(key).open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    return {"key": key, "pid": os.getpid()}


def executions(data_dir: Path, key: str) -> list[str]:
    path = data_dir / "counters" / f"{key}.log"
    return path.read_text().split() if path.exists() else []
