"""A bounded soak of one node (`runplatform --workers 1`): sustained load on both runtimes, with
the error count and the resident memory of each process after every round.

wrk calls `echo` through the REST API (16 connections) in rounds of `--round-seconds`; between
rounds the tool is flipped between the asyncio runtime and the Trio runtime (through the
management API), so the web process, the bridge and the Trio runtime all carry load. After each
round, once the node has settled for a second, the RSS of each process group (web, Trio runtime,
Celery worker) is read. Reported: calls, errors (status >= 400, socket errors, timeouts) and the
RSS growth of each process from the first round to the last. A real leak shows as growth at
every round; the first round's warm-up growth is excluded (the baseline is after round one).

Exits non-zero if the node does not start or a call runs on the wrong runtime.

    .venv/bin/python bench/bench_soak.py [--seconds 60] [--round-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench_bridge import NODE_PARTS, TOOL, idle_memory, running_node, set_runtime
from common import (
    WrkTarget,
    report_target,
    run_wrk,
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="total seconds of load")
    parser.add_argument("--round-seconds", type=float, default=10, help="seconds per round")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    rounds = max(2, round(args.seconds / args.round_seconds))
    with running_node("mcp-bench-soak-") as (node, http, token):
        target = WrkTarget(
            f"{TOOL} over REST",
            f"{node.url}/api/v2/tools/{TOOL}/call",
            json.dumps({"message": "soak"}).encode(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            node.cpu_seconds,
        )
        samples: list[dict[str, tuple[float, float]]] = []
        calls = errors = 0
        first_error = ""
        for number in range(rounds):
            runtime = ("asyncio", "trio")[number % 2]
            set_runtime(http, runtime)
            time.sleep(1)  # the change reaches every process (version poll 0.25 s)
            result = run_wrk(target, seconds=args.round_seconds)
            calls += result.ok
            errors += result.errors
            first_error = first_error or result.first_error or ""
            time.sleep(1)
            samples.append(idle_memory(node))
            rss = "  ".join(f"{part} {samples[-1][part][0]:6.1f}" for part in NODE_PARTS)
            print(
                f"round {number + 1}/{rounds} on {runtime:<7}: {result.ok} calls, "
                f"{result.errors} errors, RSS MB: {rss}",
                flush=True,
            )
    print(f"soak: {calls} calls in {rounds} rounds of {args.round_seconds:g}s, {errors} errors")
    if first_error:
        print(f"  first error: {first_error}")
    report_target("soak errors", errors, unit="", target="0", met=errors == 0)
    for part in NODE_PARTS:
        growth = samples[-1][part][0] - samples[0][part][0]
        report_target(
            f"soak RSS growth after round 1, {part}",
            growth,
            unit=" MB",
            target="none, context (a leak grows every round)",
            met=None,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
