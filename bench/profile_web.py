"""Where the web process spends its time on an echo call: the platform (one uvicorn worker) under
wrk load on `POST /tools/execute/echo` (or MCP `tools/call` with `--mcp`), sampled by py-spy
(the thread holding the GIL: where Python time goes), summarised as the top functions by own
and by inclusive samples (the loop's and the threads' scaffolding left out of the latter). Not part of `make bench` (it needs py-spy and root or ptrace rights):

    .venv/bin/pip install py-spy==0.4.3
    .venv/bin/python bench/profile_web.py [--seconds 15] [--top 25] [--mcp]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from common import WrkTarget, platform_server, run_wrk

MESSAGE = "hello from the profile"
# Frames on every stack (the event loop, thread pools, the server's start): no information.
SCAFFOLDING = (
    "(threading.py)",
    "(<frozen runpy>)",
    "(click/core.py)",
    "(uvicorn/main.py)",
    "(uvicorn/server.py)",
    "(uvicorn/_compat.py)",
    "(uvicorn/__main__.py)",
    "(asyncio/runners.py)",
    "(asyncio/base_events.py)",
    "(asyncio/events.py)",
    "(concurrent/futures/thread.py)",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="seconds of load and sampling")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--mcp", action="store_true", help="profile MCP 2026 tools/call instead")
    return parser.parse_args(argv)


def target(platform, mcp: bool) -> WrkTarget:
    headers = {**platform.auth_headers, "Content-Type": "application/json"}
    if not mcp:
        body = json.dumps({"message": MESSAGE}).encode()
        return WrkTarget("rest", f"{platform.url}/tools/execute/echo", body, headers, lambda: 0.0)
    headers |= {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "echo",
    }
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "profile", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": MESSAGE}, "_meta": meta},
    }
    return WrkTarget("mcp", f"{platform.url}/mcp", json.dumps(call).encode(), headers, lambda: 0.0)


def summarise(raw: Path, top: int) -> None:
    """Own samples (the innermost frame) and inclusive samples (anywhere on the stack)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        # "function (path/file.py:123)", line numbers dropped; the thread's root frame too.
        frames = [
            re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if not f.startswith("thread (")
        ]
        if not frames:
            continue
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            if not frame.endswith(SCAFFOLDING):
                inclusive[frame] += samples
    print(f"{total} samples of the thread holding the GIL")
    for title, counter in (("own", own), ("inclusive", inclusive)):
        print(f"top {top} by {title} samples:")
        for frame, samples in counter.most_common(top):
            print(f"  {100 * samples / max(total, 1):5.1f}%  {frame}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with platform_server() as platform, tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        load = target(platform, args.mcp)
        run_wrk(load, seconds=2)  # warm up: imports, first connections
        recorder = threading.Thread(
            target=subprocess.run,
            args=(
                [
                    spy,
                    "record",
                    "--pid",
                    str(platform.server.process.pid),
                    "--duration",
                    str(args.seconds),
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--threads",
                    "--nonblocking",
                    "--rate",
                    "200",
                ],
            ),
            kwargs={"capture_output": True, "timeout": args.seconds + 60},
        )
        recorder.start()
        result = run_wrk(load, seconds=args.seconds)
        recorder.join()
        print(f"{load.name}: {result.ok} calls, {result.throughput:.1f}/s, {result.errors} errors")
        if not raw.exists():
            print("py-spy wrote no profile (needs root or ptrace rights)", file=sys.stderr)
            return 1
        summarise(raw, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
