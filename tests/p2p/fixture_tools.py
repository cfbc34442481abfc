"""Test-only tools for the P2P cluster, loaded with MCP_PLATFORM_TOOL_MODULES.

`counted` appends a line per execution to `<data dir>/counters/<key>.log`, so a test counts
real executions on each node (and in each worker process)."""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from apps.tools.registry import tool


def _counter_file(key: str) -> Path:
    directory = Path(os.environ.get("MCP_PLATFORM_DATA_DIR", "var")) / "counters"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{key}.log"


@tool(category="testing", idempotent_hint=False)
async def counted(key: str, delay: float = 0.0) -> dict:
    """Record one execution under `key`, after an optional delay; says which process ran it."""
    if delay:
        await anyio.sleep(delay)
    with _counter_file(key).open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    return {"key": key, "pid": os.getpid()}


@tool(category="testing", idempotent_hint=True)
async def counted_idempotent(key: str, delay: float = 0.0) -> dict:
    """`counted`, declared idempotent: the queue may run it again after losing a worker."""
    return await counted(key, delay)


def executions(data_dir: Path, key: str) -> list[str]:
    path = Path(data_dir) / "counters" / f"{key}.log"
    return path.read_text().split() if path.exists() else []
