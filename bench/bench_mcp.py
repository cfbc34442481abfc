"""MCP `tools/call echo` on the platform's `/mcp` against a plain server built with the same SDK.

Both are served by uvicorn with the same flags (one worker, 127.0.0.1, a free port) and get the
same load from the same official SDK clients in the same run: a pool of `--concurrency` clients
(each one 2025-11-25 session, or per-request 2026-07-28 with `--mode 2026-07-28`), a warmup,
then rounds that alternate which server goes first. Prints both rows and the platform's ratios to
the plain server. Exits non-zero if a server fails to start, a result differs from the expected
one, or any call fails or is left unmade within the time limit.

    .venv/bin/python bench/bench_mcp.py [--requests 2000] [--concurrency 16] [--mode legacy]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2
from common import (
    LoadResult,
    ServerProcess,
    measure_alternating,
    platform_server,
    print_comparison,
    random_secret_key,
)
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

MESSAGE = "hello from the benchmark"
EXPECTED = {"message": MESSAGE}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed calls per server")
    parser.add_argument("--concurrency", type=int, default=16, help="clients calling at once")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls per server first")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    parser.add_argument("--mode", choices=("legacy", "2026-07-28"), default="legacy")
    parser.add_argument(
        "--time-limit", type=float, default=120, help="seconds allowed per round and server"
    )
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.rounds) < 1 or args.warmup < 0:
        parser.error("--requests, --concurrency and --rounds must be positive, --warmup >= 0")
    return args


@dataclass
class Target:
    name: str
    url: str
    token: str
    server: ServerProcess


@contextlib.asynccontextmanager
async def client_pool(target: Target, size: int, mode: str) -> AsyncIterator[asyncio.Queue]:
    """`size` connected SDK clients of `target`, in a queue each call borrows one from."""
    pool: asyncio.Queue[Client] = asyncio.Queue()
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(size):
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers={"Authorization": f"Bearer {target.token}"},
                    timeout=httpx2.Timeout(30),
                )
            )
            client = Client(streamable_http_client(target.url, http_client=http), mode=mode)
            pool.put_nowait(await stack.enter_async_context(client))
        yield pool


def call_operation(pool: asyncio.Queue):
    async def call() -> None:
        client = await pool.get()
        try:
            result = await client.call_tool("echo", {"message": MESSAGE})
        finally:
            pool.put_nowait(client)
        if result.is_error or result.structured_content != EXPECTED:
            raise RuntimeError(f"unexpected result {result!r}")

    return call


async def measure(args: argparse.Namespace, targets: list[Target]) -> list[LoadResult]:
    """Open each target's client pool and check a call, then warm up and run the rounds."""
    async with contextlib.AsyncExitStack() as stack:
        operations = {}
        for t in targets:
            pool = await stack.enter_async_context(client_pool(t, args.concurrency, args.mode))
            operations[t.name] = call_operation(pool)
            await operations[t.name]()  # the result must be right before its speed matters
        return await measure_alternating(
            operations,
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
    print(
        "starting the platform (fresh SQLite, migrate, sync_tools, token) and a plain SDK server..."
    )
    sys.stdout.flush()
    with (
        platform_server() as platform,
        ServerProcess.uvicorn(
            "plain", "bench.bare_mcp:app", env={**os.environ, "BENCH_TOKEN": bare_token}
        ) as plain,
    ):
        targets = [
            Target("plain SDK server", f"{plain.url}/mcp", bare_token, plain),
            Target("platform /mcp", f"{platform.url}/mcp", platform.token, platform.server),
        ]
        baseline, subject = asyncio.run(measure(args, targets))
    print_comparison(
        f"MCP tools/call echo ({args.mode}): {args.requests} calls per server, "
        f"{args.concurrency} SDK clients (after {args.warmup} warmup), {args.rounds} alternating "
        "rounds, uvicorn 1 worker",
        baseline,
        [subject],
    )
    return 0 if baseline.complete and subject.complete else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit(130)
