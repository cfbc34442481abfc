"""Real processes for tests: a platform node (runplatform) against the test database.

The processes themselves are started, watched and stopped by mcp_platform/processes.py, as
runplatform's and the benchmarks' are.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

from mcp_platform import processes
from mcp_platform.processes import descendants, free_port, pid_alive

__all__ = ["descendants", "free_port", "pid_alive"]  # re-exported for the tests

REPO = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL that points a child process at the database the test runs on."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    if connection.vendor == "postgresql":
        user = settings.get("USER") or "postgres"
        password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
        host = settings.get("HOST") or "127.0.0.1"
        port = settings.get("PORT") or 5432
        return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"
    raise RuntimeError(f"no child-process URL for {connection.vendor}")


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # keep polling; report the last error if it never works
            last_error = exc
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}; last error: {last_error!r}"
    )


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process of ours: the real settings, the test database."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k not in {"MCP_PLATFORM_TESTING", "DJANGO_SETTINGS_MODULE"}
    }
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "mcp_platform.settings",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DATABASE_URL": test_database_url(),
        "MCP_PLATFORM_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        # One web worker unless a test asks for more: the machine's cores are shared by the
        # suite's nodes (tests/tools/test_web_workers.py runs two).
        "MCP_PLATFORM_WEB_WORKERS": "1",
        # No Celery job worker unless a test runs jobs (it says so: tests/jobs, tests/faults,
        # the conformance node's tasks): its start-up and its warm shutdown (seconds, polling
        # the broker) would cost every node the suite starts.
        "MCP_PLATFORM_WORKER_CONCURRENCY": "0",
        **extra,
    }


class ChildProcess(processes.ChildProcess):
    """A process of ours started by a test (from the repository's root), its output kept."""

    def __init__(self, env: dict[str, str]):
        super().__init__(env, cwd=REPO)


class PlatformProcess(ChildProcess):
    """`manage.py runplatform` in a child process, on free loopback ports, with its output kept."""

    label = "platform"

    def __init__(
        self, data_dir: Path, *, env: dict[str, str] | None = None, args: list[str] | None = None
    ):
        self.data_dir = data_dir
        self.web_port = free_port()
        self.trio_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.trio_url = f"http://127.0.0.1:{self.trio_port}"
        ports = {
            "MCP_PLATFORM_HOST": "127.0.0.1",
            "MCP_PLATFORM_WEB_PORT": str(self.web_port),
            "MCP_PLATFORM_TRIO_PORT": str(self.trio_port),
            "MCP_PLATFORM_P2P_LISTEN": f"/ip4/127.0.0.1/tcp/{free_port()}",
        }
        super().__init__(child_env(data_dir, **{**ports, **(env or {})}))  # env overrides
        self.args = args or []

    def start(self, *, wait: bool = True, timeout: float = 60) -> PlatformProcess:
        self.spawn([sys.executable, "manage.py", "runplatform", *self.args])
        if wait:
            try:
                self.wait_healthy(timeout=timeout)
            except BaseException:
                self.stop()  # a node that never got healthy must not outlive the test
                raise
        return self

    def wait_healthy(self, *, timeout: float = 60) -> None:
        self.wait_http_health(f"{self.url}/health", timeout=timeout)

    def child_pids(self) -> dict[str, int]:
        """The supervisor's children by name, as it last reported starting them."""
        found: dict[str, int] = {}
        for line in self.output.splitlines():
            match = re.match(r"\[runplatform\] started (\S+) \(pid (\d+)\)", line)
            if match:
                found[match[1]] = int(match[2])
        return found

    def again(self) -> PlatformProcess:
        """Another runplatform on the same data directory and ports (a restart, or a rival)."""
        twin = PlatformProcess.__new__(PlatformProcess)
        ChildProcess.__init__(twin, dict(self.env))
        for name in ("data_dir", "web_port", "trio_port", "url", "trio_url", "args"):
            setattr(twin, name, getattr(self, name))
        return twin

    def __enter__(self) -> PlatformProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TrioRuntimeProcess(ChildProcess):
    """`manage.py run_trio_runtime` alone, on a free loopback port, against the test database."""

    label = "trio runtime"

    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        secret = {"MCP_PLATFORM_BRIDGE_SECRET": secrets.token_urlsafe(24)}
        super().__init__(child_env(data_dir, **{**secret, **(env or {})}))  # env overrides
        self.secret = self.env["MCP_PLATFORM_BRIDGE_SECRET"]

    def start(self, *, timeout: float = 60) -> TrioRuntimeProcess:
        self.spawn(
            [
                sys.executable,
                "manage.py",
                "run_trio_runtime",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--drain-seconds",
                "30",
            ]
        )
        self.wait_http_health(f"{self.url}/health", timeout=timeout)
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


class NodeCluster:
    """Several platform nodes on loopback, each with its own data directory, database (an
    SQLite file, or a database created on the test's PostgreSQL server) and libp2p identity,
    made before the nodes start so each node's setup can name the others' peer ids."""

    def __init__(
        self, base_dir: Path, names: tuple[str, ...], *, env: dict[str, str] | None = None
    ):
        from libp2p.peer.id import ID

        from trio_runtime.p2p.identity import load_or_create_identity

        self.base_dir = base_dir
        self.vendor = connection.vendor
        self.nodes: dict[str, PlatformProcess] = {}
        self.peer_ids: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        for name in names:
            data_dir = base_dir / name
            data_dir.mkdir(parents=True, exist_ok=True)
            key_pair = load_or_create_identity(data_dir)
            self.peer_ids[name] = str(ID.from_pubkey(key_pair.public_key))
            node_env = {"DATABASE_URL": self._create_database(name), **(env or {})}
            self.nodes[name] = PlatformProcess(data_dir, env=node_env)

    def _database_name(self, name: str) -> str:
        return f"{connection.settings_dict['NAME']}_node_{name}"[:63]

    def _admin_connection(self):
        import psycopg

        s = connection.settings_dict
        return psycopg.connect(
            host=s.get("HOST") or "127.0.0.1",
            port=s.get("PORT") or 5432,
            user=s.get("USER") or "postgres",
            password=s.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        )

    def _create_database(self, name: str) -> str:
        if self.vendor == "sqlite":
            return f"sqlite:///{self.base_dir / name / 'db.sqlite3'}"
        database = self._database_name(name)
        with self._admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{database}"')
        url = test_database_url()
        return url.rsplit("/", 1)[0] + f"/{database}"

    def node(self, name: str) -> PlatformProcess:
        return self.nodes[name]

    def manage_script(self, name: str, code: str, *, timeout: float = 120) -> str:
        """Run Python `code` in `manage.py shell` with the node's environment; its stdout."""
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=REPO,
            env=self.nodes[name].env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"setup of node {name} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def prepare(self, setup: dict[str, str]) -> None:
        """Migrate each node's database, sync its tools, make an API token, then run the
        node's extra `setup` code; all nodes in parallel."""
        preamble = (
            "from django.core.management import call_command\n"
            "call_command('migrate', verbosity=0)\n"
            "call_command('sync_tools', verbosity=0)\n"
            "from apps.access.services import create_api_token\n"
            "_, secret = create_api_token(name='cluster', scopes=['tools:read', 'tools:call', 'admin'])\n"
            "print('TOKEN=' + secret)\n"
        )
        outputs: dict[str, str] = {}
        errors: list[BaseException] = []

        def run(name: str) -> None:
            try:
                outputs[name] = self.manage_script(name, preamble + setup.get(name, ""))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        for name, output in outputs.items():
            self.tokens[name] = next(
                line.split("=", 1)[1] for line in output.splitlines() if line.startswith("TOKEN=")
            )

    def start(self, timeout: float = 90) -> None:
        for node in self.nodes.values():
            node.start(wait=False)
        for node in self.nodes.values():
            node.wait_healthy(timeout=timeout)

    def stop(self) -> None:
        threads = [threading.Thread(target=node.stop) for node in self.nodes.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.vendor != "sqlite":
            with self._admin_connection() as admin:
                for name in self.nodes:
                    admin.execute(
                        f'DROP DATABASE IF EXISTS "{self._database_name(name)}" WITH (FORCE)'
                    )
