"""Bridge overhead: a trivial tool (`echo`) called through the web process, routed to the Trio
runtime versus routed to asyncio, in the same run, on one platform node (`runplatform`).

Calls are sequential over one keep-alive connection, so the difference in latency is what the
bridge adds (web → Trio runtime → web). Rounds alternate the runtime (flipped through the
management API) so that drift on a shared machine falls on both. Prints p50/p99 of each and the
overhead in milliseconds. Exits non-zero if the node does not start, a call fails, or a call
does not run on the runtime it was routed to.

    .venv/bin/python bench/bench_bridge.py [--calls 400] [--rounds 4] [--warmup 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import (
    HOST,
    PYTHON,
    LoadResult,
    ServerProcess,
    create_api_token,
    free_port,
    manage,
    platform_env,
)

TOOL = "echo"
ARGUMENTS = {"message": "hello from the bridge benchmark"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per runtime")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls per runtime")
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


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mcp-bench-bridge-") as tmp:
        port = free_port()
        env = platform_env(Path(tmp), web_port=port)
        manage(env, "migrate", "--noinput")
        manage(env, "sync_tools")
        token = create_api_token(env, scopes=["admin"])
        node = ServerProcess(
            "runplatform",
            [PYTHON, "manage.py", "runplatform", "--host", HOST, "--port", str(port)],
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
            set_runtime(http, "auto")
    asyncio_row, trio_row = results["asyncio"], results["trio"]
    print(
        f"bridge overhead: {TOOL} through the web process, sequential, {asyncio_row.ok} calls each"
    )
    for row in (asyncio_row, trio_row):
        print(f"  {row.name:<28} p50 {row.p50_ms:7.3f} ms   p99 {row.p99_ms:7.3f} ms")
    print(
        f"  bridge overhead              p50 {trio_row.p50_ms - asyncio_row.p50_ms:+7.3f} ms   "
        f"p99 {trio_row.p99_ms - asyncio_row.p99_ms:+7.3f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
