"""The call path's errors (a call that could not be made, as opposed to a tool that ran and
failed) and the one table that says how each leaves every door.

Every door maps a `CallError` through `DOOR_CODES` and nothing else: REST answers the HTTP
status with the legacy error body, MCP and P2P and the legacy `/mcp/tools/call` answer their
JSON-RPC code, and the bridge carries the error's `kind` (the web side rebuilds the same
exception from it with `from_kind`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.tools.models import Outcome


class CallError(Exception):
    """A call that could not be made. `kind` names it in the table and on the bridge."""

    kind = "call_error"
    outcome = Outcome.ERROR
    # True when another process (the Trio runtime) may have run the call and records it.
    recorded_elsewhere = False

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def codes(self) -> DoorCodes:
        return DOOR_CODES[self.kind]

    @property
    def status_code(self) -> int:
        return self.codes.http_status


class ToolNotFound(CallError):
    kind = "tool_not_found"
    outcome = Outcome.NOT_FOUND


class InvalidArguments(CallError):
    kind = "invalid_arguments"
    outcome = Outcome.INVALID


class CallDenied(CallError):
    kind = "call_denied"
    outcome = Outcome.DENIED


class RuntimeUnavailable(CallError):
    kind = "runtime_unavailable"
    outcome = Outcome.UNAVAILABLE


class RateLimited(CallError):
    """Over a rate or concurrency limit (apps.ratelimits); `retry_after` (seconds) and `limit`
    (the row's name) are in its details: REST's Retry-After, MCP's and P2P's error `data`."""

    kind = "rate_limited"
    outcome = Outcome.RATE_LIMITED


@dataclass(frozen=True)
class DoorCodes:
    """How one kind of CallError leaves each door."""

    http_status: int  # REST (legacy paths and /api/v2), with the legacy error body
    mcp_code: int  # MCP `tools/call` (both /mcp endpoints) and task-augmented calls
    # MCP `tools/call` answers a result with `isError` instead of a JSON-RPC error: the spec's
    # advice for errors a model can read and act on (bad arguments, a runtime that is down).
    mcp_is_result: bool
    p2p_code: int  # `/mcp+p2p/1.0.0` `tools/call` (the MCP++ codes of LEGACY.md)
    legacy_rpc_code: int  # the legacy `POST /mcp/tools/call` (with `http_status`)


# The one mapping table (docs/architecture.md, "The call path", shows it too).
DOOR_CODES: dict[str, DoorCodes] = {
    ToolNotFound.kind: DoorCodes(404, -32602, False, -32002, -32601),
    CallDenied.kind: DoorCodes(403, -32001, False, -32001, -32001),
    InvalidArguments.kind: DoorCodes(422, -32602, True, -32602, -32602),
    RuntimeUnavailable.kind: DoorCodes(503, -32002, True, -32002, -32002),
    # -32010: the legacy P2P protocol's rate-limit code, the same on every JSON-RPC door.
    RateLimited.kind: DoorCodes(429, -32010, False, -32010, -32010),
    CallError.kind: DoorCodes(400, -32603, True, -32002, -32603),
}

_BY_KIND: dict[str, type[CallError]] = {
    cls.kind: cls
    for cls in (
        CallError,
        ToolNotFound,
        CallDenied,
        InvalidArguments,
        RuntimeUnavailable,
        RateLimited,
    )
}


def from_kind(kind: str, message: str, details: dict[str, Any] | None = None) -> CallError:
    """The CallError a bridge reply names (an unknown kind is a plain CallError)."""
    return _BY_KIND.get(kind, CallError)(message, **(details or {}))
