import os
import shutil
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from mcp_platform.supervisor import (
    AnotherInstance,
    ChildSpec,
    NodeLock,
    Supervisor,
    check_ports_free,
)


def metrics_dir(workers: int) -> str | None:
    """A fresh directory for prometheus-client's multiprocess mode when several web workers
    serve: each writes its counters there and any worker's /metrics sums them all. Emptied at
    every start, so counters begin at zero like a single process's."""
    if workers < 2:
        return None
    path = settings.DATA_DIR / "metrics-web"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700, parents=True)
    return str(path)


def web_child(*, host: str, port: int, workers: int) -> ChildSpec:
    env = {"MCP_PLATFORM_WEB_WORKERS": str(workers)}
    multiprocess = metrics_dir(workers)
    if multiprocess:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiprocess
    return ChildSpec(
        name="web",
        argv=[
            sys.executable,
            "-m",
            "mcp_platform.web_server",  # uvicorn, TCP_NODELAY kept with several workers
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--timeout-graceful-shutdown",
            "30",
        ],
        # With several workers, a 2025-era session's requests are relayed to the worker that
        # holds it (apps.tools.mcp_relay)
        # and /metrics sums every worker's counters.
        env=env,
    )


def trio_child(*, host: str, port: int) -> ChildSpec:
    return ChildSpec(
        name="trio",
        argv=[
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "run_trio_runtime",
            "--host",
            host,
            "--port",
            str(port),
            "--drain-seconds",
            "30",
        ],
    )


def worker_child(*, concurrency: int) -> ChildSpec:
    """A Celery worker for jobs (prefork: a job's process can die without taking the others)."""
    return ChildSpec(
        name="worker",
        argv=[
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mcp_platform",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"jobs.{os.getpid()}@%h",
            # No broadcast chatter: jobs coordinate through the database, not worker events.
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
    )


def platform_children(
    *,
    host: str,
    port: int,
    workers: int,
    trio_port: int | None = None,
    trio: bool = True,
    worker_concurrency: int | None = None,
) -> list[ChildSpec]:
    """The processes of one node, in the order they are stopped: the web process first, so it
    drains its calls (including those bridged to Trio) while the Trio runtime still serves."""
    children = [web_child(host=host, port=port, workers=workers)]
    if worker_concurrency is None:
        worker_concurrency = settings.MCP_PLATFORM_WORKER_CONCURRENCY
    if worker_concurrency > 0:  # stopped before Trio: its running jobs may call trio tools
        children.append(worker_child(concurrency=worker_concurrency))
    if trio:
        trio_port = settings.MCP_PLATFORM_TRIO_PORT if trio_port is None else trio_port
        children.append(trio_child(host=host, port=trio_port))
    return children


class Command(BaseCommand):
    help = "Run the platform: the web process (and the runtimes beside it), supervised."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.MCP_PLATFORM_HOST)
        parser.add_argument("--port", type=int, default=settings.MCP_PLATFORM_WEB_PORT)
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.MCP_PLATFORM_WEB_WORKERS,
            help="web worker processes (default: MCP_PLATFORM_WEB_WORKERS, the CPU count up to 8)",
        )
        parser.add_argument("--trio-port", type=int, default=settings.MCP_PLATFORM_TRIO_PORT)
        parser.add_argument(
            "--no-trio",
            action="store_true",
            help="do not start the Trio runtime (calls routed "
            "to trio then fall back or fail as when it is down)",
        )
        parser.add_argument(
            "--worker-concurrency",
            type=int,
            default=settings.MCP_PLATFORM_WORKER_CONCURRENCY,
            help="job processes of this node's Celery worker (0: start no worker)",
        )

    def handle(
        self,
        *args,
        host: str,
        port: int,
        workers: int,
        trio_port: int,
        no_trio: bool,
        worker_concurrency: int,
        **options,
    ) -> None:
        if workers < 1:
            raise CommandError("--workers must be 1 or more")
        # One line and a non-zero exit when another node holds the data directory or the ports.
        lock = NodeLock(settings.DATA_DIR)
        try:
            lock.acquire()
            check_ports_free(host, [port] if no_trio else [port, trio_port])
        except AnotherInstance as exc:
            lock.release()
            raise CommandError(str(exc)) from None
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(
            f"MCP Platform on http://{host}:{port}/ (admin: /admin/, API docs: /docs)"
        )
        self.stdout.flush()
        children = platform_children(
            host=host,
            port=port,
            workers=workers,
            trio_port=trio_port,
            trio=not no_trio,
            worker_concurrency=worker_concurrency,
        )
        try:
            Supervisor(children, lock=lock).run()
        finally:
            lock.release()
