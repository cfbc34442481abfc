"""What the Trio runtime knows about itself: identity, status, in-flight calls, counters."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import trio


@dataclass
class RuntimeState:
    host: str
    port: int
    pid: int = field(default_factory=os.getpid)
    hostname: str = field(default_factory=socket.gethostname)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Tells this process from an earlier one with the same pid (pids are reused, in containers
    # at every start).
    incarnation: str = field(default_factory=lambda: secrets.token_hex(4))
    status: str = "starting"  # starting, up, draining, down (RuntimeStatus)
    routing_version: int = 0
    calls: int = 0
    errors: int = 0
    in_flight: int = 0
    peer_id: str = ""
    listen_addrs: list[str] = field(default_factory=list)
    _idle: trio.Event = field(default_factory=trio.Event)
    heartbeat_writing: trio.Lock = field(default_factory=trio.Lock)  # trio_runtime/heartbeat.py
    # In-flight bridged calls by request id, so the web process can cancel one.
    _cancel_scopes: dict[str, trio.CancelScope] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._idle.set()

    @property
    def address(self) -> str:
        """What every runtime process on this host and port has in common."""
        return f"trio@{self.hostname[:32]}:{self.port}"

    @property
    def instance_id(self) -> str:
        # One row per process: a restarted runtime adds its own row and marks its
        # predecessors' down, so two processes never take turns writing one row.
        return f"{self.address}/{self.pid}.{self.incarnation}"

    @property
    def accepting(self) -> bool:
        return self.status == "up"

    @contextlib.contextmanager
    def track_call(self) -> Iterator[None]:
        """Count a call as in flight until it returns (draining waits for the count to drop)."""
        self.in_flight += 1
        self._idle = trio.Event() if self.in_flight == 1 else self._idle
        try:
            yield
        finally:
            self.in_flight -= 1
            self.calls += 1
            if self.in_flight == 0:
                self._idle.set()

    @contextlib.contextmanager
    def cancellable(self, request_id: str) -> Iterator[trio.CancelScope]:
        """A cancel scope for the call `request_id`, which `cancel(request_id)` cancels."""
        with trio.CancelScope() as scope:
            self._cancel_scopes[request_id] = scope
            try:
                yield scope
            finally:
                self._cancel_scopes.pop(request_id, None)

    def cancel(self, request_id: str) -> bool:
        """Cancel the in-flight call `request_id`; False when no such call is running."""
        scope = self._cancel_scopes.get(request_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def heartbeat_fields(self) -> dict:
        return {
            "runtime": "trio",
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "peer_id": self.peer_id,
            "listen_addrs": self.listen_addrs,
            "started_at": self.started_at,
            "routing_version": self.routing_version,
            "status": self.status,
            "calls": self.calls,
            "errors": self.errors,
        }

    def health(self) -> dict:
        return {
            "status": self.status,
            "runtime": "trio",
            "pid": self.pid,
            "instance": self.instance_id,
            "routing_version": self.routing_version,
            "in_flight": self.in_flight,
            "calls": self.calls,
            "started_at": self.started_at.isoformat(),
        }
