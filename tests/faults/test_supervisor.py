"""A hard-killed supervisor leaves nothing behind, and one data directory runs one node."""

from __future__ import annotations

import time

import httpx
import pytest

from apps.routing.models import RuntimeInstance, RuntimeStatus
from apps.tools.services import sync_tools
from tests.harness import PlatformProcess, descendants, pid_alive, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def trio_up(node: PlatformProcess) -> bool:
    return httpx.get(f"{node.url}/health/runtime", timeout=5).json()["trio"] == "up"


def refusal(node: PlatformProcess) -> str:
    """The one line a refused start prints; it must exit non-zero, without a traceback."""
    code = node.wait_exit(timeout=60)
    assert code != 0, node.output
    assert "Traceback" not in node.output, node.output
    lines = [line for line in node.output.splitlines() if line.startswith("CommandError")]
    assert len(lines) == 1, node.output
    return lines[0]


def test_a_killed_supervisor_takes_its_children_along_and_the_next_start_is_clean(
    transactional_db, tmp_path
):
    sync_tools()
    first = PlatformProcess(
        tmp_path / "node",
        env={"MCP_PLATFORM_HEARTBEAT_SECONDS": "0.5"},
        # Web worker processes below the web process, and a job worker with its pool.
        args=["--workers", "2", "--worker-concurrency", "1"],
    )
    first.start(timeout=120)
    restarted: PlatformProcess | None = None
    try:
        wait_until(lambda: trio_up(first), timeout=120, what="the Trio runtime")
        children = first.child_pids()
        assert set(children) == {"web", "worker", "trio"}, first.output
        # The Celery worker's pool processes and the web worker processes are there too.
        pool = wait_until(
            lambda: descendants(children["worker"]), timeout=60, what="the worker's pool"
        )
        web_workers = wait_until(
            lambda: len(descendants(children["web"])) >= 2 and descendants(children["web"]),
            timeout=60,
            what="the web worker processes",
        )
        everything = [*children.values(), *pool, *web_workers]

        # A second node on the same data directory says so in one line, and exits non-zero.
        rival = first.again()
        rival.env["MCP_PLATFORM_WEB_PORT"] = "1"  # its ports are not what stops it
        rival.start(wait=False)
        line = refusal(rival)
        assert f"another runplatform (pid {first.process.pid})" in line
        assert str(tmp_path / "node") in line

        # A node on another data directory but the same port is refused as well.
        squatter = PlatformProcess(tmp_path / "other")
        squatter.env["MCP_PLATFORM_WEB_PORT"] = str(first.web_port)
        squatter.start(wait=False)
        assert f"port {first.web_port}" in refusal(squatter)

        first.kill_leader()  # kill -9 of the supervisor alone
        killed_at = time.monotonic()
        wait_until(
            lambda: not any(pid_alive(pid) for pid in everything),
            timeout=15,
            what=f"the children {everything} to die with the supervisor",
        )
        print(f"children gone {time.monotonic() - killed_at:.2f}s after the supervisor's SIGKILL")

        restarted = first.again()
        restarted.start(timeout=120)
        wait_until(lambda: trio_up(restarted), timeout=120, what="the restarted Trio runtime")
        # Each runtime process has its own row: the killed one's is down, the new one's up.
        expected = [
            (children["trio"], RuntimeStatus.DOWN),
            (restarted.child_pids()["trio"], RuntimeStatus.UP),
        ]
        wait_until(
            lambda: (
                list(
                    RuntimeInstance.objects.filter(port=first.trio_port)
                    .order_by("started_at")
                    .values_list("pid", "status")
                )
                == expected
            ),
            timeout=30,
            what=f"runtime rows {expected}",
        )
    finally:
        first.stop()
        if restarted is not None:
            assert restarted.stop() == 0
    stopped = [line for line in restarted.output.splitlines() if " stopped" in line]
    assert "[runplatform] web stopped" in stopped, restarted.output[-3000:]
    assert "[runplatform] trio stopped" in stopped, restarted.output[-3000:]
    assert "-15" not in "\n".join(stopped)
