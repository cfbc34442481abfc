"""Who is acting, and through which door: set by the request middleware, API auth, management
commands and tool calls; read when an audited model changes."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from apps.audit.models import Origin


@dataclass(frozen=True)
class Actor:
    """`name` may be computed late (a request's principal is known only after auth)."""

    origin: str
    resolve_name: Callable[[], str]
    source: str = ""

    @property
    def name(self) -> str:
        try:
            return self.resolve_name() or "anonymous"
        except Exception:  # naming the actor must never break the change it records
            return "unknown"


_current: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


def current_actor() -> Actor | None:
    """The actor of the change being made now, or None (the node's own background work:
    discovery, heartbeats, leases — not audited)."""
    return _current.get()


@contextlib.contextmanager
def acting_as(name: str | Callable[[], str], *, origin: str, source: str = "") -> Iterator[Actor]:
    """Changes made inside are recorded with this actor and origin."""
    actor = Actor(
        origin=origin, resolve_name=name if callable(name) else (lambda: name), source=source
    )
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


# Long-running commands serve requests and run tools: their changes carry their own actors.
SERVER_COMMANDS = {
    "runplatform",
    "runserver",
    "run_trio_runtime",
    "run_taskqueue_worker",
    "mcp_stdio",
    "migrate",
    "test",
}


def adopt_management_command() -> None:
    """An operator's `manage.py <command>` acts as `command:<name>` for the whole process."""
    argv = sys.argv
    if len(argv) < 2 or not argv[0].endswith(("manage.py", "django-admin")):
        return
    command = argv[1]
    if command in SERVER_COMMANDS or command.startswith("-"):
        return
    origin = Origin.IMPORTER if command == "import_legacy_config" else Origin.COMMAND
    _current.set(Actor(origin=origin, resolve_name=lambda: f"command:{command}", source="cli"))


def acting_for_tool(principal_name: str, tool_name: str) -> contextlib.AbstractContextManager:
    """A tool's own changes to the node (peers, trust, bootstrap, settings) are its caller's,
    made through the tool."""
    return acting_as(principal_name, origin=Origin.TOOL, source=f"tool:{tool_name}")
