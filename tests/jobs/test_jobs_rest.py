"""Jobs over REST on a real node: runplatform's own Celery worker runs them through the call
service; progress, results, filters, cancellation."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from apps.access.services import create_api_token
from apps.tools.models import Tool
from apps.tools.services import update_tool
from tests.harness import wait_until
from tests.jobs import job_tools
from tests.jobs.conftest import JobsClient

pytestmark = pytest.mark.slow


def test_a_three_second_job_reports_progress_then_its_result(test_job_tools, job_node, jobs_client):
    client = jobs_client(job_node)
    created = client.submit("sleep", seconds=3)
    assert created["status"] == "queued"
    assert created["url"].endswith(f"/api/v2/jobs/{created['id']}")

    def partway() -> dict | None:
        job = client.get(created["id"])
        assert job["status"] in {"queued", "running"}, job
        progress = job["progress"]
        return job if job["status"] == "running" and progress and progress < 3 else None

    running = wait_until(partway, timeout=20, interval=0.1, what="progress part of the way")
    assert running["progress_total"] == 3
    assert running["worker"].startswith("jobs.")  # the node's own worker

    done = client.wait_for(created["id"], "succeeded", "failed", timeout=30)
    assert done["status"] == "succeeded", done
    assert done["result"]["structuredContent"]["slept"] == 3
    assert done["result"]["isError"] is False
    assert done["progress"] == done["progress_total"] == 3
    assert done["attempts"] == 1
    # The call went through the call service and is linked to the job by its request id.
    [call] = done["calls"]
    assert call["outcome"] == "success"
    assert call["request_id"] == f"job-{created['id'].replace('-', '')}-1"
    assert call["runtime"] == "asyncio"

    listed = client.http.get("/api/v2/jobs", params={"status": "succeeded"}).json()
    assert created["id"] in [job["id"] for job in listed["jobs"]]
    listed = client.http.get("/api/v2/jobs", params={"status": "queued,running"}).json()
    assert created["id"] not in [job["id"] for job in listed["jobs"]]

    # Finished: cancelling is a conflict, in the legacy error body.
    reply = client.http.post(f"/api/v2/jobs/{created['id']}/cancel")
    assert reply.status_code == 409
    assert reply.json()["error"] == f"Job '{created['id']}' already succeeded"

    # Another caller neither sees nor cancels it.
    _, other = create_api_token(name="other", scopes=["tools:read", "tools:call"])
    stranger = JobsClient(job_node.url, other)  # closed below
    assert stranger.http.get(f"/api/v2/jobs/{created['id']}").status_code == 404
    assert stranger.http.post(f"/api/v2/jobs/{created['id']}/cancel").status_code == 404
    assert created["id"] not in [j["id"] for j in stranger.http.get("/api/v2/jobs").json()["jobs"]]
    stranger.http.close()


def test_a_job_is_checked_like_a_call_before_it_is_queued(test_job_tools, job_node, jobs_client):
    client = jobs_client(job_node)
    reply = client.http.post("/api/v2/jobs", json={"tool": "no_such_tool", "arguments": {}})
    assert reply.status_code == 404
    assert reply.json()["error"] == "Tool 'no_such_tool' not found"
    reply = client.http.post("/api/v2/jobs", json={"tool": "sleep", "arguments": {"seconds": "x"}})
    assert reply.status_code == 422
    assert "seconds" in reply.json()["error"]
    reader = jobs_client(job_node, scopes=["tools:read"])
    reply = reader.http.post("/api/v2/jobs", json={"tool": "echo", "arguments": {"message": "x"}})
    assert reply.status_code == 403
    assert client.http.get("/api/v2/jobs", params={"status": "queued"}).json()["count"] == 0


def test_cancelling_running_jobs_stops_their_tools(test_job_tools, job_node, jobs_client, job_dir):
    client = jobs_client(job_node)
    ticking = client.submit("job_ticks", key="ticker", seconds=60)
    sleeping = client.submit("sleep", seconds=60)
    client.wait_for(ticking["id"], "running")
    client.wait_for(sleeping["id"], "running")
    wait_until(
        lambda: len(job_tools.lines(job_dir, "ticker", "ticks")) >= 3,
        timeout=20,
        what="the ticking tool to tick",
    )
    # Both worker processes are busy: a third job waits in the queue and is cancelled there.
    waiting = client.submit("job_ticks", key="never", seconds=1)

    # The queued one first: a running job stopped before it would free a process to claim it.
    for job in (waiting, ticking, sleeping):
        reply = client.http.post(f"/api/v2/jobs/{job['id']}/cancel")
        assert reply.status_code == 202, reply.text
        assert reply.json()["cancel_requested_at"] is not None

    stopped = [client.wait_for(job["id"], "cancelled", timeout=15) for job in (ticking, sleeping)]
    for job in stopped:
        assert job["error"].startswith("Cancelled by token:test:mcpp_"), job
        assert "while running" in job["error"], job
        assert [call["outcome"] for call in job["calls"]] == ["cancelled"]
        took = datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(
            job["cancel_requested_at"]
        )
        print(f"{job['tool']} stopped {took.total_seconds():.3f}s after the cancel request")

    # The tool really stopped: no tick after the job was marked cancelled.
    ticks = len(job_tools.lines(job_dir, "ticker", "ticks"))
    time.sleep(0.5)
    assert len(job_tools.lines(job_dir, "ticker", "ticks")) == ticks
    assert ticks < 60 / job_tools.TICK

    queued = client.wait_for(waiting["id"], "cancelled", timeout=5)
    assert queued["error"].startswith("Cancelled by token:test:mcpp_")
    assert queued["error"].endswith(" before it started")
    assert queued["attempts"] == 0
    # The freed workers take the cancelled job's message and drop it: it never runs.
    follow_up = client.submit("sleep", seconds=0.1)
    assert client.wait_for(follow_up["id"], "succeeded", "failed")["status"] == "succeeded"
    assert job_tools.lines(job_dir, "never", "ticks") == []
    assert client.get(waiting["id"])["status"] == "cancelled"


def route_to_trio(*names: str) -> None:
    for name in names:
        update_tool(tool=Tool.objects.get(name=name), changes={"runtime": "trio"})


def test_a_trio_routed_job_runs_on_the_trio_runtime(test_job_tools, job_node, jobs_client):
    route_to_trio("echo")
    trio_pid = httpx.get(f"{job_node.url}/health/runtime", timeout=5).json()["trio_pid"]
    client = jobs_client(job_node)
    job = client.submit("echo", message="via the bridge")
    done = client.wait_for(job["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert done["result"]["meta"]["runtime"] == "trio"
    assert done["result"]["meta"]["pid"] == trio_pid
    # The runtime that ran it records the call: its row is there within its flush interval.
    calls = wait_until(
        lambda: client.get(job["id"])["calls"], timeout=15, what="the job's call on record"
    )
    assert [call["runtime"] for call in calls] == ["trio"]


def test_cancelling_a_trio_routed_job_stops_the_tool_on_the_trio_runtime(
    test_job_tools, job_node, jobs_client, job_dir
):
    route_to_trio("job_ticks")
    client = jobs_client(job_node)
    ticking = client.submit("job_ticks", key="trio-ticker", seconds=8)
    client.wait_for(ticking["id"], "running")
    wait_until(
        lambda: len(job_tools.lines(job_dir, "trio-ticker", "ticks")) >= 3,
        timeout=20,
        what="the ticking tool to tick on the Trio runtime",
    )
    assert client.http.post(f"/api/v2/jobs/{ticking['id']}/cancel").status_code == 202
    client.wait_for(ticking["id"], "cancelled", timeout=15)
    # Recorded by the runtime that ran it, within its flush interval.
    wait_until(
        lambda: "cancelled" in [c["outcome"] for c in client.get(ticking["id"])["calls"]],
        timeout=15,
        what="the cancelled call on record",
    )
    time.sleep(0.5)
    ticks = len(job_tools.lines(job_dir, "trio-ticker", "ticks"))
    time.sleep(0.5)
    assert len(job_tools.lines(job_dir, "trio-ticker", "ticks")) == ticks
