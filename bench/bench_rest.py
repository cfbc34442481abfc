"""`POST /tools/execute/echo` on the platform against a bare FastAPI app doing the same work.

Both are served by uvicorn with the same flags (one worker, 127.0.0.1, a free port) and get the
same load from the same client in the same run: a warmup, then rounds that alternate which server
goes first, so that drift on a shared machine falls on both. Prints both rows and the platform's
ratios to the bare app. Exits non-zero if a server fails to start, a reply differs from the
expected legacy shape, or any call fails or is left unmade within the time limit.

    .venv/bin/python bench/bench_rest.py [--requests 2000] [--concurrency 16] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass

import httpx
from common import (
    LoadResult,
    ServerProcess,
    http_client,
    http_post_operation,
    measure_alternating,
    platform_server,
    print_comparison,
    random_secret_key,
)

PATH = "/tools/execute/echo"
MESSAGE = "hello from the benchmark"
EXPECTED_REPLY = {"tool": "echo", "status": "success", "result": {"message": MESSAGE}}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed calls per server")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight at once")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls per server first")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    parser.add_argument(
        "--time-limit", type=float, default=60, help="seconds allowed per round and server"
    )
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.rounds) < 1 or args.warmup < 0:
        parser.error("--requests, --concurrency and --rounds must be positive, --warmup >= 0")
    return args


async def check_reply(client: httpx.AsyncClient, name: str, url: str, headers: dict) -> None:
    """Both servers must answer the same legacy body before their speed means anything."""
    reply = await client.post(url, json={"message": MESSAGE}, headers=headers)
    if reply.status_code != 200 or reply.json() != EXPECTED_REPLY:
        raise RuntimeError(f"{name} answered {reply.status_code} {reply.text[:300]}")


@dataclass
class Target:
    """One server under load: where to post, with which token, and its process (for CPU)."""

    name: str
    url: str
    headers: dict[str, str]
    server: ServerProcess


async def measure(args: argparse.Namespace, targets: list[Target]) -> list[LoadResult]:
    """Check each target's reply, then warm up and run the alternating rounds."""
    body = json.dumps({"message": MESSAGE}).encode()
    async with http_client(args.concurrency) as client:
        for t in targets:
            await check_reply(client, t.name, t.url, t.headers)
        return await measure_alternating(
            {t.name: http_post_operation(client, t.url, body, headers=t.headers) for t in targets},
            requests=args.requests,
            rounds=args.rounds,
            concurrency=args.concurrency,
            warmup=args.warmup,
            time_limit=args.time_limit,
            cpu_probes={t.name: t.server.cpu_seconds for t in targets},
        )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    bare_token = random_secret_key(43)
    print("starting the platform (fresh SQLite, migrate, sync_tools, token) and bare FastAPI...")
    sys.stdout.flush()
    with (
        platform_server() as platform,
        ServerProcess.uvicorn(
            "bare", "bench.bare_fastapi:app", env={**os.environ, "BENCH_TOKEN": bare_token}
        ) as bare,
    ):
        bare_target = Target(
            "bare FastAPI", f"{bare.url}{PATH}", {"Authorization": f"Bearer {bare_token}"}, bare
        )
        platform_target = Target(
            "platform", f"{platform.url}{PATH}", platform.auth_headers, platform.server
        )
        baseline, subject = asyncio.run(measure(args, [bare_target, platform_target]))
    print_comparison(
        f"POST {PATH}: {args.requests} calls per server at concurrency {args.concurrency}"
        f" (after {args.warmup} warmup), {args.rounds} alternating rounds, uvicorn 1 worker",
        baseline,
        [subject],
    )
    return 0 if baseline.complete and subject.complete else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit(130)
