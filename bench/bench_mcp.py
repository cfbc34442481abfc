"""MCP `tools/call echo` on the platform's `/mcp` against a plain server built with the same SDK,
in both protocol eras, with wrk as the load.

- 2025 session: one `initialize` handshake per server (made here, over HTTP), then wrk repeats
  `tools/call` with its `Mcp-Session-Id` (SSE replies, as the SDK client asks for them).
- 2026 stateless: wrk repeats the self-contained 2026-07-28 `tools/call` POST the SDK client
  sends (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` headers, the era's `_meta`).

Both servers are served by uvicorn with the same flags (one worker, 127.0.0.1, a free port) and
get the same load in the same run: a warmup, then rounds alternating which server goes first.
The platform with two web workers gets the same load too, as context: wrk's connections land
on either worker, so about half the 2025 session's requests are relayed to the worker that
holds the session (apps/tools/mcp_relay.py).
Before any timing, one reply from each must carry the echoed structured result. Prints the rows,
the ratios and each ratio against its target. Exits non-zero if a server fails to start, a
reply is wrong or any call fails.

    .venv/bin/python bench/bench_mcp.py [--seconds 5] [--rounds 2] [--warmup 2]
"""

from __future__ import annotations

import argparse
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

MESSAGE = "hello from the benchmark"
EXPECTED = {"message": MESSAGE}
SESSION_ERA = "2025-11-25"
STATELESS_ERA = "2026-07-28"
ACCEPT = "application/json, text/event-stream"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="seconds per timed round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    parser.add_argument("--warmup", type=float, default=2, help="untimed seconds per server")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--seconds must be >= 1, --rounds positive, --warmup >= 0")
    return args


def jsonrpc_reply(reply: httpx.Response) -> dict:
    """The JSON-RPC message of a JSON or a one-event SSE reply."""
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        for line in reply.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                return json.loads(line[5:])
        raise RuntimeError(f"no data in the SSE reply: {reply.text[:300]}")
    return reply.json()


def open_session(url: str, token: str) -> str:
    """A 2025-era session: `initialize`, then `notifications/initialized`; its id."""
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
    hello = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": SESSION_ERA,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    reply = httpx.post(url, json=hello, headers=headers, timeout=30)
    session = reply.headers.get("mcp-session-id")
    if reply.status_code != 200 or not session:
        raise RuntimeError(f"initialize answered {reply.status_code} {reply.text[:300]}")
    headers |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": SESSION_ERA}
    done = httpx.post(
        url,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers=headers,
        timeout=30,
    )
    if done.status_code >= 300:
        raise RuntimeError(f"notifications/initialized answered {done.status_code}")
    return session


def call_body(era: str) -> dict:
    params: dict = {"name": "echo", "arguments": {"message": MESSAGE}}
    if era == STATELESS_ERA:  # a stateless request says who is asking in its own _meta
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


def call_target(name: str, server: ServerProcess, url: str, token: str, era: str) -> WrkTarget:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": ACCEPT,
        "MCP-Protocol-Version": era,
    }
    if era == SESSION_ERA:
        headers["Mcp-Session-Id"] = open_session(url, token)
    else:
        headers |= {"Mcp-Method": "tools/call", "Mcp-Name": "echo"}
    body = json.dumps(call_body(era)).encode()
    target = WrkTarget(name, url, body, headers, server.cpu_seconds, numbered=True)
    reply = httpx.post(url, content=target.body, headers=headers, timeout=30)
    message = jsonrpc_reply(reply) if reply.status_code == 200 else {}
    structured = message.get("result", {}).get("structuredContent")
    if structured != EXPECTED:  # the result must be right before its speed matters
        raise RuntimeError(f"{name} answered {reply.status_code} {reply.text[:300]}")
    return target


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    require_wrk()
    token = random_secret_key(43)
    print(
        "starting the platform twice (1 and 2 web workers; fresh SQLite, migrate, sync_tools, "
        "token) and a plain SDK server..."
    )
    sys.stdout.flush()
    results = {}
    with (
        platform_server() as platform,
        platform_server(workers=2) as two,
        ServerProcess.uvicorn(
            "plain", "bench.bare_mcp:app", env={**os.environ, "BENCH_TOKEN": token}
        ) as plain,
    ):
        for era in (SESSION_ERA, STATELESS_ERA):
            label = "2025 session" if era == SESSION_ERA else "2026 stateless"
            targets = [
                call_target(f"plain SDK ({label})", plain, f"{plain.url}/mcp", token, era),
                call_target(
                    f"platform ({label})",
                    platform.server,
                    f"{platform.url}/mcp",
                    platform.token,
                    era,
                ),
                call_target(
                    f"platform 2 workers ({label})", two.server, f"{two.url}/mcp", two.token, era
                ),
            ]
            results[label] = wrk_alternating(
                targets, rounds=args.rounds, seconds=args.seconds, warmup_seconds=args.warmup
            )
    for label, (baseline, subject, two_workers) in results.items():
        print_comparison(
            f"MCP tools/call echo, {label}: wrk {WRK_CONNECTIONS} connections, {args.rounds} "
            f"alternating rounds of {args.seconds:g}s (after {args.warmup:g}s warmup), "
            "uvicorn 1 worker unless said",
            baseline,
            [subject, two_workers],
        )
    for label, (baseline, subject, two_workers) in results.items():
        value = ratio(subject.throughput, baseline.throughput)
        report_target(
            f"MCP tools/call echo ({label}), platform vs plain SDK server (throughput)",
            value,
            unit="x",
            target=">= 1.0x",
            met=value >= 1.0,
        )
        report_target(
            f"MCP tools/call echo ({label}), platform 2 web workers vs 1 (throughput)",
            ratio(two_workers.throughput, subject.throughput),
            unit="x",
            target="context",
            met=None,
        )
    return 0 if all(r.complete for group in results.values() for r in group) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit(130)
