"""Job throughput: one Celery worker against two, on the same platform in the same run.

The platform's web process (served like bench_rest) takes `POST /api/v2/jobs` for the `echo`
tool; standalone `celery -A mcp_platform worker` processes run them. For each worker count:
a batch of jobs submitted at once (jobs per second from the first submit to the last result,
and each job's submit-to-finish time from its own timestamps), then jobs one at a time (submit
to result as a client polling every 10 ms sees it). Speed is compared, never asserted: the
script exits non-zero only if a job fails or does not finish in time.

    .venv/bin/python bench/bench_jobs.py [--jobs 200] [--sequential 20] [--concurrency 1]
        [--redis-url redis://127.0.0.1:6379/5 --database-url postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
from common import PYTHON, REPO, http_client, platform_server, report_target

TOOL = "echo"
JOB_TIMEOUT = 120.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100, help="jobs per batch (at most 500)")
    parser.add_argument("--sequential", type=int, default=10, help="jobs submitted one by one")
    parser.add_argument("--submitters", type=int, default=16, help="concurrent submitting clients")
    parser.add_argument("--concurrency", type=int, default=1, help="processes per worker")
    parser.add_argument("--redis-url", default="", help="Redis broker (default: file broker)")
    parser.add_argument("--database-url", default="", help="database (default: SQLite)")
    args = parser.parse_args(argv)
    args.jobs = max(1, min(args.jobs, 500))
    return args


class Worker:
    """A standalone Celery worker in its own process group."""

    def __init__(self, name: str, env: dict[str, str], concurrency: int, log: Path):
        self.name = name
        self.log = log
        argv = [PYTHON, "-m", "celery", "-A", "mcp_platform", "worker", "--loglevel", "INFO"]
        argv += ["--pool", "prefork", "--concurrency", str(concurrency)]
        argv += ["--hostname", f"{name}@%h", "--without-gossip", "--without-mingle"]
        argv += ["--without-heartbeat"]
        self.handle = log.open("w")
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.log.read_text()}")
            if " ready." in self.log.read_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready in {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.handle.close()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


async def submit(client: httpx.AsyncClient, url: str, headers: dict, n: int) -> str:
    body = {"tool": TOOL, "arguments": {"message": f"job {n}"}}
    reply = await client.post(f"{url}/api/v2/jobs", json=body, headers=headers)
    if reply.status_code != 202:
        raise RuntimeError(f"submit failed: {reply.status_code} {reply.text}")
    return reply.json()["id"]


async def batch(url: str, headers: dict, jobs: int, submitters: int) -> dict:
    """Submit `jobs` at once, wait for all; jobs/s and submit-to-finish times."""
    async with http_client(submitters, timeout=30) as client:
        queue = iter(range(jobs))
        ids: list[str] = []

        async def submitter() -> None:
            for n in queue:
                ids.append(await submit(client, url, headers, n))

        started = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(submitters)))
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            reply = await client.get(
                f"{url}/api/v2/jobs",
                params={"status": "queued,running", "limit": 1},
                headers=headers,
            )
            if reply.json()["count"] == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs unfinished after {JOB_TIMEOUT}s")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        listed = await client.get(
            f"{url}/api/v2/jobs", params={"limit": 500, "tool": TOOL}, headers=headers
        )
    mine = [job for job in listed.json()["jobs"] if job["id"] in set(ids)]
    failed = [job for job in mine if job["status"] != "succeeded"]
    if failed or len(mine) != jobs:
        raise RuntimeError(f"{len(failed)} job(s) failed, {jobs - len(mine)} missing: {failed[:1]}")
    latencies = [
        (
            datetime.fromisoformat(j["finished_at"]) - datetime.fromisoformat(j["created_at"])
        ).total_seconds()
        for j in mine
    ]
    workers = {job["worker"].split(" pid ")[0] for job in mine}
    return {"jobs_per_s": jobs / elapsed, "latencies": latencies, "workers": len(workers)}


async def sequential(url: str, headers: dict, count: int) -> list[float]:
    """Submit one job, poll it every 10 ms until it finished; the client's submit-to-result."""
    times = []
    async with http_client(1, timeout=30) as client:
        for n in range(count):
            started = time.perf_counter()
            job_id = await submit(client, url, headers, n)
            while True:
                job = (await client.get(f"{url}/api/v2/jobs/{job_id}", headers=headers)).json()
                if job["status"] in {"succeeded", "failed", "cancelled"}:
                    break
                if time.perf_counter() - started > JOB_TIMEOUT:
                    raise RuntimeError(f"job {job_id} unfinished after {JOB_TIMEOUT}s")
                await asyncio.sleep(0.01)
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
            times.append(time.perf_counter() - started)
    return times


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    extra = {}
    if args.redis_url:
        extra["REDIS_URL"] = args.redis_url
    if args.database_url:
        extra["DATABASE_URL"] = args.database_url
    profile = "Redis broker" if args.redis_url else "file broker"
    profile += ", PostgreSQL" if args.database_url else ", SQLite"
    rows = []
    with platform_server(env=extra) as platform:
        env = dict(platform.env)
        headers = platform.auth_headers
        workers: list[Worker] = []
        try:
            for count in (1, 2):
                while len(workers) < count:
                    name = f"bench{len(workers) + 1}"
                    worker = Worker(name, env, args.concurrency, platform.data_dir / f"{name}.log")
                    workers.append(worker)
                    worker.wait_ready()
                asyncio.run(batch(platform.url, headers, min(20, args.jobs), args.submitters))
                result = asyncio.run(batch(platform.url, headers, args.jobs, args.submitters))
                one_by_one = asyncio.run(sequential(platform.url, headers, args.sequential))
                rows.append((count, result, one_by_one))
        except Exception:
            for worker in workers:
                print(f"--- worker {worker.name} (last lines) ---", file=sys.stderr)
                print("\n".join(worker.log.read_text().splitlines()[-40:]), file=sys.stderr)
            print("--- platform (last lines) ---", file=sys.stderr)
            print("\n".join(platform.server.output.splitlines()[-40:]), file=sys.stderr)
            raise
        finally:
            for worker in workers:
                worker.stop()
    print(
        f"Jobs ({TOOL}, {profile}, {args.concurrency} process(es) per worker, "
        f"{args.jobs} jobs per batch, {args.submitters} submitters)"
    )
    print(
        f"{'workers':>8} {'used':>5} {'jobs/s':>8} {'batch p50':>10} {'batch p95':>10} "
        f"{'one-by-one p50':>15} {'p95':>8}"
    )
    for count, result, one_by_one in rows:
        lat = result["latencies"]
        print(
            f"{count:>8} {result['workers']:>5} {result['jobs_per_s']:>8.1f} "
            f"{percentile(lat, 0.5) * 1000:>8.0f}ms {percentile(lat, 0.95) * 1000:>8.0f}ms "
            f"{percentile(one_by_one, 0.5) * 1000:>13.0f}ms "
            f"{percentile(one_by_one, 0.95) * 1000:>6.0f}ms"
        )
    if len(rows) == 2:
        print(
            f"two workers / one: {rows[1][1]['jobs_per_s'] / rows[0][1]['jobs_per_s']:.2f}x jobs/s"
        )
    for count, result, _ in rows:
        report_target(
            f"jobs per second, {count} Celery worker(s) ({profile})",
            result["jobs_per_s"],
            unit=" jobs/s",
            target="none, context",
            met=None,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
