"""An operator's bad day on one node (runplatform: web, Trio runtime, and a Celery worker where
jobs run), with real processes killed by SIGKILL under load. Executions are counted by the tools
themselves (fault_tools): no call may run twice, and none may be lost without its caller being
told. The figures printed here are the ones docs/deployment.md quotes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from apps.taskqueue import services as taskqueue
from apps.taskqueue.models import Task, TaskStatus
from apps.tools.services import sync_tools
from tests.faults import fault_tools
from tests.faults.fault_tools import Executions
from tests.harness import PlatformProcess, pid_alive, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture
def fault_log(tmp_path) -> Path:
    return tmp_path / "executions.log"


@pytest.fixture
def node(transactional_db, tmp_path, fault_log):
    """A node with the fault tools, its Trio runtime up; no Celery job worker."""
    with _node(tmp_path, fault_log, job_processes=0) as platform:
        yield platform


@pytest.fixture
def jobs_node(transactional_db, tmp_path, fault_log):
    """The same node with a Celery job worker of two processes (web, worker, Trio runtime)."""
    with _node(tmp_path, fault_log, job_processes=2) as platform:
        yield platform


@contextlib.contextmanager
def _node(tmp_path: Path, fault_log: Path, *, job_processes: int):
    fault_tools.register_all()
    sync_tools()
    platform = PlatformProcess(
        tmp_path / "node",
        env={
            "MCP_PLATFORM_TOOL_MODULES": fault_tools.__name__,
            fault_tools.LOG_ENV: str(fault_log),
            "MCP_PLATFORM_HEARTBEAT_SECONDS": "0.5",
            # Jobs: a lost worker is noticed in seconds, not the default 10 s.
            "MCP_PLATFORM_JOB_LEASE_SECONDS": "2",
            "MCP_PLATFORM_JOB_REAP_SECONDS": "0.3",
            "MCP_PLATFORM_WORKER_CONCURRENCY": str(job_processes),
            # Task-queue slots: the drain test runs 4 of its 6 tasks and leaves 2 queued.
            "MCP_PLATFORM_TASKQUEUE_WORKERS": "4",
        },
    )
    platform.start(timeout=120)
    try:
        wait_until(lambda: runtime(platform)["trio"] == "up", timeout=120, what="Trio runtime")
        yield platform
    finally:
        platform.stop()
        fault_tools.unregister_all()


def runtime(node: PlatformProcess) -> dict:
    return httpx.get(f"{node.url}/health/runtime", timeout=5).json()


class Load:
    """Threads calling a tool over the REST API back to back, each answer kept with its time."""

    def __init__(self, node: PlatformProcess, token: str, tool: str, *, threads: int, **args):
        self.node, self.token, self.tool, self.args = node, token, tool, args
        self.results: list[dict] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.node.url, timeout=60) as http:
            while not self._stop.is_set():
                call_id = uuid.uuid4().hex
                result = {"id": call_id, "sent": time.monotonic()}
                try:
                    reply = http.post(
                        f"/api/v2/tools/{self.tool}/call",
                        json={"call_id": call_id, **self.args},
                        headers=auth,
                    )
                    result.update(status=reply.status_code, body=reply.json())
                except (httpx.HTTPError, ValueError) as exc:  # the web process went away
                    result.update(status=None, body={"error": repr(exc)})
                    time.sleep(0.05)
                result["at"] = time.monotonic()
                self.results.append(result)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def first(self, predicate) -> dict | None:
        return next((r for r in list(self.results) if predicate(r)), None)

    def ok(self) -> list[dict]:
        return [r for r in self.results if r["status"] == 200]


def meta(result: dict) -> dict:
    return (result.get("body") or {}).get("meta", {})


def assert_nothing_ran_twice(executions: Executions) -> None:
    twice = {cid: pids for cid, pids in executions.starts.items() if len(pids) > 1}
    assert not twice, twice


def assert_every_success_ran_once(load: Load, executions: Executions) -> None:
    for result in load.ok():
        assert len(executions.starts.get(result["id"], [])) == 1, result
        assert len(executions.ends.get(result["id"], [])) == 1, result


def test_trio_runtime_killed_under_load(node, make_token, fault_log):
    token = make_token()
    old_pid = runtime(node)["trio_pid"]
    with Load(node, token, "fault_step", threads=3, seconds=0.02) as load:
        wait_until(lambda: len(load.ok()) >= 20, timeout=60, what="calls to flow")
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        back = wait_until(
            lambda: load.first(
                lambda r: (
                    r["status"] == 200
                    and r["sent"] > killed_at
                    and meta(r)["pid"] != old_pid
                    and meta(r)["runtime"] == "trio"
                )
            ),
            timeout=120,
            what="calls on the restarted Trio runtime",
        )
        time.sleep(2)  # calls keep flowing on the restarted runtime
    executions = Executions.read(fault_log)
    assert_nothing_ran_twice(executions)
    assert_every_success_ran_once(load, executions)
    failed = [r for r in load.results if r["status"] != 200]
    for result in failed:  # told, and told whether it may have run
        assert result["status"] == 503, result
        assert "may have started" in result["body"]["error"], result
    fallbacks = [r for r in load.ok() if meta(r)["fallback"]]
    assert fallbacks and all(meta(r)["runtime"] == "asyncio" for r in fallbacks)
    late = [r for r in fallbacks if r["sent"] > back["at"]]
    lag = max((r["at"] for r in fallbacks), default=back["at"]) - back["at"]
    print(
        f"\nFAULT trio-killed: {len(load.results)} calls, {len(load.ok())} ok, "
        f"{len(fallbacks)} fell back, {len(failed)} failed in flight, 0 run twice; "
        f"back on Trio {back['at'] - killed_at:.2f}s after the kill; fallback lasted "
        f"{max(lag, 0):.2f}s past that ({len(late)} calls sent after it fell back)"
    )
    assert not late, late
    assert "HTTP Request: POST" not in node.output  # no log line per bridged call


def test_web_process_killed_under_load(node, make_token, fault_log):
    token = make_token()
    with Load(node, token, "fault_step", threads=3, seconds=0.02) as load:
        wait_until(lambda: len(load.ok()) >= 20, timeout=60, what="calls to flow")
        web = node.child_pids()["web"]
        os.kill(web, signal.SIGKILL)
        killed_at = time.monotonic()
        back = wait_until(
            lambda: load.first(lambda r: r["status"] == 200 and r["sent"] > killed_at),
            timeout=120,
            what="calls answered by the restarted web process",
        )
        time.sleep(1)
    executions = Executions.read(fault_log)
    assert_nothing_ran_twice(executions)
    assert_every_success_ran_once(load, executions)
    assert node.child_pids()["web"] != web
    assert "[runplatform] web was killed by SIGKILL" in node.output
    cut = [r for r in load.results if r["status"] != 200]
    assert all(r["status"] is None for r in cut), cut  # connection errors only, no 5xx
    print(
        f"\nFAULT web-killed: {len(load.results)} calls, {len(cut)} refused or cut off "
        f"while it was down, 0 run twice; answering again {back['at'] - killed_at:.2f}s "
        "after the kill"
    )


def test_worker_killed_mid_job(jobs_node, make_token, fault_log):
    from tests.jobs.conftest import JobsClient

    node = jobs_node
    client = JobsClient(node.url, make_token())
    try:
        job = client.submit("fault_local_step", call_id=(cid := uuid.uuid4().hex), seconds=60)
        client.wait_for(job["id"], "running", timeout=60)
        started = wait_until(
            lambda: Executions.read(fault_log).starts.get(cid), timeout=30, what="the tool"
        )
        worker = node.child_pids()["worker"]
        os.kill(worker, signal.SIGKILL)
        killed_at = time.monotonic()
        failed = client.wait_for(job["id"], "failed", "succeeded", timeout=60)
        noticed = time.monotonic() - killed_at
        assert failed["status"] == "failed", failed
        assert "tool 'fault_local_step' is not idempotent" in failed["error"], failed
        # The pool process running the tool died with its worker: it never finished.
        wait_until(lambda: not pid_alive(started[0]), timeout=10, what="the pool process to die")
        # The supervisor started a new worker, which takes jobs.
        wait_until(lambda: node.child_pids()["worker"] != worker, timeout=60, what="a new worker")
        again = client.submit("fault_local_step", call_id=(cid2 := uuid.uuid4().hex))
        done = client.wait_for(again["id"], "succeeded", "failed", timeout=120)
        assert done["status"] == "succeeded", done
        time.sleep(1)  # reaper rounds: the lost job is not run again
        executions = Executions.read(fault_log)
        assert executions.starts[cid] == started and cid not in executions.ends
        assert len(executions.ends[cid2]) == 1
        print(f"\nFAULT worker-killed: job failed (not run again) {noticed:.2f}s after the kill")
    finally:
        client.http.close()


def test_trio_runtime_killed_mid_queue(node, fault_log):
    lease = 30.0
    tasks = {}
    for n in range(12):
        tool = "fault_step" if n % 2 else "fault_step_idempotent"
        call_id = f"task{n}-{uuid.uuid4().hex[:8]}"
        task, _ = taskqueue.submit_task(
            tool=tool, arguments={"call_id": call_id, "seconds": 1.5}, lease_seconds=lease
        )
        tasks[task.pk] = call_id
    wait_until(lambda: len(Executions.read(fault_log).starts) >= 4, timeout=60, what="tasks to run")
    os.kill(runtime(node)["trio_pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    interrupted = Task.objects.filter(status=TaskStatus.RUNNING).values_list("pk", flat=True)
    interrupted = set(interrupted)
    wait_until(
        lambda: (
            not Task.objects.filter(pk__in=interrupted, status=TaskStatus.RUNNING)
            .filter(fencing_token=1)
            .exists()
        ),
        timeout=lease,
        interval=0.2,
        what="the interrupted tasks to be taken back before their lease ends",
    )
    recovered = time.monotonic() - killed_at
    wait_until(
        lambda: (
            not Task.objects.exclude(status__in=(TaskStatus.SUCCEEDED, TaskStatus.DEAD))
            .filter(pk__in=tasks)
            .exists()
        ),
        timeout=120,
        interval=0.2,
        what="every task to end",
    )
    executions = Executions.read(fault_log)
    for task in Task.objects.filter(pk__in=tasks):
        call_id = tasks[task.pk]
        starts = executions.starts.get(call_id, [])
        ends = executions.ends.get(call_id, [])
        if task.status == TaskStatus.SUCCEEDED:
            assert len(ends) == 1, (task, starts, ends)  # completed exactly once
        else:  # cut off mid-run and not idempotent: dead-lettered, not run again
            assert task.tool_name == "fault_step" and "not idempotent" in task.error, task
            assert len(starts) == 1 and not ends, (task, starts, ends)
            assert [a.outcome for a in task.attempt_log.all()] == ["lost"]
        if task.tool_name == "fault_step":
            assert len(starts) <= 1, (task, starts)
    dead = Task.objects.filter(pk__in=tasks, status=TaskStatus.DEAD).count()
    print(
        f"\nFAULT trio-killed-mid-queue: {len(interrupted)} tasks interrupted, taken back "
        f"{recovered:.2f}s after the kill (lease {lease:g}s); {dead} non-idempotent "
        f"dead-lettered, every task ended once"
    )


def test_database_contention(jobs_node, make_token, fault_log):
    """Calls on both runtimes (each logged), jobs and tasks, all writing at once."""
    from tests.jobs.conftest import JobsClient

    node = jobs_node
    token = make_token()
    client = JobsClient(node.url, token)
    submitted: list[str] = []

    def submit_tasks() -> None:
        for _ in range(30):
            task, _ = taskqueue.submit_task(
                tool="fault_step_idempotent", arguments={"call_id": uuid.uuid4().hex}
            )
            submitted.append(task.pk)

    try:
        with (
            Load(node, token, "fault_step", threads=3) as on_trio,
            Load(node, token, "fault_local_step", threads=3) as on_asyncio,
        ):
            jobs = [client.submit("fault_local_step", call_id=uuid.uuid4().hex) for _ in range(10)]
            submit_tasks()
            time.sleep(3)
        for job in jobs:
            assert client.wait_for(job["id"], "succeeded", "failed", timeout=120)["status"] == (
                "succeeded"
            )
    finally:
        client.http.close()
    wait_until(
        lambda: (
            Task.objects.filter(pk__in=submitted, status=TaskStatus.SUCCEEDED).count()
            == len(submitted)
        ),
        timeout=120,
        what="every task to succeed",
    )
    calls = on_trio.results + on_asyncio.results
    errors = [r for r in calls if r["status"] != 200]
    assert not errors, errors[:5]
    assert "database is locked" not in node.output
    assert_nothing_ran_twice(Executions.read(fault_log))
    print(
        f"\nFAULT contention: {len(calls)} calls, 10 jobs, {len(submitted)} tasks at once; "
        f"0 errors, 0 'database is locked'"
    )


def test_a_stopping_node_lets_running_tasks_finish_and_claims_no_more(node, fault_log):
    """SIGTERM (a graceful stop): the tasks running finish, exactly once; queued ones wait."""
    from django.utils import timezone

    call_ids = {}
    for n in range(6):  # 4 task workers in the runtime: 4 run, 2 wait
        call_id = f"drain{n}-{uuid.uuid4().hex[:8]}"
        task, _ = taskqueue.submit_task(
            tool="fault_step", arguments={"call_id": call_id, "seconds": 12}
        )
        call_ids[task.pk] = call_id
    wait_until(
        lambda: len(Executions.read(fault_log).starts) == 4, timeout=60, what="4 tasks to run"
    )
    stopping_at = timezone.now()
    assert node.stop() == 0
    executions = Executions.read(fault_log)
    tasks = list(Task.objects.filter(pk__in=call_ids))
    ran = [t for t in tasks if call_ids[t.pk] in executions.starts]
    waited = [t for t in tasks if call_ids[t.pk] not in executions.starts]
    assert len(ran) == 4 and len(waited) == 2, (executions, tasks)
    for task in ran:  # finished during the drain, not cut off and not dead-lettered
        assert task.status == TaskStatus.SUCCEEDED, task
        assert task.finished_at > stopping_at
        assert len(executions.ends[call_ids[task.pk]]) == 1
    assert all(t.status == TaskStatus.QUEUED for t in waited), waited
    # The runtime got its SIGTERM while they ran (web and worker stop first), and drained them.
    assert re.search(r"\[trio\] .*got SIGTERM: draining [1-4] in-flight calls", node.output), (
        node.output[-3000:]
    )
