"""The process supervisor behind `runplatform`: starts the children, prefixes their output,
restarts a crashed child with backoff, and on SIGINT/SIGTERM stops them in order, letting each
drain its in-flight calls first."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger("runplatform")

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
HEALTHY_AFTER = 30.0  # a child that ran this long restarts with the shortest backoff again


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    drain_seconds: float = 30.0  # how long it may take to finish in-flight work on SIGTERM


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_START
    restart_at: float = 0.0
    restarts: int = 0


class Supervisor:
    def __init__(self, specs: list[ChildSpec], *, out: Callable[[str], None] | None = None):
        self.children = [Child(spec) for spec in specs]
        self._stopping = threading.Event()
        self._out_lock = threading.Lock()
        self._out = out or self._write

    def _write(self, line: str) -> None:
        with self._out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def say(self, message: str) -> None:
        self._out(f"[runplatform] {message}")

    def _pump(self, child: Child, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._out(f"[{child.spec.name}] {raw.rstrip()}")

    def _start(self, child: Child) -> None:
        env = {**os.environ, **child.spec.env, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            child.spec.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # our signals reach children only when we send them
        )
        child.process = process
        child.started_at = time.monotonic()
        threading.Thread(target=self._pump, args=(child, process), daemon=True).start()
        self.say(f"started {child.spec.name} (pid {process.pid})")

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
        if process is not None and process.poll() is None:
            return
        if process is not None:
            ran = now - child.started_at
            if ran > HEALTHY_AFTER:
                child.backoff = BACKOFF_START
            self.say(
                f"{child.spec.name} exited with {process.returncode} after {ran:.1f}s; "
                f"restarting in {child.backoff:.1f}s"
            )
            child.process = None
            child.restart_at = now + child.backoff
            child.backoff = min(child.backoff * 2, BACKOFF_MAX)
            return
        if now >= child.restart_at:
            child.restarts += 1
            self._start(child)

    def _stop_all(self) -> None:
        """Stop children in order: each gets SIGTERM, drains, and is killed only past its limit."""
        self.say("stopping: draining in-flight calls")
        for child in self.children:
            process = child.process
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=child.spec.drain_seconds)
            except subprocess.TimeoutExpired:
                self.say(
                    f"{child.spec.name} did not stop in {child.spec.drain_seconds:g}s; killing it"
                )
                process.kill()
                process.wait()
            self.say(f"{child.spec.name} stopped ({process.returncode})")
        self.say("stopped")
