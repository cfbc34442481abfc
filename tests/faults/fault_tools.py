"""Tools for the fault suite, loaded into a node with MCP_PLATFORM_TOOL_MODULES=tests.faults.fault_tools.

Each records its own start and its end (`start <call id> <pid>`, `end <call id> <pid>`) in the
file named by MCP_PLATFORM_FAULT_LOG, one O_APPEND write per line (atomic across processes): a
call killed mid-run leaves a start without an end, a call run twice leaves two starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from apps.tools import registry

LOG_ENV = "MCP_PLATFORM_FAULT_LOG"


def _record(event: str, call_id: str) -> None:
    fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{event} {call_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


async def _step(call_id: str, seconds: float) -> dict:
    _record("start", call_id)
    if seconds:
        await anyio.sleep(seconds)
    _record("end", call_id)
    return {"call_id": call_id, "pid": os.getpid()}


async def fault_step(call_id: str, seconds: float = 0.0) -> dict:
    """Record a start, wait `seconds`, record an end (on the Trio runtime; not idempotent)."""
    return await _step(call_id, seconds)


async def fault_step_idempotent(call_id: str, seconds: float = 0.0) -> dict:
    """fault_step, declared idempotent: it may run again after an interruption."""
    return await _step(call_id, seconds)


async def fault_local_step(call_id: str, seconds: float = 0.0) -> dict:
    """fault_step on asyncio, in the process that calls it (a job's worker process)."""
    return await _step(call_id, seconds)


TOOLS = {
    "fault_step": (fault_step, {"runtime": "trio", "timeout_seconds": 120}),
    "fault_step_idempotent": (
        fault_step_idempotent,
        {"runtime": "trio", "idempotent_hint": True, "timeout_seconds": 120},
    ),
    "fault_local_step": (fault_local_step, {"runtime": "asyncio", "timeout_seconds": 120}),
}


def register_all() -> None:
    for name, (func, metadata) in TOOLS.items():
        registry.register(func, name=name, category="testing", **metadata)


def unregister_all() -> None:
    for name in TOOLS:
        registry.unregister(name)


@dataclass
class Executions:
    starts: dict[str, list[int]] = field(default_factory=dict)
    ends: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Executions:
        seen = cls()
        if path.exists():
            for line in path.read_text().splitlines():
                event, call_id, pid = line.split()
                target = seen.starts if event == "start" else seen.ends
                target.setdefault(call_id, []).append(int(pid))
        return seen


if os.environ.get(LOG_ENV):  # in a node's processes; a test registers them itself
    register_all()
