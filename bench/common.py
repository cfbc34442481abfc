"""What every benchmark shares: free ports, server processes, a real platform, load, results.

Benchmarks are standalone scripts (`.venv/bin/python bench/bench_X.py`) that import this module
(`from common import ...`: the script's folder is on `sys.path`). Speed is compared, never
asserted: each benchmark measures a baseline and its subject in the same run and prints the
ratio, because the machines are shared and noisy.

Typical use::

    with platform_server() as platform, ServerProcess.uvicorn("bare", "bench.bare_fastapi:app"):
        result = asyncio.run(http_post_load(...))
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mcp_platform.processes import (
    ChildProcess,
    ProcessInfo,
    free_port,
    process_tree,
)

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
HOST = "127.0.0.1"
PYTHON = sys.executable

Operation = Callable[[], Awaitable[Any]]


def random_secret_key(length: int = 50) -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --- child processes -------------------------------------------------------------------------

_live: set[ServerProcess] = set()
_live_lock = threading.Lock()
_handlers_installed = False


def stop_all_servers() -> None:
    """Stop every server this process started and has not stopped yet (runs at exit too)."""
    with _live_lock:
        servers = list(_live)
    for server in servers:
        server.stop()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _install_exit_handlers() -> None:
    """SIGTERM/SIGHUP become SystemExit so `finally` blocks and atexit stop the servers."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(stop_all_servers)
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _exit_on_signal)


PLATFORM_APP = "mcp_platform.asgi:application"


def uvicorn_command(app: str, port: int, *, app_dir: Path = REPO, workers: int = 1) -> list[str]:
    """The one way benchmarks serve an ASGI app, so that rows served by it are comparable."""
    return [
        PYTHON,
        "-m",
        "uvicorn",
        app,
        "--app-dir",
        str(app_dir),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
    ]


class ServerProcess(ChildProcess):
    """A server in a child process (mcp_platform/processes.py: own session, so its whole tree
    can be stopped, output kept for the error message when it fails)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        health_url: str,
        env: Mapping[str, str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        super().__init__(env, cwd=cwd)
        self.name = self.label = name
        self.command = list(command)
        self.health_url = health_url

    @classmethod
    def uvicorn(
        cls,
        name: str,
        app: str,
        *,
        health_path: str = "/health",
        env: Mapping[str, str] | None = None,
        app_dir: Path = REPO,
        port: int | None = None,
    ) -> ServerProcess:
        """`app` served by `uvicorn_command` on a free port (or `port`)."""
        port = port or free_port()
        return cls(
            name,
            uvicorn_command(app, port, app_dir=app_dir),
            health_url=f"http://{HOST}:{port}{health_path}",
            env=env,
        )

    @property
    def url(self) -> str:
        """Scheme, host and port of the health URL: the server's base URL."""
        parsed = httpx.URL(self.health_url)
        return f"{parsed.scheme}://{parsed.host}:{parsed.port}"

    def start(self, *, timeout: float = 60) -> ServerProcess:
        """Start the process and wait until its health URL answers 200; raises RuntimeError."""
        _install_exit_handlers()
        self.spawn(self.command)
        with _live_lock:
            _live.add(self)
        try:
            self.wait_healthy(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, *, timeout: float = 60) -> None:
        self.wait_http_health(self.health_url, timeout=timeout)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far, all its live processes added up
        (its uvicorn workers too). Linux /proc; NaN elsewhere. Less disturbed
        by a busy machine than wall time: a ratio of it is the steadier number."""
        if self.process is None:
            return math.nan
        processes = process_tree(self.process.pid)
        if not processes:
            return math.nan
        return sum(p.cpu_seconds for p in processes)

    def processes(self) -> list[ProcessInfo]:
        """The server's process and its descendants, with command lines, CPU and memory."""
        return [] if self.process is None else process_tree(self.process.pid)

    def stop(self, *, timeout: float = 10) -> None:
        """SIGTERM the process group, then SIGKILL it if it has not exited within `timeout`."""
        with _live_lock:
            _live.discard(self)
        super().stop(timeout, group=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- a real platform -------------------------------------------------------------------------

# Settings a developer's shell or CI may carry that would point the platform elsewhere.
_PLATFORM_ENV_DROPPED = (
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "MCP_PLATFORM_TESTING",
    "SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
    "MCP_PLATFORM_DATA_DIR",
)


@dataclass
class Platform:
    """A running platform: its base URL, an API token's secret and the server process."""

    url: str
    token: str
    data_dir: Path
    env: dict[str, str]
    server: ServerProcess

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def platform_env(
    data_dir: Path, *, web_port: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Production settings on a fresh SQLite data dir, every listener on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k not in _PLATFORM_ENV_DROPPED}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mcp_platform.settings",
            "SECRET_KEY": random_secret_key(50),
            "MCP_PLATFORM_DATA_DIR": str(data_dir),
            "MCP_PLATFORM_HOST": HOST,
            "MCP_PLATFORM_WEB_PORT": str(web_port),
            "MCP_PLATFORM_TRIO_PORT": str(free_port()),
            "MCP_PLATFORM_P2P_LISTEN": f"/ip4/{HOST}/tcp/{free_port()}",
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }
    )
    return env


def manage(env: Mapping[str, str], *args: str, timeout: float = 180) -> str:
    """Run `manage.py *args` with `env`; return its stdout; raises RuntimeError on failure."""
    try:
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"manage.py {' '.join(args)} took over {timeout}s") from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def create_api_token(env: Mapping[str, str], *, scopes: Sequence[str], name: str = "bench") -> str:
    """A new API token's secret, made by the platform's own service."""
    code = (
        "from apps.access.services import create_api_token\n"
        f"_, secret = create_api_token(name={name!r}, scopes={list(scopes)!r})\n"
        "print(secret)\n"
    )
    lines = [line for line in manage(env, "shell", "-c", code).splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("manage.py shell printed no token")
    return lines[-1].strip()


@contextlib.contextmanager
def platform_server(
    *,
    scopes: Sequence[str] = ("tools:read", "tools:call"),
    env: Mapping[str, str] | None = None,
    app: str = PLATFORM_APP,
    timeout: float = 60,
    workers: int = 1,
) -> Iterator[Platform]:
    """The platform for real: fresh temporary data dir, `migrate`, `sync_tools`, an API token
    with `scopes`, then served with `workers` web workers as `runplatform` serves it
    (`mcp_platform.web_server`; another `app` by `uvicorn_command`). Removes everything on
    exit."""
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as tmp:
        data_dir = Path(tmp)
        port = free_port()
        extra = {"MCP_PLATFORM_WEB_WORKERS": str(workers)}
        if workers > 1:  # as runplatform does: one /metrics for all workers
            (data_dir / "metrics-web").mkdir(mode=0o700)
            extra["PROMETHEUS_MULTIPROC_DIR"] = str(data_dir / "metrics-web")
        platform_environ = platform_env(data_dir, web_port=port, extra={**extra, **(env or {})})
        manage(platform_environ, "migrate", "--noinput")
        manage(platform_environ, "sync_tools")
        token = create_api_token(platform_environ, scopes=scopes)
        if app == PLATFORM_APP:  # as runplatform serves it (TCP_NODELAY with several workers)
            command = [
                *(PYTHON, "-m", "mcp_platform.web_server", "--host", HOST, "--port", str(port)),
                *("--workers", str(workers), "--log-level", "warning"),
                *("--timeout-graceful-shutdown", "5"),
            ]
        else:
            command = uvicorn_command(app, port, app_dir=REPO, workers=workers)
        server = ServerProcess(
            "platform",
            command,
            health_url=f"http://{HOST}:{port}/health",
            env=platform_environ,
        )
        with server:
            yield Platform(
                url=server.url, token=token, data_dir=data_dir, env=platform_environ, server=server
            )


# --- load ------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """Successful calls' latencies (seconds) and counts of one measured run (or merged runs)."""

    name: str
    requested: int
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str | None = None
    cpu_seconds: float = math.nan  # the server's CPU time during the run, when probed
    # (p50, p99) in ms of each round measured elsewhere (wrk), when `latencies` is not kept.
    round_percentiles: list[tuple[float, float]] = field(default_factory=list)

    @property
    def cpu_ms_per_call(self) -> float:
        return self.cpu_seconds / self.ok * 1000 if self.ok else math.nan

    @property
    def done(self) -> int:
        return self.ok + self.errors

    @property
    def complete(self) -> bool:
        """Every requested call was made and none failed."""
        return self.errors == 0 and self.done == self.requested

    @property
    def throughput(self) -> float:
        """Successful calls per second of wall time."""
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile of the successful calls' latencies, in milliseconds."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def p50_ms(self) -> float:
        if not self.latencies and self.round_percentiles:  # wrk rounds: their mean
            return sum(p50 for p50, _ in self.round_percentiles) / len(self.round_percentiles)
        return self.percentile_ms(0.50)

    @property
    def p99_ms(self) -> float:
        if not self.latencies and self.round_percentiles:
            return sum(p99 for _, p99 in self.round_percentiles) / len(self.round_percentiles)
        return self.percentile_ms(0.99)

    @classmethod
    def merged(cls, name: str, results: Sequence[LoadResult]) -> LoadResult:
        """Rounds of the same load as one result: counts and times add up."""
        return cls(
            name=name,
            requested=sum(r.requested for r in results),
            ok=sum(r.ok for r in results),
            errors=sum(r.errors for r in results),
            elapsed=sum(r.elapsed for r in results),
            latencies=[x for r in results for x in r.latencies],
            first_error=next((r.first_error for r in results if r.first_error), None),
            cpu_seconds=sum(r.cpu_seconds for r in results),
            round_percentiles=[p for r in results for p in r.round_percentiles],
        )


async def run_load(
    name: str,
    operation: Operation,
    *,
    requests: int,
    concurrency: int,
    warmup: int = 0,
    time_limit: float = 60,
    call_timeout: float = 10,
    cpu_probe: Callable[[], float] | None = None,
) -> LoadResult:
    """Await `operation()` `requests` times with at most `concurrency` in flight, after `warmup`
    untimed calls. A call that raises or outlasts `call_timeout` counts as an error; calls not
    started within `time_limit` seconds are not made (the result is then not `complete`).
    `cpu_probe` (e.g. `ServerProcess.cpu_seconds`) is read before and after the timed calls."""
    if warmup:
        await _drive(
            LoadResult(f"{name} (warmup)", warmup),
            operation,
            concurrency=concurrency,
            time_limit=time_limit,
            call_timeout=call_timeout,
        )
    result = LoadResult(name, requests)
    cpu_before = cpu_probe() if cpu_probe else math.nan
    await _drive(
        result, operation, concurrency=concurrency, time_limit=time_limit, call_timeout=call_timeout
    )
    if cpu_probe:
        result.cpu_seconds = cpu_probe() - cpu_before
    return result


async def _drive(
    result: LoadResult,
    operation: Operation,
    *,
    concurrency: int,
    time_limit: float,
    call_timeout: float,
) -> None:
    remaining = result.requested
    started = time.perf_counter()
    deadline = started + time_limit

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            call_started = time.perf_counter()
            try:
                async with asyncio.timeout(call_timeout):
                    await operation()
            except Exception as exc:
                result.errors += 1
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
            else:
                result.latencies.append(time.perf_counter() - call_started)
                result.ok += 1

    # The deadline stops new calls; this bounds the calls already in flight.
    async with asyncio.timeout(time_limit + call_timeout + 5), asyncio.TaskGroup() as workers:
        for _ in range(max(1, min(concurrency, result.requested))):
            workers.create_task(worker())
    result.elapsed = time.perf_counter() - started


async def measure_alternating(
    operations: Mapping[str, Callable[[], Awaitable[object]]],
    *,
    requests: int,
    rounds: int,
    concurrency: int,
    warmup: int,
    time_limit: float,
    cpu_probes: Mapping[str, Callable[[], float]],
) -> list[LoadResult]:
    """Warm up each operation (untimed), then run `rounds` timed rounds, reversing the order of
    the targets every round so that noise on the shared machine falls on all of them alike."""
    per_round = [requests // rounds + (1 if i < requests % rounds else 0) for i in range(rounds)]
    names = list(operations)
    measured: dict[str, list[LoadResult]] = {name: [] for name in names}
    for name in names:
        if warmup:  # first connections, lazy imports, caches
            await run_load(
                name,
                operations[name],
                requests=warmup,
                concurrency=concurrency,
                time_limit=time_limit,
            )
    for count in per_round:
        for name in names:
            result = await run_load(
                name,
                operations[name],
                requests=count,
                concurrency=concurrency,
                time_limit=time_limit,
                cpu_probe=cpu_probes[name],
            )
            measured[name].append(result)
        names.reverse()
    return [LoadResult.merged(name, measured[name]) for name in operations]


# --- load from wrk, an external generator -----------------------------------------------------
#
# wrk (C, one process, event loop per thread) makes the load of the throughput benchmarks: a
# Python client in the same run competes with the servers for the same cores and saturates
# first, which hides the difference between a cheap and a costly server.

WRK = shutil.which("wrk") or "/usr/bin/wrk"
WRK_THREADS = 2
WRK_CONNECTIONS = 16

# The request is fixed per run; `done` prints one line of JSON the runner parses.
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
%(headers)s
%(numbering)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def require_wrk() -> str:
    """wrk's path; exits with how to get it when it is missing (`make bench` installs it)."""
    if not os.access(WRK, os.X_OK):
        raise SystemExit("wrk is missing: `make bench` installs it (apt-get install -y wrk)")
    return WRK


@dataclass
class WrkTarget:
    """A POST that wrk repeats: where, what, with which headers, and whose CPU to probe."""

    name: str
    url: str
    body: bytes
    headers: Mapping[str, str]
    cpu_probe: Callable[[], float]
    # JSON-RPC: every request gets its own `"id": N` (the body must hold `"id": 1` once), as a
    # 2025-era session must not see two requests in flight with the same id.
    numbered: bool = False


# Each wrk thread numbers from its own base (setup runs in the main Lua state, once per thread).
_WRK_NUMBERING = """
next_base = 0
setup = function(thread)
  thread:set("base", next_base)
  next_base = next_base + 1000000000
end
local before, after = [==[%(before)s]==], [==[%(after)s]==]
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, before .. tostring((base or 0) + counter) .. after)
end
"""


def run_wrk(
    target: WrkTarget,
    *,
    seconds: float,
    connections: int = WRK_CONNECTIONS,
    threads: int = WRK_THREADS,
) -> LoadResult:
    """`target`'s POST repeated by wrk over `connections` keep-alive connections for `seconds`.
    A reply with a status of 400 or more, a socket error or a 10 s timeout counts as an error."""
    headers = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in target.headers.items()
    )
    numbering = ""
    if target.numbered:
        before, marker, after = target.body.decode().partition('"id": 1')
        if not marker or '"id": 1' in after:
            raise ValueError('a numbered body holds `"id": 1` exactly once')
        numbering = _WRK_NUMBERING % {"before": before + '"id": ', "after": after}
    script = _WRK_SCRIPT % {
        "body": target.body.decode(),
        "headers": headers,
        "numbering": numbering,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-wrk-") as lua:
        lua.write(script)
        lua.flush()
        command = [
            require_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            lua.name,
            target.url,
        ]
        cpu_before = target.cpu_probe()
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        cpu_after = target.cpu_probe()
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    figures = json.loads(line.removeprefix("WRK_RESULT "))
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    ok = figures["requests"] - figures["status"]
    result = LoadResult(
        target.name,
        requested=ok + errors,
        ok=ok,
        errors=errors,
        elapsed=figures["duration_us"] / 1e6,
        cpu_seconds=cpu_after - cpu_before,
        round_percentiles=[(figures["p50_us"] / 1000, figures["p99_us"] / 1000)],
    )
    if errors:
        result.first_error = (
            f"wrk: {figures['status']} replies >= 400, {figures['timeout']} timeouts, "
            f"{figures['connect'] + figures['read'] + figures['write']} socket errors"
        )
    return result


def wrk_alternating(
    targets: Sequence[WrkTarget], *, rounds: int, seconds: float, warmup_seconds: float
) -> list[LoadResult]:
    """Warm each target up (untimed), then `rounds` timed rounds of `seconds` each, reversing
    the order of the targets every round so that noise on the shared machine falls on all."""
    for target in targets:
        if warmup_seconds > 0:
            run_wrk(target, seconds=warmup_seconds)
    measured: dict[str, list[LoadResult]] = {t.name: [] for t in targets}
    order = list(targets)
    for _ in range(rounds):
        for target in order:
            measured[target.name].append(run_wrk(target, seconds=seconds))
        order.reverse()
    return [LoadResult.merged(t.name, measured[t.name]) for t in targets]


def http_client(concurrency: int, *, timeout: float = 10) -> httpx.AsyncClient:
    """A keep-alive client with one pooled connection per concurrent caller."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=timeout,
    )


def http_post_operation(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    expect_status: int = 200,
) -> Operation:
    """One POST of a pre-encoded JSON `body`; a reply with another status raises."""
    request_headers = {"content-type": "application/json", **(headers or {})}

    async def post() -> None:
        reply = await client.post(url, content=body, headers=request_headers)
        if reply.status_code != expect_status:
            raise RuntimeError(f"HTTP {reply.status_code}: {reply.text[:200]}")

    return post


# --- results ---------------------------------------------------------------------------------


def _ratio(value: float, baseline: float) -> str:
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return "n/a"
    return f"{value / baseline:.2f}x"


def print_comparison(title: str, baseline: LoadResult, subjects: Sequence[LoadResult]) -> None:
    """A table of `baseline` and `subjects`, then each subject's ratios against the baseline:
    throughput (below 1 is slower), p50/p99 latency and server CPU per call (above 1 is slower)."""
    rows = [baseline, *subjects]
    width = max(len(r.name) for r in rows)
    print(title)
    print(
        f"  {'':<{width}}  {'ok':>6}  {'errors':>6}  {'req/s':>9}  {'p50 ms':>8}  {'p99 ms':>8}"
        f"  {'cpu ms/call':>11}"
    )
    for r in rows:
        print(
            f"  {r.name:<{width}}  {r.ok:>6}  {r.errors:>6}  {r.throughput:>9.1f}"
            f"  {r.p50_ms:>8.2f}  {r.p99_ms:>8.2f}  {r.cpu_ms_per_call:>11.3f}"
        )
    for s in subjects:
        print(
            f"  {s.name} vs {baseline.name}: throughput {_ratio(s.throughput, baseline.throughput)}"
            f", p50 latency {_ratio(s.p50_ms, baseline.p50_ms)}"
            f", p99 latency {_ratio(s.p99_ms, baseline.p99_ms)}"
            f", server cpu per call {_ratio(s.cpu_ms_per_call, baseline.cpu_ms_per_call)}"
        )
    for r in rows:
        if not r.complete:
            print(
                f"  ! {r.name}: {r.done}/{r.requested} calls made, {r.errors} failed"
                + (f"; first error: {r.first_error}" if r.first_error else "")
            )
    sys.stdout.flush()


# --- targets ---------------------------------------------------------------------------------

FIGURES_ENV = "BENCH_FIGURES"  # bench/run.py collects every script's targets from this file


def report_target(figure: str, value: float, *, unit: str, target: str, met: bool | None) -> None:
    """Print a measured figure next to its target (reported, never asserted: a missed target
    does not fail the benchmark), and hand it to bench/run.py's summary."""
    shown = "n/a" if math.isnan(value) else f"{value:.2f}{unit}"
    if math.isnan(value):
        verdict = "n/a"
    elif met is None:
        verdict = "context"
    else:
        verdict = "met" if met else "NOT met"
    print(f"  target: {figure}: {shown} (target {target}: {verdict})")
    sys.stdout.flush()
    path = os.environ.get(FIGURES_ENV)
    if path:
        with open(path, "a") as out:
            out.write(
                json.dumps({"figure": figure, "value": shown, "target": target, "verdict": verdict})
                + "\n"
            )


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline and not math.isnan(baseline) else math.nan
