"""Who is calling: the principal every call carries through the call service."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

SCOPE_READ = "tools:read"
SCOPE_CALL = "tools:call"
SCOPE_ADMIN = "admin"
ALL_SCOPES = (SCOPE_READ, SCOPE_CALL, SCOPE_ADMIN)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller (or the anonymous one) with its scopes and tool patterns."""

    name: str
    kind: str  # token, jwt, oauth, system, peer, anonymous
    scopes: frozenset[str] = field(default_factory=frozenset)
    # Glob patterns (anchored) the caller may see and call; empty means every tool.
    tool_patterns: tuple[str, ...] = ()
    # Glob patterns the caller may never see or call, whatever `tool_patterns` allows.
    denied_tools: tuple[str, ...] = ()
    # The tool patterns of the toolsets a token is bound to (None when bound to none): a tool
    # must match one of them as well.
    toolset_patterns: tuple[str, ...] | None = None
    # The resources (absolute URLs) an OAuth token was granted for (RFC 8707); see apps.oauth.
    audiences: tuple[str, ...] = ()
    # The API token this principal came from, and when the credential stops being valid
    # (seconds since the epoch): the principal cache uses them, nothing else does.
    token_id: int | None = field(default=None, compare=False)
    valid_until: float | None = field(default=None, compare=False)

    def has_scope(self, scope: str) -> bool:
        return SCOPE_ADMIN in self.scopes or scope in self.scopes

    def may_use_tool(self, tool_name: str) -> bool:
        if any(fnmatchcase(tool_name, p) for p in self.denied_tools):
            return False
        if self.toolset_patterns is not None and not any(
            fnmatchcase(tool_name, p) for p in self.toolset_patterns
        ):
            return False
        return not self.tool_patterns or any(fnmatchcase(tool_name, p) for p in self.tool_patterns)

    def may_call(self, tool_name: str) -> bool:
        return self.has_scope(SCOPE_CALL) and self.may_use_tool(tool_name)

    def may_list(self, tool_name: str) -> bool:
        return self.has_scope(SCOPE_READ) and self.may_use_tool(tool_name)

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    def to_dict(self) -> dict[str, Any]:
        """The principal as JSON, the one form it is stored in (a job's caller) or sent in (a
        bridged call). The credential's id and lifetime stay behind: they are the principal
        cache's, and mean nothing once the call left the request."""
        return {
            "name": self.name,
            "kind": self.kind,
            "scopes": sorted(self.scopes),
            "tool_patterns": list(self.tool_patterns),
            "denied_tools": list(self.denied_tools),
            "audiences": list(self.audiences),
            # None (bound to no toolset) and [] (bound to empty ones: no tool) differ.
            "toolset_patterns": (
                None if self.toolset_patterns is None else list(self.toolset_patterns)
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Principal:
        """The principal `to_dict` wrote; keys it lacks take their defaults (an empty list of
        patterns means every tool). Raises KeyError without a name or kind, TypeError for a
        value of the wrong shape."""
        if not isinstance(data, dict):
            raise TypeError(f"a principal is a JSON object, not {type(data).__name__}")
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            scopes=frozenset(_strings(data.get("scopes"))),
            tool_patterns=_strings(data.get("tool_patterns")),
            denied_tools=_strings(data.get("denied_tools")),
            audiences=_strings(data.get("audiences")),
            toolset_patterns=(
                None
                if data.get("toolset_patterns") is None
                else _strings(data.get("toolset_patterns"))
            ),
        )


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(value)


SYSTEM = Principal(name="system", kind="system", scopes=frozenset(ALL_SCOPES))
