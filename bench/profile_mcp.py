"""Where the platform's extra CPU per MCP `tools/call` goes, against the plain SDK server of
bench_mcp.py (`bench/bare_mcp.py`), in both protocol eras.

For each era and each server (the same wrk load as bench_mcp.py: 16 connections, a numbered
JSON-RPC id per request): a warmup, one round measuring CPU per call from /proc with no
profiler attached, then one round sampled by py-spy (`--gil`: only the thread holding the GIL,
so a sample is Python CPU, not a thread waiting). Each sample is put in one layer by the frames
on its stack (`LAYERS`: the first rule that matches, most specific first), and each layer is
printed as its share of the samples and as milliseconds of GIL time per call (samples / rate /
calls of the sampled round). Not part of `make bench` (it needs py-spy and ptrace rights):

    .venv/bin/pip install py-spy==0.4.3
    .venv/bin/python bench/profile_mcp.py [--seconds 10] [--rate 250] [--keep DIR]
"""

from __future__ import annotations

import argparse
import collections
import functools
import linecache
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx
from bench_mcp import SESSION_ERA, STATELESS_ERA, call_target
from common import (
    ServerProcess,
    platform_server,
    random_secret_key,
    require_wrk,
    run_wrk,
)

# A sample's layer. First the background threads and the call path's stages, by a frame
# anywhere on the stack (`STAGES`: the first rule that matches; a stage's samples include what
# it calls). Every other sample goes to the innermost frame of a layer that owns code
# (`OWNERS`); libraries a layer uses (anyio, asyncio, pydantic, json, Django's ORM, ...) count
# for the layer that called them. `KINDS` says what the innermost frame is, across layers.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("call-log writer thread", ("(apps/tools/call_log.py)",)),
    ("audit writer thread", ("(apps/audit/calls.py)",)),
    (
        "other background threads (version watcher, last-used writer)",
        ("(mcp_platform/versions.py)", "(apps/access/principal_cache.py)", "(concurrent/"),
    ),
    (
        "call_service: record_call (call log, audit, metrics)",
        ("record_call (apps/tools/call_service.py)",),
    ),
    (
        "call_service: prepare_call (find, authorize, validate)",
        ("prepare_call (apps/tools/call_service.py)", "validate_arguments (apps/tools/"),
    ),
    (
        "call_service: admit (rate limits, concurrency)",
        ("admit (apps/tools/call_service.py)", "(apps/ratelimits/"),
    ),
    (
        "call_service: dispatch, run (route, the tool)",
        ("dispatch (apps/tools/call_service.py)", "run_locally (apps/tools/", "(apps/routing/"),
    ),
    ("call_service: call_tool's own", ("(apps/tools/call_service.py)",)),
]
OWNERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "CatalogueServer.call_tool (McpAsker, trace context, CallToolResult)",
        ("call_tool (apps/tools/mcp_server.py)",),
    ),
    (
        "our SDK middleware (session registry, requestState, SSE close)",
        (
            "middleware (apps/tools/mcp_server.py)",
            "(apps/tools/mcp_interaction.py)",
            "middleware (apps/tools/mcp_events.py)",
            "request_state_boundary",
        ),
    ),
    ("event store (resumable SSE, mcp_events)", ("(apps/tools/mcp_events.py)",)),
    ("bearer auth (principal cache)", ("(apps/access/", "(apps/oauth/")),
    ("tracing (ours)", ("(mcp_platform/tracing.py)",)),
    ("McpHttpEndpoint (host, origin, scope, manager pick)", ("(apps/tools/mcp_http.py)",)),
    ("bench/bare_mcp.py app (bearer check, handler)", ("(bench/bare_mcp.py)",)),
    (
        "SDK: session manager, transport, dispatch, types",
        ("(mcp/", "(mcp_types/", "(sse_starlette/", "(opentelemetry/", "(trace/__init__.py)"),
    ),
    # Starlette's app, router and middleware (ours: BodyLimit); its Request, Response and
    # headers are a library here, counted for whoever uses them (mostly the SDK).
    (
        "Starlette routing + BodyLimit",
        (
            "(starlette/applications.py)",
            "(starlette/routing.py)",
            "(starlette/middleware/",
            "(starlette/_exception_handler.py)",
            "(mcp_platform/asgi.py)",
        ),
    ),
    ("uvicorn / h11 (HTTP parsing, writing)", ("(uvicorn/", "(h11/", "(httptools/")),
]
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("the garbage collector (with --native)", ("gc_collect", "(gcmodule.c", "(Python/gc.c")),
    ("pydantic (validate, dump)", ("(pydantic/", "(pydantic_core/")),
    ("json (encode, decode)", ("(json/",)),
    ("anyio (streams, task groups, cancel scopes)", ("(anyio/",)),
    ("asyncio (loop, tasks, transport)", ("(asyncio/", "(selectors.py)")),
    ("Django ORM / sqlite3", ("(django/db/", "(sqlite3/")),
    ("h11 / uvicorn", ("(h11/", "(uvicorn/")),
    ("prometheus_client", ("(prometheus_client/",)),
    ("contextlib / weakref / dataclasses", ("(contextlib.py)", "(weakref.py)", "(<string>)")),
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="seconds per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed seconds per server")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument(
        "--native", action="store_true", help="py-spy --native: C frames too (the GC shows)"
    )
    parser.add_argument("--only", choices=("2025", "2026"), help="one era only (default: both)")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="the platform with gc.freeze() after start"
    )
    parser.add_argument("--keep", type=Path, help="a folder to keep the raw profiles in")
    parser.add_argument("--top", type=int, default=0, help="also print the top own frames")
    parser.add_argument(
        "--summarise",
        type=Path,
        metavar="RAW",
        nargs="+",
        help="only summarise raw profiles (as ms of GIL time per sample at --rate, no calls)",
    )
    return parser.parse_args(argv)


def frames_of(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rpartition(" ")
    if not stack or not count.isdigit():
        return [], 0
    # "function (path/file.py:123)" with the line number dropped; the thread's root frame too.
    frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if not f.startswith("thread (")]
    return frames, int(count)


GC_LUMP = "the garbage collector: full passes (a lump of samples at a frame's start)"
LUMP_SAMPLES = 5
ROOTS = [Path(__file__).resolve().parent.parent, *(Path(p) for p in sys.path if p)]


@functools.cache
def is_def_line(frame: str) -> bool:
    """Whether `frame` ("function (path/file.py:123)") is at its function's `def` line: where
    CPython shows a frame being created, and where a collector's pass started by that
    allocation is sampled."""
    found = re.search(r"\(([^()]+\.py):(\d+)\)$", frame)
    if not found:
        return False
    for root in ROOTS:
        path = root / found[1]
        if path.is_file():
            line = linecache.getline(str(path), int(found[2])).strip()
            return line.startswith(("def ", "async def "))
    return False


def layer_of(frames: list[str]) -> str:
    for layer, patterns in STAGES:
        if any(p in frame for frame in frames for p in patterns):
            return layer
    for frame in reversed(frames):
        for layer, patterns in OWNERS:
            if any(p in frame for p in patterns):
                return layer
    return "event loop, anyio tasks (no owner frame)"


def kind_of(frame: str) -> str:
    for kind, patterns in KINDS:
        if any(p in frame for p in patterns):
            return kind
    return "the layer's own Python"


def summarise(raw: Path) -> tuple[collections.Counter[str], ...]:
    layers: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        frames, samples = frames_of(line)
        if not frames:
            continue
        total += samples
        # One stack sampled many times at a def line: a full collection, not that frame's work.
        lump = samples >= LUMP_SAMPLES and is_def_line(line.rpartition(" ")[0].split(";")[-1])
        layers[GC_LUMP if lump else layer_of(frames)] += samples
        kinds[kind_of(frames[-1])] += samples
        own[frames[-1]] += samples
    return layers, kinds, own, total


def profile_round(spy: str, target, pid: int, seconds: int, rate: int, raw: Path, native: bool):
    command = [
        spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--format",
        "raw",
        "--output",
        str(raw),
        "--gil",
        "--threads",
        # --native pauses the process to unwind its C stack; without it py-spy need not.
        *([] if native else ["--nonblocking"]),
        "--rate",
        str(rate),
        *(["--native"] if native else []),
    ]
    recorder = threading.Thread(
        target=subprocess.run,
        args=(command,),
        kwargs={"capture_output": True, "timeout": seconds + 60},
    )
    recorder.start()
    result = run_wrk(target, seconds=seconds)
    recorder.join()
    if not raw.exists():
        raise RuntimeError("py-spy wrote no profile (needs root or ptrace rights)")
    return result


def print_era(label: str, servers: list, args: argparse.Namespace) -> None:
    """One table per era: each layer's share of a server's GIL samples, and that share of the
    server's CPU per call in the sampled round (from /proc, ms), plain SDK and platform side by
    side with the difference; then the collector's CPU per call (gc_probe.py), which lands in
    whichever layer allocated when a pass began."""
    print(f"\n== MCP tools/call echo, {label}")
    for name, clean, sampled, (_, _, _, total) in servers:
        gil_ms = total * 1000 / args.rate / max(sampled.ok, 1)
        gc_ms, passes = sampled.gc
        print(
            f"  {name}: CPU {clean.cpu_ms_per_call:.3f} ms/call without the profiler "
            f"({clean.ok} calls, {clean.throughput:.0f}/s); sampled round: CPU "
            f"{sampled.cpu_ms_per_call:.3f} ms/call, {sampled.ok} calls, {total} GIL samples "
            f"({gil_ms:.3f} ms of GIL per call); garbage collector {gc_ms:.3f} ms/call "
            f"({passes[0]}/{passes[1]}/{passes[2]} passes of generation 0/1/2)"
        )
    for title, index in (("layer", 0), ("innermost frame's kind", 1)):
        print(f"  {'share, ms/call: plain SDK':>27} | {'platform':>16} | {'diff':>6} | {title}")
        names: list[str] = []
        for *_, counters in servers:
            names += [n for n in counters[index] if n not in names]
        cells: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
        for _, _, sampled, counters in servers:
            total = max(counters[3], 1)
            for n in names:
                share = counters[index][n] / total
                cells[n].append((share, share * sampled.cpu_ms_per_call))
        names.sort(key=lambda n: -cells[n][-1][1])
        for n in names:
            (ps, pm), (qs, qm) = cells[n][0], cells[n][-1]
            print(
                f"  {100 * ps:18.1f}% {pm:6.3f} | {100 * qs:7.1f}% {qm:6.3f} | "
                f"{qm - pm:+6.3f} | {n}"
            )
    for name, _, _, (_, _, own, total) in servers:
        for frame, samples in own.most_common(args.top):
            print(f"  {name} own {100 * samples / total:5.1f}%  {frame}")


def gc_probe(url: str) -> dict:
    """The garbage collector's totals of a server served through bench/gc_probe.py."""
    return httpx.get(f"{url}/_gc_probe", timeout=30).json()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.summarise:
        for raw in args.summarise:
            layers, kinds, own, total = summarise(raw)
            print(f"\n== {raw}: {total} samples")
            for name, samples in [*layers.most_common(), *kinds.most_common()]:
                print(f"  {100 * samples / total:5.1f}%  {name}")
            for frame, samples in own.most_common(args.top):
                print(f"      own {100 * samples / total:5.1f}%  {frame}")
        return 0
    require_wrk()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    token = random_secret_key(43)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="profile-mcp-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    # Both served through gc_probe.py: it times the collector's passes in each.
    freeze = {"GC_PROBE_FREEZE": "1"} if args.gc_freeze else {}
    with (
        platform_server(
            app="bench.gc_probe:app",
            env={"GC_PROBE_APP": "mcp_platform.asgi:application", **freeze},
        ) as platform,
        ServerProcess.uvicorn(
            "plain",
            "bench.gc_probe:app",
            env={**os.environ, "BENCH_TOKEN": token, "GC_PROBE_APP": "bench.bare_mcp:app"},
        ) as plain,
    ):
        eras = [e for e in (SESSION_ERA, STATELESS_ERA) if e.startswith(args.only or "")]
        for era in eras:
            label = "2025 session" if era == SESSION_ERA else "2026 stateless"
            for name, server, url, bearer in (
                ("plain SDK", plain, f"{plain.url}/mcp", token),
                ("platform", platform.server, f"{platform.url}/mcp", platform.token),
            ):
                target = call_target(f"{name} ({label})", server, url, bearer, era)
                run_wrk(target, seconds=args.warmup)
                clean = run_wrk(target, seconds=args.seconds)
                raw = folder / f"{name.split()[0]}-{era}.txt"
                gc_before = gc_probe(server.url)
                sampled = profile_round(
                    spy, target, server.process.pid, args.seconds, args.rate, raw, args.native
                )
                gc_after = gc_probe(server.url)
                gc_ms = 1000 * (sum(gc_after["cpu_seconds"]) - sum(gc_before["cpu_seconds"]))
                passes = [
                    a - b for a, b in zip(gc_after["passes"], gc_before["passes"], strict=True)
                ]
                sampled.gc = (gc_ms / max(sampled.ok, 1), passes)
                rows.append((label, name, clean, sampled, raw))
                print(
                    f"{target.name}: {clean.ok} calls {clean.throughput:.0f}/s "
                    f"{clean.cpu_ms_per_call:.3f} cpu ms/call unprofiled; sampled round "
                    f"{sampled.ok} calls {sampled.cpu_ms_per_call:.3f} cpu ms/call",
                    flush=True,
                )
    print(f"raw profiles: {folder}")
    by_era: dict[str, list] = collections.defaultdict(list)
    for label, name, clean, sampled, raw in rows:
        by_era[label].append((name, clean, sampled, summarise(raw)))
    for label, servers in by_era.items():
        print_era(label, servers, args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
