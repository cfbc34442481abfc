"""One audit event per tool call, queued on the call path and written in batches by a
background thread (like the call log): the call never waits for the chain's lock."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.audit import chain
from apps.audit.capture import REDACTED
from apps.audit.models import Origin
from mcp_platform.batches import BatchWriter
from mcp_platform.storable import NUL

logger = logging.getLogger(__name__)

# Argument names that hold secrets whatever their schema says.
SECRET_NAME = re.compile(r"pass(word|phrase)?|secret|token|api_?key|private_?key|credential", re.I)


@dataclass(frozen=True)
class ToolCalled:
    tool: str
    caller: str
    via: str
    runtime: str
    outcome: str
    duration_ms: float
    request_id: str
    started_at: datetime
    arguments: Any


def tool_called(**fields: Any) -> None:
    """Queue the call's event (called from the call service; never raises)."""
    try:
        writer.put(ToolCalled(**fields))
    except Exception:
        logger.exception("could not queue the audit event of a tool call")


def redact(value: Any, schema: dict[str, Any] | None) -> Any:
    """`value` with the secrets replaced: properties the schema marks `writeOnly` or
    `format: password`, and any property named like a secret."""
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, dict):
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        clean = {}
        for key, item in value.items():
            sub = properties.get(key) if isinstance(properties.get(key), dict) else {}
            secret = (
                sub.get("writeOnly") is True
                or sub.get("format") == "password"
                or bool(SECRET_NAME.search(str(key)))
            )
            clean[key] = REDACTED if secret else redact(item, sub)
        return clean
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [redact(item, items) for item in value]
    return value


def arguments_digest(arguments: Any) -> str:
    return hashlib.sha256(chain.canonical(arguments).encode()).hexdigest()


# Per tool name: {"audit_arguments": bool, "input_schema": dict}. The catalogue (apps.tools)
# provides it when it is ready, so the audit trail imports nothing of the call path.
ToolPolicies = Callable[[Iterable[str]], dict[str, dict[str, Any]]]
_tool_policies: ToolPolicies = lambda names: {}  # noqa: E731


def register_tool_policies(lookup: ToolPolicies) -> None:
    """How the writer learns which tools store their arguments, and their input schemas."""
    global _tool_policies
    _tool_policies = lookup


def _drafts(batch: list[ToolCalled]) -> list[chain.Draft]:
    # A name with a NUL byte names no tool; PostgreSQL cannot even compare it.
    tools = _tool_policies({entry.tool for entry in batch if NUL not in entry.tool})
    drafts = []
    for entry in batch:
        tool = tools.get(entry.tool)
        details: dict[str, Any] = {
            "runtime": entry.runtime,
            "via": entry.via,
            "outcome": entry.outcome,
            "duration_ms": entry.duration_ms,
            "request_id": entry.request_id,
            "arguments_sha256": arguments_digest(entry.arguments),
        }
        if tool is not None and tool["audit_arguments"]:
            details["arguments"] = redact(entry.arguments, tool["input_schema"])
        drafts.append(
            chain.Draft(
                actor=entry.caller,
                origin=Origin.CALL,
                source=entry.via,
                action="tool.call",
                target=f"tool:{entry.tool}",
                changes=details,
                at=entry.started_at,
            )
        )
    return drafts


def _write(batch: list[ToolCalled]) -> None:
    chain.append(_drafts(batch))


writer: BatchWriter[ToolCalled] = BatchWriter(
    name="audit-writer", what="tool-call audit events", write=_write
)
# The writer's verbs, as the rest of the platform calls them.
flush = writer.flush
start = writer.start
stop = writer.stop
