"""The router: which runtime a tool runs on, and why (DESIGN.md, "Routing").

Resolution works on a `RoutingTable`, an immutable snapshot of the enabled rules and the
runtime settings at one routing version. Each process caches the table of the version it last
saw and reloads it only when the version moves, so resolving a route costs no query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

ASYNCIO = "asyncio"
TRIO = "trio"
AUTO = "auto"


class ToolNotRoutable(Exception):
    """The tool is disabled or its code is missing: it runs nowhere."""


@dataclass(frozen=True)
class RuleView:
    """A rule as the router needs it (detached from the ORM)."""

    id: int
    name_pattern: str
    category: str
    runtime: str
    priority: int

    def matches(self, *, name: str, category: str) -> bool:
        # fnmatchcase matches the whole name: `p2p_*` does not match `run_p2p_x`.
        if self.name_pattern and not fnmatchcase(name, self.name_pattern):
            return False
        return not (self.category and self.category != category)

    def describe(self) -> str:
        parts = []
        if self.name_pattern:
            parts.append(f"name {self.name_pattern}")
        if self.category:
            parts.append(f"category {self.category}")
        return f"rule #{self.id} ({' and '.join(parts)}, priority {self.priority}) → {self.runtime}"


@dataclass(frozen=True)
class RoutingTable:
    """Everything routing needs, at one routing version."""

    version: int
    rules: tuple[RuleView, ...] = ()
    default_runtime: str = ASYNCIO
    fallback_allowed: bool = True
    fallback_timeout: float = 5.0
    trio_enabled: bool = True


@dataclass(frozen=True)
class RouteStep:
    step: int
    check: str
    result: str
    decided: bool = False


@dataclass(frozen=True)
class Route:
    """The outcome of routing one tool, with every step that was looked at."""

    tool: str
    runtime: str | None  # None: not callable
    decided_by: int  # the step (1-5) that decided
    reason: str
    version: int
    steps: tuple[RouteStep, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "runtime": self.runtime,
            "callable": self.runtime is not None,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "routing_version": self.version,
            "steps": [
                {"step": s.step, "check": s.check, "result": s.result, "decided": s.decided}
                for s in self.steps
            ],
        }


def explain_route(tool: Any, table: RoutingTable) -> Route:
    """Route `tool` (a Tool row or anything with its fields) and report every step, in the
    order of DESIGN.md: callable, the tool's own runtime, rules, requires_p2p, the default."""
    steps: list[RouteStep] = []

    def decide(step: int, check: str, result: str, runtime: str | None) -> Route:
        steps.append(RouteStep(step, check, result, decided=True))
        return Route(tool.name, runtime, step, result, table.version, tuple(steps))

    if not tool.enabled or getattr(tool, "missing", False):
        why = "the tool is disabled" if not tool.enabled else "the tool's code is missing"
        return decide(1, "tool is enabled and present", f"{why}: not callable", None)
    steps.append(RouteStep(1, "tool is enabled and present", "yes"))

    own = ASYNCIO if tool.runtime == "fastapi" else tool.runtime
    if own != AUTO:
        return decide(2, "tool's own runtime", f"the tool says {own}", own)
    steps.append(RouteStep(2, "tool's own runtime", "auto: routing decides"))

    for rule in table.rules:
        if rule.matches(name=tool.name, category=tool.category):
            return decide(3, "routing rules", f"{rule.describe()} matches", rule.runtime)
    checked = len(table.rules)
    steps.append(RouteStep(3, "routing rules", f"none of {checked} enabled rules matches"))

    if tool.requires_p2p:
        return decide(4, "requires_p2p", "the tool requires P2P → trio", TRIO)
    steps.append(RouteStep(4, "requires_p2p", "no"))

    return decide(
        5,
        "default runtime",
        f"runtime settings default → {table.default_runtime}",
        table.default_runtime,
    )


@dataclass(frozen=True)
class Fallback:
    """Whether a trio-routed call that provably did not start may run on asyncio instead."""

    allowed: bool
    why_not: str = ""


def fallback_decision(tool: Any, table: RoutingTable) -> Fallback:
    """The fallback policy of DESIGN.md: only for tools with `fallback_allowed` that do not
    require P2P, and only when the runtime settings allow fallback at all."""
    if tool.requires_p2p:
        return Fallback(False, "it requires P2P")
    if not table.fallback_allowed:
        return Fallback(False, "fallback is disabled in the runtime settings")
    if not tool.fallback_allowed:
        return Fallback(False, "fallback is disabled for it")
    return Fallback(True)


def resolve_runtime(tool: Any, table: RoutingTable) -> str:
    """The runtime `tool` runs on under `table`; raises ToolNotRoutable if it runs nowhere."""
    route = explain_route(tool, table)
    if route.runtime is None:
        raise ToolNotRoutable(route.reason)
    return route.runtime


class TableCache:
    """This process's routing table, kept per version (thread-safe)."""

    def __init__(self) -> None:
        self._table: RoutingTable | None = None
        self._lock = threading.Lock()

    @property
    def table(self) -> RoutingTable | None:
        return self._table

    def get(self, version: int | None = None) -> RoutingTable:
        """The table at `version` (or the current one when None); queries only on a change.

        Blocking (ORM): call it from a thread when on an event loop.
        """
        from apps.routing import selectors

        table = self._table
        if version is None:
            version = selectors.current_version()
        if table is not None and table.version == version:
            return table
        with self._lock:
            if self._table is None or self._table.version != version:
                self._table = selectors.load_routing_table()
            return self._table

    def peek(self, version: int | None) -> RoutingTable | None:
        """The cached table if it is at `version`, without touching the database."""
        table = self._table
        return (
            table
            if table is not None and version is not None and table.version == version
            else None
        )

    def clear(self) -> None:
        self._table = None


cache = TableCache()
