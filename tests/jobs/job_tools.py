"""Test-only tools for jobs, loaded into platform children with
MCP_PLATFORM_TOOL_MODULES=tests.jobs.job_tools.

Executions are recorded for real in files under MCP_PLATFORM_TEST_JOB_DIR (one O_APPEND write
per line, atomic across processes): `<key>.starts` and `<key>.done` get a pid per execution
that started and finished, `<key>.ticks` a line every tick while a ticking tool runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from apps.tools import registry
from apps.tools.call_errors import CallError
from apps.tools.registry import ToolContext

DIR_ENV = "MCP_PLATFORM_TEST_JOB_DIR"
TICK = 0.1


def _append(key: str, kind: str, line: str) -> None:
    folder = os.environ.get(DIR_ENV)
    if not folder:
        raise RuntimeError(f"{DIR_ENV} is not set")
    fd = os.open(Path(folder) / f"{key}.{kind}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


async def job_ticks(key: str, seconds: float, ctx: ToolContext) -> dict:
    """Write a tick line every 0.1 s for `seconds`, reporting progress."""
    ticks = round(seconds / TICK)
    for n in range(1, ticks + 1):
        await anyio.sleep(TICK)
        _append(key, "ticks", str(n))
        if n % 5 == 0:
            await ctx.report_progress(n, ticks, "ticking")
    return {"ticks": ticks, "pid": os.getpid()}


async def _work(key: str, seconds: float, retry_seconds: float | None) -> dict:
    folder = Path(os.environ[DIR_ENV])
    first = not lines(folder, key, "starts")
    _append(key, "starts", str(os.getpid()))
    await anyio.sleep(seconds if first or retry_seconds is None else retry_seconds)
    _append(key, "done", str(os.getpid()))
    return {"key": key, "pid": os.getpid()}


async def job_retryable(key: str, seconds: float, retry_seconds: float | None = None) -> dict:
    """Idempotent work: record the start, wait `seconds` (`retry_seconds` when it ran before),
    record the end."""
    return await _work(key, seconds, retry_seconds)


async def job_once(key: str, seconds: float) -> dict:
    """Non-idempotent work: record the start, wait `seconds`, record the end."""
    return await _work(key, seconds, None)


def job_sync_only(text: str) -> dict:
    """Answer at once; never a task (`task_support="forbidden"`)."""
    return {"text": text}


async def job_task_only(seconds: float) -> dict:
    """Wait `seconds`; only ever a task (`task_support="required"`)."""
    await anyio.sleep(seconds)
    return {"slept": seconds}


def job_fails(reason: str) -> dict:
    """Raise: a tool that ran and failed (its result says `isError`)."""
    raise RuntimeError(reason)


NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
CONFIRM_SCHEMA = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean"}},
    "required": ["confirm"],
}


async def job_asks(key: str, ctx: ToolContext) -> str:
    """Ask two questions at once (a name, a confirmation), then record the run and answer."""
    name, confirm = await ctx.gather(
        ctx.elicit("What is your name?", NAME_SCHEMA, key="name"),
        ctx.elicit("Confirm?", CONFIRM_SCHEMA, key="confirm"),
    )
    _append(key, "answered", "run")
    return f"{(name.content or {}).get('name')}: confirmed={(confirm.content or {}).get('confirm')}"


async def job_protocol_error(reason: str) -> str:
    """Say the call could not be made (a CallError: a protocol-level error, not a tool's)."""
    raise CallError(reason)


TOOLS = {
    "job_asks": (job_asks, {"category": "testing"}),
    "job_protocol_error": (job_protocol_error, {"category": "testing"}),
    "job_sync_only": (job_sync_only, {"category": "testing", "task_support": "forbidden"}),
    "job_task_only": (
        job_task_only,
        {"category": "testing", "task_support": "required", "timeout_seconds": 120},
    ),
    "job_fails": (job_fails, {"category": "testing"}),
    "job_ticks": (job_ticks, {"category": "testing", "timeout_seconds": 120}),
    "job_retryable": (
        job_retryable,
        {
            "category": "testing",
            "idempotent_hint": True,
            "retry_policy": "fixed",
            "max_retries": 2,
            "timeout_seconds": 120,
        },
    ),
    "job_once": (
        job_once,
        {"category": "testing", "idempotent_hint": False, "timeout_seconds": 120},
    ),
}


def register_all() -> None:
    for name, (func, metadata) in TOOLS.items():
        registry.register(func, name=name, **metadata)


def unregister_all() -> None:
    for name in TOOLS:
        registry.unregister(name)


def lines(folder: Path, key: str, kind: str) -> list[str]:
    path = folder / f"{key}.{kind}"
    return path.read_text().split() if path.exists() else []


register_all()
