"""Child processes, one way for every process manager of the project: `runplatform`'s supervisor
(mcp_platform/supervisor.py), the test harness (tests/harness.py) and the benchmarks
(bench/common.py) start, watch and stop their children through `ChildProcess`.

A child runs in its own session (our signals reach it only when we send them, and its whole
group can be stopped at once), its stdout and stderr merged and read line by line by a thread:
kept for the error message of a test or a benchmark, or handed to `on_line` (the supervisor
prefixes and prints them).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"


class NotHealthy(AssertionError, RuntimeError):
    """A child that died or never answered its health URL (a test failure, a script's error)."""


_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that was free a moment ago, below the ephemeral range when it can
    be. A port from that range (what binding port 0 gives) may meanwhile become the local end of
    an outgoing connection, and a client polling it before its server listens may connect to
    itself there (TCP self-connect), which takes the port from the server for good. Not the
    same port twice from one process."""
    low, _ = _ephemeral_range()
    candidates = [port for port in range(10000, low) if port not in _handed_out]
    for port in random.sample(candidates, min(len(candidates), 50)):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # no room below the range: the system's choice
        sock.bind((host, 0))
        return sock.getsockname()[1]


def describe_exit(returncode: int) -> str:
    """`exited with 3` / `was killed by SIGKILL`, in words rather than a negative number."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with {returncode}"


# --- the process table (Linux /proc) --------------------------------------------------------


@dataclass
class ProcessInfo:
    pid: int
    ppid: int
    state: str
    cmdline: str
    cpu_seconds: float
    rss_bytes: int

    @property
    def pss_bytes(self) -> int:
        """Proportional set size: shared pages split among their sharers (a prefork worker's
        children share most of their memory), so sums of it do not count a page twice."""
        try:
            for line in Path(f"/proc/{self.pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return self.rss_bytes


def _all_processes() -> list[ProcessInfo]:
    found = []
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            rss_pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to read
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
        found.append(
            ProcessInfo(
                pid=int(entry.name),
                ppid=int(fields[1]),
                state=fields[0],
                cmdline=cmdline,
                cpu_seconds=(int(fields[11]) + int(fields[12])) / ticks,  # utime + stime
                rss_bytes=rss_pages * page,
            )
        )
    return found


def process_tree(root: int) -> list[ProcessInfo]:
    """`root` and every descendant of it (Linux /proc; empty elsewhere). A descendant in its
    own session (runplatform's children) is still found: the tree follows parents."""
    processes = _all_processes()
    children: dict[int, list[ProcessInfo]] = {}
    for p in processes:
        children.setdefault(p.ppid, []).append(p)
    tree = [p for p in processes if p.pid == root]
    for p in tree:  # grows while it is walked
        tree.extend(children.get(p.pid, []))
    return tree


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead but not yet reaped by its new parent, is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`."""
    return [p.pid for p in process_tree(pid) if p.pid != pid and p.state not in {"Z", "X"}]


# --- one child --------------------------------------------------------------------------------


class ChildProcess:
    """A process of ours in its own session, its output kept (or handed to `on_line`)."""

    label = "process"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        cwd: Path | str | None = None,
        on_line: Callable[[str], None] | None = None,
    ):
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.on_line = on_line
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def spawn(self, argv: Sequence[str], *, pass_fds: Sequence[int] = ()) -> subprocess.Popen:
        self.process = process = subprocess.Popen(
            list(argv),
            cwd=self.cwd,
            env={**self.env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            pass_fds=tuple(pass_fds),
            start_new_session=True,  # our signals reach it only when we send them
        )
        self.started_at = time.monotonic()
        threading.Thread(target=self._pump, args=(process,), daemon=True).start()
        return process

    def _pump(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip()
            if self.on_line is not None:
                self.on_line(line)
            else:
                with self._lock:
                    self.lines.append(line)

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_http_health(self, url: str, *, timeout: float) -> None:
        """Poll `url` until it answers 200; NotHealthy (with the output) if the process dies
        first or `timeout` passes."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if not self.alive:
                code = None if self.process is None else self.process.returncode
                raise NotHealthy(f"{self.label} exited early ({code}):\n{self.output}")
            try:
                reply = httpx.get(url, timeout=2)
                if reply.status_code == 200:
                    return
                last_error = f"HTTP {reply.status_code}"
            except httpx.HTTPError as exc:
                last_error = repr(exc)
            time.sleep(0.1)
        raise NotHealthy(
            f"{self.label} not healthy at {url} after {timeout}s ({last_error})\n"
            f"--- {self.label} output ---\n{self.output}"
        )

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL the whole process group at once: no chance to clean up."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def kill_leader(self) -> None:
        """SIGKILL only the process we started, not its children (as `kill -9 <pid>`)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_exit(self, *, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NotHealthy(
                f"{self.label} still running after {timeout}s:\n{self.output}"
            ) from None

    def stop(self, timeout: float = 60, *, group: bool = False) -> int:
        """SIGTERM (to the process, or its whole group), let it drain, SIGKILL the group past
        `timeout`. Returns its exit code."""
        process = self.process
        if process is None or process.poll() is not None:
            return process.returncode if process else 0
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGTERM)
            else:
                process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            return process.wait()
