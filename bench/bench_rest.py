"""`POST /tools/execute/echo` on the platform against the framework floor (a bare django-ninja
async app), bare FastAPI, and the platform with two web workers, with wrk as the load.

Every server is served by uvicorn with the same flags (127.0.0.1, a free port; one worker unless
said) and gets the same load from wrk, an external C generator, in the same run: a warmup, then
rounds that alternate the order of the servers, so that drift on a shared machine falls on all.
Prints the rows, the ratios, and each ratio against its target. Exits non-zero if a server fails
to start, a reply differs from the expected legacy shape, or any call fails.

    .venv/bin/python bench/bench_rest.py [--seconds 5] [--rounds 2] [--warmup 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import httpx
from common import (
    WRK_CONNECTIONS,
    ServerProcess,
    WrkTarget,
    platform_server,
    print_comparison,
    random_secret_key,
    ratio,
    report_target,
    require_wrk,
    wrk_alternating,
)

PATH = "/tools/execute/echo"
MESSAGE = "hello from the benchmark"
EXPECTED_REPLY = {"tool": "echo", "status": "success", "result": {"message": MESSAGE}}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="seconds per timed round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    parser.add_argument("--warmup", type=float, default=2, help="untimed seconds per server")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--seconds must be >= 1, --rounds positive, --warmup >= 0")
    return args


def check_reply(target: WrkTarget) -> None:
    """Every server must answer the same legacy body before its speed means anything."""
    reply = httpx.post(target.url, content=target.body, headers=dict(target.headers), timeout=30)
    if reply.status_code != 200 or reply.json() != EXPECTED_REPLY:
        raise RuntimeError(f"{target.name} answered {reply.status_code} {reply.text[:300]}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    require_wrk()
    token = random_secret_key(43)
    bare_env = {**os.environ, "BENCH_TOKEN": token}
    body = json.dumps({"message": MESSAGE}).encode()
    print(
        "starting the platform twice (1 and 2 web workers; fresh SQLite, migrate, sync_tools, "
        "token), a bare django-ninja app and bare FastAPI..."
    )
    sys.stdout.flush()
    with contextlib.ExitStack() as stack:
        one = stack.enter_context(platform_server())
        two = stack.enter_context(platform_server(workers=2))
        ninja = stack.enter_context(
            ServerProcess.uvicorn("ninja", "bench.bare_ninja:app", env=bare_env)
        )
        fastapi = stack.enter_context(
            ServerProcess.uvicorn("fastapi", "bench.bare_fastapi:app", env=bare_env)
        )

        def target(name: str, server: ServerProcess, secret: str) -> WrkTarget:
            headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
            return WrkTarget(name, f"{server.url}{PATH}", body, headers, server.cpu_seconds)

        targets = [
            target("django-ninja floor", ninja, token),
            target("bare FastAPI", fastapi, token),
            target("platform", one.server, one.token),
            target("platform 2 workers", two.server, two.token),
        ]
        for t in targets:
            check_reply(t)
        floor, fast, platform, platform_two = wrk_alternating(
            targets, rounds=args.rounds, seconds=args.seconds, warmup_seconds=args.warmup
        )
    how = (
        f"wrk {WRK_CONNECTIONS} connections, {args.rounds} alternating rounds of {args.seconds:g}s"
        f" (after {args.warmup:g}s warmup), uvicorn 1 worker unless said"
    )
    print_comparison(f"POST {PATH}: {how}", floor, [platform])
    print_comparison(f"POST {PATH}: {how}", fast, [floor, platform])
    print_comparison(f"POST {PATH}: {how}", platform, [platform_two])
    report_target(
        "REST echo, platform vs django-ninja floor (throughput)",
        ratio(platform.throughput, floor.throughput),
        unit="x",
        target=">= 0.8x",
        met=ratio(platform.throughput, floor.throughput) >= 0.8,
    )
    report_target(
        "REST echo, platform vs bare FastAPI (throughput)",
        ratio(platform.throughput, fast.throughput),
        unit="x",
        target="none, context",
        met=None,
    )
    report_target(
        "REST echo, platform 2 web workers vs 1 (throughput)",
        ratio(platform_two.throughput, platform.throughput),
        unit="x",
        target=">= 1.6x",
        met=ratio(platform_two.throughput, platform.throughput) >= 1.6,
    )
    return 0 if all(r.complete for r in (floor, fast, platform, platform_two)) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit(130)
