"""The durable task queue and workflows on real nodes: workers in the Trio runtime and in
standalone processes, tasks run here or on a peer over libp2p, and a node restarted mid-way."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid

from tests.harness import REPO, wait_until
from tests.p2p.cluster import (
    ok,
    ok_soon,
    peer_page_calls,
    wait_connected,
    wait_task,
    wait_workflow,
)
from tests.p2p.fixture_tools import executions


def key() -> str:
    return uuid.uuid4().hex[:12]


def test_a_task_submitted_on_a_runs_and_its_result_comes_back(cluster):
    task = ok(
        cluster,
        "a",
        "p2p_taskqueue_submit",
        {"tool": "counted", "arguments": {"key": (k := key())}},
    )
    done = wait_task(cluster, "a", task["task_id"])
    assert done["status"] == "succeeded" and done["result"]["key"] == k
    assert len(executions(cluster.node("a").data_dir, k)) == 1
    # With a target peer the task runs on B, over libp2p, and its result comes back to A.
    wait_connected(cluster, "a", ("b",))
    remote = ok(
        cluster,
        "a",
        "p2p_taskqueue_submit",
        {
            "tool": "counted",
            "arguments": {"key": (rk := key())},
            "peer_id": cluster.peer_ids["b"],
        },
    )
    done = wait_task(cluster, "a", remote["task_id"])
    assert done["status"] == "succeeded" and done["result"]["key"] == rk
    assert len(executions(cluster.node("b").data_dir, rk)) == 1
    assert executions(cluster.node("a").data_dir, rk) == []
    # A records the call it made to B for the task; B's page at A lists it.
    wait_until(
        lambda: ["→ to peer", "counted", "success"] in peer_page_calls(cluster, "a", "b"),
        timeout=90,
        interval=0.5,
        what="the task's call to B on B's page at A",
    )


def test_the_same_idempotency_key_returns_the_same_task(cluster):
    args = {"tool": "echo", "arguments": {"message": "once"}, "idempotency_key": (k := key())}
    first = ok(cluster, "a", "p2p_taskqueue_submit", args)
    again = ok(cluster, "a", "p2p_taskqueue_submit", args)
    assert first["created"] is True and again["created"] is False
    assert again["task_id"] == first["task_id"]
    listed = ok(cluster, "a", "p2p_taskqueue_list", {"limit": 500})["tasks"]
    assert sum(t["idempotency_key"] == k for t in listed) == 1


def test_an_always_failing_task_ends_in_the_dead_letter_after_max_attempts(cluster):
    task = ok(
        cluster,
        "a",
        "p2p_taskqueue_submit",
        {
            "tool": "calculate",
            "arguments": {"operation": "divide", "a": 1, "b": 0},
            "max_attempts": 3,
            "backoff_seconds": 0.2,
        },
    )
    done = wait_task(cluster, "a", task["task_id"])
    assert done["status"] == "dead" and done["attempts"] == 3
    assert "division by zero" in done["error"]
    assert [a["outcome"] for a in done["attempt_log"]] == ["failed"] * 3
    assert ok(cluster, "a", "p2p_taskqueue_stats")["dead_letter"] >= 1


def _worker(cluster, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_taskqueue_worker", "--queue", "slow", "--name", name],
        cwd=REPO,
        env=cluster.node("a").env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_a_worker_stopped_mid_task_loses_its_task_and_completes_nothing_late(cluster):
    first = _worker(cluster, "w1")
    second = None
    try:
        task = ok(
            cluster,
            "a",
            "p2p_taskqueue_submit",
            {
                "tool": "counted_idempotent",  # so the queue may run it again
                "arguments": {"key": (k := key()), "delay": 3},
                "queue": "slow",
                "lease_seconds": 1.5,
            },
        )
        task_id = task["task_id"]
        wait_until(
            lambda: (
                ok(cluster, "a", "p2p_taskqueue_get", {"task_id": task_id})["status"] == "running"
            ),
            timeout=60,
            interval=0.1,
            what="w1 to claim the task",
        )
        first.send_signal(signal.SIGSTOP)  # w1 stops dead mid-task: no renewals, no report
        second = _worker(cluster, "w2")
        done = wait_task(cluster, "a", task_id, timeout=90)
        assert done["status"] == "succeeded" and done["worker_id"].startswith("w2@")
        # w1 wakes: its lease is long gone, so it cancels its tool ("lost"); or, when the tool
        # ends first, it reports and the report is rejected ("stale"). Either way: done once.
        first.send_signal(signal.SIGCONT)

        def outcomes():
            log = ok(cluster, "a", "p2p_taskqueue_get", {"task_id": task_id})["attempt_log"]
            return [(a["worker_id"].split("@")[0], a["outcome"]) for a in log]

        def w1_let_go() -> bool:  # its heartbeat says it holds no task any more
            workers = ok(cluster, "a", "p2p_worker_list")["workers"]
            mine = [w for w in workers if w["worker_id"].startswith("w1@")]
            return bool(mine) and all(w["current_task"] is None and w["alive"] for w in mine)

        wait_until(
            lambda: (
                outcomes() == [("w1", "stale"), ("w2", "succeeded")]
                or (outcomes() == [("w1", "lost"), ("w2", "succeeded")] and w1_let_go())
            ),
            timeout=30,
            interval=0.2,
            what="w1's tool to be cancelled or its late completion rejected",
        )
        final = ok(cluster, "a", "p2p_taskqueue_get", {"task_id": task_id})
        assert final["status"] == "succeeded" and final["worker_id"].startswith("w2@")
        # Ran by w2, and by w1 unless it was cancelled before the tool recorded its run (an
        # idempotent tool: the queue may run it again); completed once either way.
        ran = len(executions(cluster.node("a").data_dir, k))
        assert ran in ((2,) if outcomes()[0][1] == "stale" else (1, 2)), outcomes()
        workers = {
            w["worker_id"].split("@")[0] for w in ok(cluster, "a", "p2p_worker_list")["workers"]
        }
        assert {"w1", "w2", "trio"} <= workers
    finally:
        for process in (first, second):
            if process is not None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait(timeout=30)


FOUR_STEPS = [
    {"id": "sum", "tool": "calculate", "arguments": {"operation": "add", "a": 2, "b": 3}},
    {
        "id": "times_ten",
        "tool": "calculate",
        "arguments": {"operation": "multiply", "a": "{{steps.sum.result.result}}", "b": 10},
        "depends_on": ["sum"],
        "peer_id": "B",
    },
    {"id": "count", "tool": "counted", "arguments": {"key": "K"}, "peer_id": "B"},
    {
        "id": "report",
        "tool": "echo",
        "arguments": {
            "message": "total {{steps.times_ten.result.result}} by {{steps.count.result.pid}}"
        },
        "depends_on": ["times_ten", "count"],
    },
]


def test_a_four_step_workflow_across_two_peers_passes_results_along(cluster):
    wait_connected(cluster, "a", ("b",))
    k = key()
    steps = [
        {
            **s,
            **({"peer_id": cluster.peer_ids["b"]} if s.get("peer_id") else {}),
            **({"arguments": {"key": k}} if s["id"] == "count" else {}),
        }
        for s in FOUR_STEPS
    ]
    workflow = ok(cluster, "a", "p2p_workflow_submit", {"name": "across", "steps": steps})
    done = wait_workflow(cluster, "a", workflow["workflow_id"])
    assert done["status"] == "succeeded", done
    results = ok(cluster, "a", "p2p_workflow_result", {"workflow_id": workflow["workflow_id"]})[
        "results"
    ]
    assert results["sum"]["result"] == 5
    assert results["times_ten"]["result"] == 50
    b_pid = results["count"]["pid"]
    assert (
        results["report"]["message"] == f"total 50.0 by {b_pid}"
        or results["report"]["message"] == f"total 50 by {b_pid}"
    )
    assert len(executions(cluster.node("b").data_dir, k)) == 1  # the step ran on B
    deps = ok(cluster, "a", "p2p_workflow_dependencies", {"workflow_id": workflow["workflow_id"]})
    assert deps["roots"] == ["sum", "count"] and deps["leaves"] == ["report"]


def test_a_failing_step_cancels_its_dependents(cluster):
    workflow = ok(
        cluster,
        "a",
        "p2p_workflow_submit",
        {
            "steps": [
                {
                    "id": "bad",
                    "tool": "calculate",
                    "arguments": {"operation": "divide", "a": 1, "b": 0},
                },
                {
                    "id": "next",
                    "tool": "echo",
                    "arguments": {"message": "{{steps.bad.result}}"},
                    "depends_on": ["bad"],
                },
                {
                    "id": "last",
                    "tool": "echo",
                    "arguments": {"message": "x"},
                    "depends_on": ["next"],
                },
                {"id": "other", "tool": "echo", "arguments": {"message": "independent"}},
            ]
        },
    )
    done = wait_workflow(cluster, "a", workflow["workflow_id"])
    statuses = {s["id"]: s["status"] for s in done["steps"]}
    assert done["status"] == "failed"
    assert statuses == {
        "bad": "failed",
        "next": "cancelled",
        "last": "cancelled",
        "other": "succeeded",
    }
    assert all(s["task_id"] is None for s in done["steps"] if s["status"] == "cancelled")


def test_a_restarted_node_keeps_its_peer_id_is_seen_again_and_resumes_its_workflow(cluster):
    a = cluster.node("a")
    peer_id_before = ok(cluster, "a", "p2p_node_status")["peer_id"]
    k = key()
    workflow = ok(
        cluster,
        "a",
        "p2p_workflow_submit",
        {
            "steps": [
                {"id": "slow", "tool": "counted", "arguments": {"key": k, "delay": 4}},
                {
                    "id": "after",
                    "tool": "echo",
                    "arguments": {"message": "after {{steps.slow.result.key}}"},
                    "depends_on": ["slow"],
                },
            ]
        },
    )
    workflow_id = workflow["workflow_id"]
    wait_until(
        lambda: (
            ok(cluster, "a", "p2p_workflow_status", {"workflow_id": workflow_id})["steps"][0][
                "status"
            ]
            == "queued"
            and ok(cluster, "a", "p2p_taskqueue_stats")["by_status"]["running"] >= 1
        ),
        timeout=30,
        interval=0.1,
        what="the slow step to be running",
    )
    assert a.stop() == 0  # the whole node, Trio runtime included, mid-way through the workflow
    a.start()
    assert ok_soon(cluster, "a", "p2p_node_status")["peer_id"] == peer_id_before
    # B and C see A again (it dials them; they see the inbound connection).
    wait_connected(cluster, "b", ("a",))
    wait_connected(cluster, "c", ("a",))
    wait_connected(cluster, "a", ("b", "c"))
    done = wait_workflow(cluster, "a", workflow_id, timeout=90)
    assert done["status"] == "succeeded", done
    assert done["steps"][1]["result"]["message"] == f"after {k}"
