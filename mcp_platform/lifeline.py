"""Processes of a node die with the supervisor that started them, so a hard-killed `runplatform`
leaves no orphans holding its ports, its data directory or its database rows.

The supervisor's children are started through `python -m mcp_platform.lifeline <supervisor pid>
-- <argv>`, which asks Linux to SIGKILL the process when its parent dies (PR_SET_PDEATHSIG,
kept across exec) and then execs the real command. Their own children (the Celery worker's pool
processes, the web process's workers) are forked by threads that may come and go, which
PR_SET_PDEATHSIG counts as a parent's death, so they watch their parent instead
(`watch_parent`) and exit once it is gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

SUPERVISOR_PID_ENV = "MCP_PLATFORM_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.5


def die_with_parent(signum: int = signal.SIGKILL) -> bool:
    """Have the kernel send `signum` to this process when its parent dies; False off Linux."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0


def watch_parent(*, interval: float = WATCH_SECONDS) -> None:
    """Exit this process soon after its parent dies (it is then re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)  # no clean-up: the parent that would coordinate it is gone

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def is_supervised() -> bool:
    return bool(os.environ.get(SUPERVISOR_PID_ENV))


def watch_parent_if_grandchild() -> None:
    """In a process forked by one of the supervisor's children: exit when that child dies."""
    supervisor = os.environ.get(SUPERVISOR_PID_ENV)
    if supervisor and str(os.getppid()) != supervisor:
        watch_parent()


def main(argv: list[str]) -> None:
    """`python -m mcp_platform.lifeline <parent pid> -- <command...>`"""
    parent, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: python -m mcp_platform.lifeline <parent pid> -- <command...>")
    die_with_parent()
    if os.getppid() != int(parent):
        raise SystemExit(1)  # the parent died before the request took effect
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
