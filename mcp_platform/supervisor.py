"""The process supervisor behind `runplatform`: starts the children, prefixes their output,
restarts a crashed child with backoff, and on SIGINT/SIGTERM stops them in order, letting each
drain its in-flight calls first.

One node per data directory: `NodeLock` holds an exclusive lock on a file there for as long as
the supervisor or any of its children lives, so a second `runplatform` refuses to start instead
of crash-looping on busy ports. The children die with the supervisor (`lifeline`): a hard kill
of the supervisor leaves nothing running.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcp_platform.backoff import backoff_delay
from mcp_platform.lifeline import SUPERVISOR_PID_ENV
from mcp_platform.processes import ChildProcess, describe_exit

logger = logging.getLogger("runplatform")

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
HEALTHY_AFTER = 30.0  # a child that ran this long restarts with the shortest backoff again


class AnotherInstance(Exception):
    """Another node already runs on this data directory or these ports."""


class NodeLock:
    """An exclusive flock on `<data dir>/runplatform.lock`, its holder's pid written inside.

    The lock, not the pid, decides: a pid file survives a crash and its pid may be reused, a
    flock is released by the kernel when the last process holding it exits. The children
    inherit the descriptor, so the lock stays held while any of them lives.
    """

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "runplatform.lock"
        self.fd: int | None = None

    def acquire(self) -> NodeLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = self.path.read_text().strip() or "unknown"
            raise AnotherInstance(
                f"another runplatform (pid {holder}) is running on data directory "
                f"{self.path.parent}; stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def check_ports_free(host: str, ports: list[int]) -> None:
    """Raise AnotherInstance when one of `ports` is taken (a node on another data directory)."""
    for port in ports:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise AnotherInstance(
                    f"port {port} on {host} is in use (another instance?); stop it or choose "
                    "other ports"
                ) from None


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    drain_seconds: float = 30.0  # how long it may take to finish in-flight work on SIGTERM


@dataclass
class Child:
    spec: ChildSpec
    process: ChildProcess | None = None
    crashes: int = 0  # in a row, without a healthy run between: sets the backoff
    restart_at: float = 0.0
    restarts: int = 0


class Supervisor:
    def __init__(
        self,
        specs: list[ChildSpec],
        *,
        out: Callable[[str], None] | None = None,
        lock: NodeLock | None = None,
    ):
        self.children = [Child(spec) for spec in specs]
        self.lock = lock
        self._stopping = threading.Event()
        self._out_lock = threading.Lock()
        self._out = out or self._write

    def _write(self, line: str) -> None:
        with self._out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def say(self, message: str) -> None:
        self._out(f"[runplatform] {message}")

    def _start(self, child: Child) -> None:
        env = {**os.environ, **child.spec.env, SUPERVISOR_PID_ENV: str(os.getpid())}
        name = child.spec.name
        process = ChildProcess(env, on_line=lambda line: self._out(f"[{name}] {line}"))
        # Started from this (main) thread: PR_SET_PDEATHSIG fires when the forking thread ends.
        lifeline = [sys.executable, "-m", "mcp_platform.lifeline", str(os.getpid()), "--"]
        process.spawn(
            [*lifeline, *child.spec.argv],
            pass_fds=(self.lock.fd,) if self.lock and self.lock.fd is not None else (),
        )
        child.process = process
        self.say(f"started {name} (pid {process.pid})")

    def request_stop(self, *_: object) -> None:
        self._stopping.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        for child in self.children:
            self._start(child)
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            for child in self.children:
                self._watch(child, now)
        self._stop_all()
        return 0

    def _watch(self, child: Child, now: float) -> None:
        process = child.process
        if process is not None and process.alive:
            return
        if process is not None:
            ran = now - process.started_at
            child.crashes = 1 if ran > HEALTHY_AFTER else child.crashes + 1
            delay = backoff_delay(child.crashes, base=BACKOFF_START, cap=BACKOFF_MAX)
            assert process.process is not None
            self.say(
                f"{child.spec.name} {describe_exit(process.process.returncode)} after {ran:.1f}s; "
                f"restarting in {delay:.1f}s"
            )
            child.process = None
            child.restart_at = now + delay
            return
        if now >= child.restart_at:
            child.restarts += 1
            self._start(child)

    def _stop_all(self) -> None:
        """Stop children in order: each gets SIGTERM, drains, and is killed only past its limit."""
        self.say("stopping: draining in-flight calls")
        for child in self.children:
            process = child.process
            if process is None or not process.alive:
                continue
            drain = child.spec.drain_seconds
            returncode = process.stop(drain)  # SIGTERM; SIGKILL to its group past the limit
            if returncode in (0, -signal.SIGTERM):  # the stop we asked for
                self.say(f"{child.spec.name} stopped")
            elif returncode == -signal.SIGKILL:
                self.say(f"{child.spec.name} did not stop in {drain:g}s; killed it")
            else:
                self.say(f"{child.spec.name} stopped: it {describe_exit(returncode)}")
        self.say("stopped")
