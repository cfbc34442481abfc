"""Real platform nodes and standalone Celery workers for the jobs tests."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from apps.tools.services import sync_tools
from tests.harness import ChildProcess, PlatformProcess, wait_until
from tests.jobs import job_tools

TOOL_MODULES = "tests.jobs.job_tools"
# Short leases so a lost worker is noticed in about two seconds.
FAST_RECOVERY = {"MCP_PLATFORM_JOB_LEASE_SECONDS": "1.5", "MCP_PLATFORM_JOB_REAP_SECONDS": "0.3"}


@pytest.fixture
def test_job_tools(transactional_db):
    job_tools.register_all()
    sync_tools()
    yield
    job_tools.unregister_all()


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("executions")


def node_env(job_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "MCP_PLATFORM_TOOL_MODULES": TOOL_MODULES,
        job_tools.DIR_ENV: str(job_dir),
        **FAST_RECOVERY,
        **extra,
    }


def wait_worker_ready(lines_of, *, what: str, timeout: float = 60) -> None:
    wait_until(lambda: " ready." in lines_of(), timeout=timeout, what=f"{what} to be ready")


@pytest.fixture(scope="module")
def job_node(django_db_setup, django_db_blocker, job_dir, tmp_path_factory):
    """A node (runplatform: web, Trio runtime, Celery worker with 2 processes), shared by a module's tests (each test syncs the catalogue again: see `test_job_tools`)."""
    with django_db_blocker.unblock():
        job_tools.register_all()
        sync_tools()
        node = PlatformProcess(
            tmp_path_factory.mktemp("node"),
            # Its worker also takes what this test process submits (MCP tasks in-process).
            env=node_env(job_dir, MCP_PLATFORM_BROKER_DIR=str(settings.MCP_PLATFORM_BROKER_DIR)),
            args=["--worker-concurrency", "2"],
        )
    node.start()
    try:
        wait_worker_ready(lambda: node.output, what="the node's worker")
        wait_until(
            lambda: httpx.get(f"{node.url}/health/runtime", timeout=5).json()["trio"] == "up",
            timeout=60,
            what="the Trio runtime",
        )
    except AssertionError as exc:
        node.stop()
        raise AssertionError(f"{exc}\n{node.output}") from None
    yield node
    node.stop()


class WorkerProcess(ChildProcess):
    """`celery -A mcp_platform worker` on its own, in its own process group, output kept."""

    label = "worker"

    def __init__(self, name: str, env: dict[str, str], *, concurrency: int = 1):
        super().__init__(env)
        self.name = name
        self.concurrency = concurrency

    def start(self) -> WorkerProcess:
        argv = [sys.executable, "-m", "celery", "-A", "mcp_platform", "worker"]
        argv += ["--loglevel", "INFO", "--pool", "prefork", "--concurrency", str(self.concurrency)]
        argv += ["--hostname", f"{self.name}@%h", "--without-gossip", "--without-mingle"]
        argv += ["--without-heartbeat"]
        self.spawn(argv)
        wait_worker_ready(lambda: self.output, what=f"worker {self.name}")
        return self

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM to the whole group (the pool too), SIGKILL past `timeout`."""
        return super().stop(timeout, group=True)


@pytest.fixture
def start_worker():
    """Start standalone workers against a node's database and broker; all stopped at the end."""
    workers: list[WorkerProcess] = []

    def start(name: str, node: PlatformProcess, *, concurrency: int = 1) -> WorkerProcess:
        worker = WorkerProcess(name, dict(node.env), concurrency=concurrency)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()


class JobsClient:
    """/api/v2/jobs of a node, as a bearer-token client sees it."""

    def __init__(self, base_url: str, token: str):
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def submit(self, tool: str, **arguments) -> dict:
        reply = self.http.post("/api/v2/jobs", json={"tool": tool, "arguments": arguments})
        assert reply.status_code == 202, reply.text
        return reply.json()

    def get(self, job_id: str) -> dict:
        reply = self.http.get(f"/api/v2/jobs/{job_id}")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def wait_for(self, job_id: str, *statuses: str, timeout: float = 30) -> dict:
        return wait_until(
            lambda: (job := self.get(job_id))["status"] in statuses and job,
            timeout=timeout,
            interval=0.1,
            what=f"job {job_id} to be {'/'.join(statuses)}",
        )


@pytest.fixture
def jobs_client(make_token):
    clients: list[JobsClient] = []

    def make(node: PlatformProcess, scopes=("tools:read", "tools:call")) -> JobsClient:
        clients.append(JobsClient(node.url, make_token(scopes=scopes)))
        return clients[-1]

    yield make
    for client in clients:  # open keep-alive connections would hold up the node's shutdown
        client.http.close()
