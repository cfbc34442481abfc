"""One platform node (`runplatform --workers 1`): its idle memory, the bridge's overhead, and the
P2P task queue's throughput from submit to complete.

1. Idle memory: once the node is up (web, Trio runtime, Celery worker) and has settled, the
   resident memory (RSS, and PSS, which splits shared pages among their sharers) of each
   process group, before any load.
2. Bridge overhead: `echo` called through the web process, routed to the Trio runtime versus
   routed to asyncio. Calls are sequential over one keep-alive connection, so the difference in
   latency is what the bridge adds (web → Trio runtime → web). Rounds alternate the runtime
   (flipped through the management API) so that drift on a shared machine falls on both.
3. Task queue: wrk submits `echo` tasks (`p2p_taskqueue_submit` over REST) from 16 connections
   for `--queue-seconds`; tasks per second from the first submit to the last completion by the
   node's runtime workers, and submissions per second alone.
4. Task queue, batch submit: `--batch-tasks` echo tasks submitted as lists of `--batch-size`
   (`p2p_taskqueue_submit` with `tasks`, one call and one transaction per batch) by one client;
   tasks per second from the first submit to the last completion (or over those completed
   within `--batch-drain-seconds`, on a machine too busy to run them all), and submission alone.

Exits non-zero if the node does not start, a call fails, a call does not run on the runtime it
was routed to, or the tasks do not all complete.

    .venv/bin/python bench/bench_bridge.py [--calls 150] [--rounds 4] [--warmup 30] [--batch-tasks 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from common import (
    HOST,
    PYTHON,
    WRK_CONNECTIONS,
    LoadResult,
    ServerProcess,
    WrkTarget,
    create_api_token,
    free_port,
    manage,
    platform_env,
    process_tree,
    report_target,
    run_wrk,
)

TOOL = "echo"
ARGUMENTS = {"message": "hello from the bridge benchmark"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per runtime")
    parser.add_argument("--warmup", type=int, default=30, help="untimed calls per runtime")
    parser.add_argument("--settle", type=float, default=5, help="idle seconds before memory")
    parser.add_argument("--queue-seconds", type=float, default=5, help="seconds of submitting")
    parser.add_argument("--batch-tasks", type=int, default=2000, help="tasks submitted in batches")
    parser.add_argument("--batch-size", type=int, default=1000, help="tasks per batch submit")
    parser.add_argument(
        "--batch-drain-seconds", type=float, default=60, help="longest wait for the batch to run"
    )
    return parser.parse_args(argv)


def set_runtime(http: httpx.Client, runtime: str) -> None:
    reply = http.patch(f"/api/v2/tools/{TOOL}", json={"runtime": runtime})
    reply.raise_for_status()


def measure(http: httpx.Client, runtime: str, calls: int, result: LoadResult | None) -> None:
    for _ in range(calls):
        started = time.perf_counter()
        reply = http.post(f"/api/v2/tools/{TOOL}/call", json=ARGUMENTS)
        elapsed = time.perf_counter() - started
        body = reply.json() if reply.status_code == 200 else {}
        ran_on = body.get("meta", {}).get("runtime")
        if reply.status_code != 200 or body.get("isError") or ran_on != runtime:
            raise SystemExit(
                f"call routed to {runtime} failed or ran on {ran_on}: "
                f"{reply.status_code} {reply.text[:300]}"
            )
        if result is not None:
            result.ok += 1
            result.elapsed += elapsed
            result.latencies.append(elapsed)


def wait_for_trio(http: httpx.Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get("/health/runtime").json().get("trio") == "up":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit("the Trio runtime did not come up")


# How a node's children are told apart, by their command lines.
NODE_PARTS = {
    "web": "mcp_platform.web_server",
    "Trio runtime": "run_trio_runtime",
    "worker": "celery",
}
MB = 1024 * 1024
WORKERS = ("--workers", "1")
# How often the task counts are read while tasks run: each read is itself a call that the Trio
# runtime serves, so reading often would add to the CPU a task is measured to cost.
POLL_SECONDS = 0.2


def idle_memory(node: ServerProcess) -> dict[str, tuple[float, float]]:
    """RSS and PSS in MB of each of the node's process groups (a child and its descendants)."""
    tree = node.processes()
    children = [p for p in tree if p.ppid == node.process.pid]
    memory = {}
    for part, marker in NODE_PARTS.items():
        top = next((p for p in children if marker in p.cmdline), None)
        group = process_tree(top.pid) if top else []
        memory[part] = (
            sum(p.rss_bytes for p in group) / MB if group else math.nan,
            sum(p.pss_bytes for p in group) / MB if group else math.nan,
        )
    return memory


def succeeded_tasks(http: httpx.Client) -> int:
    reply = http.post("/api/v2/tools/p2p_taskqueue_stats/call", json={})
    reply.raise_for_status()
    stats = reply.json()["structuredContent"]["by_status"]
    if stats.get("dead"):
        raise SystemExit(f"tasks died: {stats}")
    return stats.get("succeeded", 0)


def wait_until_succeeded(http: httpx.Client, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while succeeded_tasks(http) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the tasks did not all complete within {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def part_cpu(node: ServerProcess) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each of the node's process groups."""
    tree = node.processes()
    children = [p for p in tree if p.ppid == node.process.pid]
    used = {}
    for part, marker in NODE_PARTS.items():
        top = next((p for p in children if marker in p.cmdline), None)
        used[part] = sum(p.cpu_seconds for p in process_tree(top.pid)) if top else math.nan
    return used


def task_queue(node: ServerProcess, http: httpx.Client, token: str, seconds: float):
    """wrk submits echo tasks for `seconds`; then wait until they have all succeeded. Returns
    (tasks, tasks per second submit → complete, submissions per second)."""
    before = succeeded_tasks(http)
    submit = WrkTarget(
        "task submit",
        f"{node.url}/api/v2/tools/p2p_taskqueue_submit/call",
        json.dumps({"tool": "echo", "arguments": {"message": "queued"}}).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        node.cpu_seconds,
    )
    started = time.perf_counter()
    submitted = run_wrk(submit, seconds=seconds)
    if submitted.errors:
        raise SystemExit(f"task submissions failed: {submitted.first_error}")
    wait_until_succeeded(http, before + submitted.ok, timeout=120)
    elapsed = time.perf_counter() - started
    return submitted.ok, submitted.ok / elapsed, submitted.throughput


def batch_task_queue(http: httpx.Client, tasks: int, batch_size: int, drain_seconds: float):
    """Submit `tasks` echo tasks in lists of `batch_size`, one call each; then wait until they
    have all succeeded, for at most `drain_seconds` (on a busy machine the rate is then taken
    over those that did). Returns (tasks completed, completed per second from the first submit,
    submitted per second)."""
    before = succeeded_tasks(http)
    started = time.perf_counter()
    submitted = 0
    while submitted < tasks:
        size = min(batch_size, tasks - submitted)
        batch = [
            {"tool": TOOL, "arguments": {"message": f"batch {submitted + n}"}} for n in range(size)
        ]
        reply = http.post("/api/v2/tools/p2p_taskqueue_submit/call", json={"tasks": batch})
        body = reply.json() if reply.status_code == 200 else {}
        if (
            body.get("isError")
            or len(body.get("structuredContent", {}).get("task_ids", [])) != size
        ):
            raise SystemExit(f"batch submit failed: {reply.status_code} {reply.text[:300]}")
        submitted += size
    submit_seconds = time.perf_counter() - started
    deadline = time.monotonic() + drain_seconds
    completed = succeeded_tasks(http) - before
    while completed < tasks and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        completed = succeeded_tasks(http) - before
    elapsed = time.perf_counter() - started
    return completed, completed / elapsed, tasks / submit_seconds


def bridge_histogram(http: httpx.Client) -> tuple[float, float, dict[float, float]]:
    """The web process's own measure of the bridge (`/metrics`): calls, seconds, and calls
    at or under each bucket bound, of the round trips to the Trio runtime so far."""
    reply = http.get("/metrics")
    reply.raise_for_status()
    count = total = 0.0
    buckets: dict[float, float] = {}
    for line in reply.text.splitlines():
        if not line.startswith("mcp_platform_bridge_call_duration_seconds") or "trio" not in line:
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith("mcp_platform_bridge_call_duration_seconds_count"):
            count = float(value)
        elif name.startswith("mcp_platform_bridge_call_duration_seconds_sum"):
            total = float(value)
        elif 'le="' in name and "+Inf" not in name:
            buckets[float(name.split('le="')[1].split('"')[0])] = float(value)
    return count, total, buckets


def bridge_overhead(http: httpx.Client, args: argparse.Namespace) -> dict[str, LoadResult]:
    """Sequential echo calls routed to asyncio and to Trio, in rounds of alternating order."""
    results = {
        runtime: LoadResult(name=f"{TOOL} via web → {runtime}", requested=0)
        for runtime in ("asyncio", "trio")
    }
    for runtime in results:
        set_runtime(http, runtime)
        measure(http, runtime, args.warmup, None)
    order = ["asyncio", "trio"]
    for round_number in range(args.rounds):
        for runtime in order if round_number % 2 == 0 else order[::-1]:
            set_runtime(http, runtime)
            results[runtime].requested += args.calls
            measure(http, runtime, args.calls, results[runtime])
    return results


# Each part is printed (and its targets reported) as soon as it is measured, so that a run cut
# short at its time limit on a busy machine still shows what it got.
def report_memory(memory: dict[str, tuple[float, float]]) -> None:
    print("idle memory of one node (runplatform, 1 web worker), before any load:")
    for part, (rss, pss) in memory.items():
        print(f"  {part:<14} RSS {rss:7.1f} MB   PSS {pss:7.1f} MB", flush=True)
    idle = memory["web"][0] + memory["Trio runtime"][0]
    report_target(
        "idle RSS, web + Trio runtime", idle, unit=" MB", target="<= 200 MB", met=idle <= 200
    )
    report_target(
        "idle RSS, worker", memory["worker"][0], unit=" MB", target="none, context", met=None
    )


def report_bridge(results: dict[str, LoadResult]) -> None:
    asyncio_row, trio_row = results["asyncio"], results["trio"]
    print(
        f"bridge overhead: {TOOL} through the web process, sequential, {asyncio_row.ok} calls each"
    )
    for row in (asyncio_row, trio_row):
        print(f"  {row.name:<28} p50 {row.p50_ms:7.3f} ms   p99 {row.p99_ms:7.3f} ms")
    overhead = trio_row.p50_ms - asyncio_row.p50_ms
    print(
        f"  bridge overhead              p50 {overhead:+7.3f} ms   "
        f"p99 {trio_row.p99_ms - asyncio_row.p99_ms:+7.3f} ms",
        flush=True,
    )
    report_target("bridge overhead p50", overhead, unit=" ms", target="<= 1 ms", met=overhead <= 1)
    report_target(
        "bridge overhead p99",
        trio_row.p99_ms - asyncio_row.p99_ms,
        unit=" ms",
        target="none, context",
        met=None,
    )


@contextlib.contextmanager
def running_node(prefix: str) -> Iterator[tuple[ServerProcess, httpx.Client, str]]:
    """One node (`runplatform`, one web worker: the memory and the bridge of one web process)
    on a fresh data dir, its Trio runtime up: the node, an admin client of it and its token."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        port = free_port()
        env = platform_env(Path(tmp), web_port=port)
        manage(env, "migrate", "--noinput")
        manage(env, "sync_tools")
        token = create_api_token(env, scopes=["admin"])
        node = ServerProcess(
            "runplatform",
            [PYTHON, "manage.py", "runplatform", "--host", HOST, "--port", str(port), *WORKERS],
            health_url=f"http://{HOST}:{port}/health",
            env=env,
        )
        with (
            node,
            httpx.Client(
                base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as http,
        ):
            wait_for_trio(http)
            yield node, http, token


def report_bridge_parts(before: tuple, after: tuple) -> None:
    """Where the bridge's time goes: the round trip the web process measured (send, the
    runtime's work, the answer) against the whole difference the client saw."""
    calls = after[0] - before[0]
    if calls <= 0:
        return
    mean_ms = 1000 * (after[1] - before[1]) / calls
    under = {bound: after[2].get(bound, 0) - before[2].get(bound, 0) for bound in after[2]}
    shares = ", ".join(
        f"<= {1000 * bound:g} ms: {100 * n / calls:.0f}%"
        for bound, n in sorted(under.items())
        if bound <= 0.01
    )
    print(
        f"  bridge round trip as the web process measured it ({calls:.0f} calls, transport, "
        f"the runtime's work and the tool): mean {mean_ms:.3f} ms; {shares}",
        flush=True,
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with running_node("mcp-bench-bridge-") as (node, http, token):
        time.sleep(args.settle)
        report_memory(idle_memory(node))
        histogram_before = bridge_histogram(http)
        report_bridge(bridge_overhead(http, args))
        report_bridge_parts(histogram_before, bridge_histogram(http))
        set_runtime(http, "auto")
        tasks, tasks_per_second, submits_per_second = task_queue(
            node, http, token, args.queue_seconds
        )
        print(
            f"task queue, one node: {tasks} echo tasks submitted by wrk over REST "
            f"({WRK_CONNECTIONS} connections, {args.queue_seconds:g}s), run by the Trio "
            f"runtime's workers: {tasks_per_second:.1f} tasks/s submit→complete "
            f"(submission alone {submits_per_second:.1f}/s)",
            flush=True,
        )
        report_target(
            "task queue submit→complete, 16 concurrent submitters",
            tasks_per_second,
            unit=" tasks/s",
            target=">= 350 tasks/s",
            met=tasks_per_second >= 350,
        )
        cpu_before = part_cpu(node)
        batch_done, batch_per_second, batch_submits_per_second = batch_task_queue(
            http, args.batch_tasks, args.batch_size, args.batch_drain_seconds
        )
        cpu_after = part_cpu(node)
        print(
            f"task queue, batch submit: {args.batch_tasks} echo tasks in lists of "
            f"{args.batch_size} (one call each, one client), {batch_done} completed: "
            f"{batch_per_second:.1f} tasks/s "
            f"submit→complete (submission alone {batch_submits_per_second:.1f} tasks/s)",
            flush=True,
        )
        # Where a batched task's cost lies: CPU per task of each part, submit to complete.
        print(
            "  CPU per task, submit→complete: "
            + ", ".join(
                f"{part} {1000 * (cpu_after[part] - cpu_before[part]) / max(batch_done, 1):.2f} ms"
                for part in ("web", "Trio runtime")
            ),
            flush=True,
        )
        report_target(
            f"task queue submit→complete, batch submit ({args.batch_size} per call)",
            batch_per_second,
            unit=" tasks/s",
            target=">= 1000 tasks/s",
            met=batch_per_second >= 1000,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
