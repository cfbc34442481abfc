"""The scale-out profile on PostgreSQL and Redis: two web processes, one Trio runtime and two
Celery workers (two runplatform nodes) serve one catalogue."""

from __future__ import annotations

import os
import secrets
import time

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import require_service
from tests.harness import PlatformProcess, wait_until
from tests.jobs.conftest import JobsClient, node_env, wait_worker_ready

pytestmark = pytest.mark.slow


def require_postgres_and_redis() -> None:
    if not os.environ.get("DATABASE_URL") and not settings.REDIS_URL:
        # The embedded profile, by choice: .ci/run's second pass sets both and runs this test.
        pytest.skip("the scale-out profile runs with DATABASE_URL and REDIS_URL set")
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        require_service(
            "PostgreSQL and Redis", "run with DATABASE_URL=postgres://... and REDIS_URL=redis://..."
        )
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("PostgreSQL and Redis", f"Redis at {settings.REDIS_URL}: {exc!r}")


@pytest.fixture
def two_nodes(test_job_tools, job_dir, tmp_path):
    """Node A: web, Trio runtime, worker. Node B: web and worker, bridging to A's runtime."""
    require_postgres_and_redis()
    shared = {
        "MCP_PLATFORM_BRIDGE_SECRET": secrets.token_urlsafe(32),
        "MCP_PLATFORM_HEARTBEAT_SECONDS": "0.5",
        # Slow polling: a change that arrives within a second came by a push, not a poll.
        "MCP_PLATFORM_ROUTING_POLL_SECONDS": "30",
    }
    a = PlatformProcess(
        tmp_path / "a", env=node_env(job_dir, **shared), args=["--worker-concurrency", "1"]
    )
    b = PlatformProcess(
        tmp_path / "b",
        env=node_env(job_dir, **shared, MCP_PLATFORM_TRIO_PORT=str(a.trio_port)),
        args=["--no-trio", "--worker-concurrency", "1"],
    )
    try:  # both are built before either starts: a failure can't leave A running
        a.start()
        b.start()
        for node in (a, b):
            wait_worker_ready(lambda node=node: node.output, what="a node's worker")
        wait_until(lambda: runtime_health(b)["trio"] == "up", timeout=60, what="the Trio runtime")
    except BaseException as exc:
        a.stop()
        b.stop()
        if isinstance(exc, AssertionError):
            raise AssertionError(f"{exc}\n--- A ---\n{a.output}\n--- B ---\n{b.output}") from None
        raise
    yield a, b
    b.stop()
    a.stop()


def runtime_health(node: PlatformProcess) -> dict:
    return httpx.get(f"{node.url}/health/runtime", timeout=5).json()


def test_two_web_processes_one_trio_runtime_and_two_workers_serve_one_catalogue(
    two_nodes, make_token
):
    a, b = two_nodes
    admin = make_token(scopes=["admin"])
    at_a, at_b = JobsClient(a.url, admin), JobsClient(b.url, admin)
    try:
        before = at_b.http.post("/api/v2/tools/echo/call", json={"message": "hi"}).json()
        assert before["meta"]["runtime"] == "asyncio"
        trio_pid = runtime_health(a)["trio_pid"]

        # An admin change through web A ...
        changed_at = time.monotonic()
        reply = at_a.http.patch("/api/v2/tools/echo", json={"runtime": "trio"})
        assert reply.status_code == 200, reply.text
        version = runtime_health(a)["routing_version"]

        # ... reaches the Trio runtime ...
        wait_until(
            lambda: (runtime_health(b)["trio_routing_version"] or 0) >= version,
            timeout=10,
            what="the Trio runtime to serve the new routing version",
        )
        reached_trio = time.monotonic() - changed_at

        # ... and web B's routing: its next call of echo runs on the Trio runtime.
        def routed_to_trio() -> dict | None:
            result = at_b.http.post("/api/v2/tools/echo/call", json={"message": "hi"}).json()
            return result if result["meta"]["runtime"] == "trio" else None

        after = wait_until(routed_to_trio, timeout=10, what="web B to route echo to trio")
        reached_b = time.monotonic() - changed_at
        assert after["meta"]["pid"] == trio_pid
        print(f"change reached the Trio runtime in {reached_trio:.3f}s, web B in {reached_b:.3f}s")

        # A job runs through the same routing: echo, submitted at B, runs on the Trio runtime.
        job = at_b.submit("echo", message="from a job")
        done = at_b.wait_for(job["id"], "succeeded", "failed", timeout=30)
        assert done["status"] == "succeeded", done
        assert done["result"]["meta"]["runtime"] == "trio"
        # Recorded by the Trio runtime, which ran it, within its flush interval.
        calls = wait_until(
            lambda: at_b.get(job["id"])["calls"], timeout=15, what="the job's call on record"
        )
        assert calls[0]["runtime"] == "trio"

        # Jobs submitted at both web processes spread over both workers.
        jobs = [(at_a if n % 2 else at_b).submit("sleep", seconds=0.5)["id"] for n in range(8)]
        finished = [at_a.wait_for(job_id, "succeeded", "failed", timeout=60) for job_id in jobs]
        assert {job["status"] for job in finished} == {"succeeded"}
        workers = {job["worker"].split(" pid ")[0] for job in finished}
        assert len(workers) == 2, workers
    finally:
        at_a.http.close()
        at_b.http.close()
