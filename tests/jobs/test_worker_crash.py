"""A worker killed with SIGKILL mid-job: an idempotent job is finished by another worker, a
non-idempotent one is failed with the reason and never runs twice (executions are counted in
files by the tools themselves)."""

from __future__ import annotations

import time

import pytest

from tests.harness import PlatformProcess, wait_until
from tests.jobs import job_tools
from tests.jobs.conftest import node_env

pytestmark = pytest.mark.slow


@pytest.fixture
def web_only_node(test_job_tools, job_dir, tmp_path):
    """A node without its own worker: the test starts (and kills) workers itself."""
    node = PlatformProcess(
        tmp_path / "node", env=node_env(job_dir), args=["--no-trio", "--worker-concurrency", "0"]
    )
    node.start()
    yield node
    node.stop()


def test_a_killed_workers_jobs_are_retried_only_when_idempotent(
    web_only_node, start_worker, jobs_client, job_dir
):
    client = jobs_client(web_only_node)
    first = start_worker("first", web_only_node, concurrency=2)
    # Long first executions (they are killed), a short retry.
    retryable = client.submit("job_retryable", key="retryable", seconds=60, retry_seconds=0.5)
    once = client.submit("job_once", key="once", seconds=60)
    for job in (retryable, once):
        running = client.wait_for(job["id"], "running", timeout=20)
        assert running["worker"].startswith("first@"), running
    wait_until(
        lambda: (
            len(job_tools.lines(job_dir, "retryable", "starts")) == 1
            and len(job_tools.lines(job_dir, "once", "starts")) == 1
        ),
        timeout=10,
        what="both tools to start",
    )
    second = start_worker("second", web_only_node, concurrency=1)
    assert client.get(retryable["id"])["status"] == "running"  # still mid-call when killed

    first.kill()

    failed = client.wait_for(once["id"], "failed", "succeeded", timeout=30)
    assert failed["status"] == "failed", failed
    assert "was lost on attempt 1" in failed["error"]
    assert "tool 'job_once' is not idempotent, so the job is not run again" in failed["error"]
    assert failed["attempts"] == 1

    finished = client.wait_for(retryable["id"], "succeeded", "failed", timeout=40)
    assert finished["status"] == "succeeded", finished
    assert finished["worker"].startswith("second@"), finished
    assert finished["attempts"] == 2
    starts = job_tools.lines(job_dir, "retryable", "starts")
    assert len(starts) == 2 and starts[0] != starts[1]  # two executions, two processes
    assert job_tools.lines(job_dir, "retryable", "done") == [starts[1]]
    assert [call["outcome"] for call in finished["calls"]] == [
        "success"
    ]  # the killed one left none

    # Several reaper rounds later the non-idempotent job still ran once, and never finished.
    time.sleep(1.0)
    assert client.get(once["id"])["status"] == "failed"
    assert len(job_tools.lines(job_dir, "once", "starts")) == 1
    assert job_tools.lines(job_dir, "once", "done") == []
    assert second.alive
