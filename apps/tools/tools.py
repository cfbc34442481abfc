"""Built-in tools, prompts and resources: small, real, and enough to exercise every part of the
call path and of the MCP surface."""

from __future__ import annotations

import base64
import os
import time
from typing import Literal

import anyio
from typing_extensions import TypedDict

import mcp_platform
from apps.tools.registry import ToolContext, prompt, resource, resource_template, tool

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
    return _status()


@prompt(
    title="Summarize",
    arguments={
        "text": "The text to summarize.",
        "style": "How: brief (one sentence), bullets or detailed.",
    },
    completions={"style": ["brief", "bullets", "detailed"]},
)
def summarize(text: str, style: str = "brief") -> str:
    """Ask the model to summarize a text, in a chosen style."""
    how = {
        "brief": "in one sentence",
        "bullets": "as a few bullet points",
        "detailed": "in a detailed paragraph",
    }.get(style, f"in the style '{style}'")
    return f"Summarize the following text {how}:\n\n{text}"


def _status() -> dict:
    from apps.tools.models import Tool

    return {
        "version": mcp_platform.__version__,
        "pid": os.getpid(),
        "uptime_seconds": round(time.time() - _STARTED, 3),
        "tools": Tool.objects.count(),
        "enabled_tools": Tool.objects.filter(enabled=True, missing=False).count(),
    }


@resource("platform://status", title="Platform status", mime_type="application/json")
def status() -> dict:
    """This process's version, pid, uptime and the catalogue's size, as JSON."""
    return _status()


# A 1x1 transparent PNG: the binary example (read as a base64 blob).
_ICON = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@resource("platform://icon.png", title="Platform icon", mime_type="image/png")
def icon() -> bytes:
    """The platform's icon (PNG)."""
    return _ICON


def _tool_names(value: str) -> list[str]:
    from apps.tools.selectors import callable_tools

    return list(callable_tools().filter(name__startswith=value).values_list("name", flat=True))


@resource_template(
    "platform://tools/{name}",
    title="Tool descriptor",
    mime_type="application/json",
    completions={"name": _tool_names},
    name="tool",
)
def describe_tool(name: str) -> dict:
    """The MCP descriptor of one callable tool of the catalogue (a missing one: not found)."""
    from apps.tools import selectors

    found = selectors.callable_tools().filter(name=name).first()
    if found is None:
        raise LookupError(f"no callable tool {name!r}")
    return selectors.tool_descriptor(found)
