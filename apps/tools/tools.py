"""Built-in tools: small, real, and enough to exercise every part of the call path."""

from __future__ import annotations

import os
import time
from typing import Literal

import anyio
from typing_extensions import TypedDict

import mcp_platform
from apps.tools.registry import ToolContext, tool

_STARTED = time.time()


@tool(category="builtin", read_only_hint=True, idempotent_hint=True, title="Echo")
async def echo(message: str) -> dict:
    """Return the message unchanged (async)."""
    return {"message": message}


class Arithmetic(TypedDict):
    operation: str
    a: float
    b: float
    result: float


@tool(category="builtin", read_only_hint=True, idempotent_hint=True, title="Arithmetic")
def calculate(
    a: float, b: float, operation: Literal["add", "subtract", "multiply", "divide"] = "add"
) -> Arithmetic:
    """Apply an arithmetic operation to two numbers (sync; has an output schema).

    Dividing by zero is a tool error.
    """
    if operation == "add":
        result = a + b
    elif operation == "subtract":
        result = a - b
    elif operation == "multiply":
        result = a * b
    else:
        if b == 0:
            raise ZeroDivisionError("division by zero")
        result = a / b
    return {"operation": operation, "a": a, "b": b, "result": result}


@tool(
    category="builtin", read_only_hint=True, idempotent_hint=True, timeout_seconds=60, title="Sleep"
)
async def sleep(seconds: float, ctx: ToolContext) -> dict:
    """Sleep for `seconds` (cancellable), reporting progress about every second."""
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    started = time.monotonic()
    remaining = seconds
    while remaining > 0:
        step = min(1.0, remaining)
        await anyio.sleep(step)
        remaining = seconds - (time.monotonic() - started)
        await ctx.report_progress(min(seconds - max(remaining, 0), seconds), seconds, "sleeping")
    return {"slept": seconds, "pid": os.getpid()}


@tool(category="builtin", read_only_hint=True, title="Platform status")
def platform_status() -> dict:
    """Report this process's version, pid, uptime and the catalogue's size (sync)."""
    from apps.tools.models import Tool

    return {
        "version": mcp_platform.__version__,
        "pid": os.getpid(),
        "uptime_seconds": round(time.time() - _STARTED, 3),
        "tools": Tool.objects.count(),
        "enabled_tools": Tool.objects.filter(enabled=True, missing=False).count(),
    }
