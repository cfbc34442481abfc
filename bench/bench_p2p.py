"""P2P: a remote tool call over libp2p against the same tool called locally, and task-queue
throughput, on two real platform nodes (`runplatform`, each with its own SQLite database and
Trio runtime) on loopback.

1. Latency. `echo` routed to A's Trio runtime and called through A's web process (client → web
   → bridge → Trio runtime), against `p2p_remote_call(B, echo)` through the same path (… →
   A's runtime → `/mcp+p2p/1.0.0` over one reused libp2p connection → B's runtime). Rounds
   alternate; calls are sequential (at most 20 a second: PACE_SECONDS). Prints p50/p99 of each, and of the libp2p request alone as
   A's runtime timed it.
2. Throughput. N `echo` tasks submitted to A's queue by concurrent clients and run by its
   runtime workers; tasks per second from the first submit to the last completion.

    .venv/bin/python bench/bench_p2p.py [--calls 300] [--rounds 3] [--tasks 400]
"""

from __future__ import annotations

import argparse
import concurrent.futures
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
    print_comparison,
)

ARGUMENTS = {"message": "hello over libp2p"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per kind of call")
    parser.add_argument("--warmup", type=int, default=30, help="untimed calls per kind")
    # The task queue's throughput is measured on one node, with wrk, by bench_bridge.py.
    parser.add_argument("--tasks", type=int, default=0, help="tasks for a throughput run here")
    parser.add_argument("--submitters", type=int, default=8, help="concurrent submitters")
    return parser.parse_args(argv)


def peer_id_of(data_dir: Path) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from libp2p.peer.id import ID

    from trio_runtime.p2p.identity import load_or_create_identity

    return str(ID.from_pubkey(load_or_create_identity(data_dir).public_key))


def start_node(name: str, data_dir: Path, setup: str) -> tuple[ServerProcess, dict, str]:
    port = free_port()
    env = platform_env(data_dir, web_port=port, extra={"MCP_PLATFORM_P2P_PROBE_SECONDS": "5"})
    manage(env, "migrate", "--noinput")
    manage(env, "sync_tools")
    if setup:
        manage(env, "shell", "-c", setup)
    token = create_api_token(env, scopes=["tools:read", "tools:call", "admin"])
    server = ServerProcess(
        name,
        [PYTHON, "manage.py", "runplatform"],
        health_url=f"http://{HOST}:{port}/health",
        env=env,
    )
    server.start(timeout=120)
    return server, env, token


def call(http: httpx.Client, tool: str, arguments: dict) -> dict:
    reply = http.post(f"/api/v2/tools/{tool}/call", json=arguments)
    body = reply.json() if reply.status_code == 200 else {}
    if reply.status_code != 200 or body.get("isError"):
        raise SystemExit(f"{tool} failed: {reply.status_code} {reply.text[:400]}")
    return body


# Calls start at least this far apart: a peer answers at most 50 frames a second on one stream
# (trio_runtime/p2p/protocol.py RATE_LIMIT_FRAMES, the legacy limit), and p2p_remote_call keeps
# its stream between calls. On a quiet machine back-to-back calls went past it.
PACE_SECONDS = 0.05


def measure(
    http: httpx.Client, kind: str, peer_b: str, calls: int, inner: list[float]
) -> LoadResult:
    """`calls` sequential calls, paced (PACE_SECONDS); each one's latency."""
    result = LoadResult(name=kind, requested=calls)
    started_round = time.perf_counter()
    next_start = started_round
    for _ in range(calls):
        time.sleep(max(0.0, next_start - time.perf_counter()))
        started = time.perf_counter()
        next_start = started + PACE_SECONDS
        if kind == "local":
            body = call(http, "echo", ARGUMENTS)
            ok = body["structuredContent"]["message"] == ARGUMENTS["message"]
        else:
            body = call(
                http, "p2p_remote_call", {"peer_id": peer_b, "tool": "echo", "arguments": ARGUMENTS}
            )
            structured = body["structuredContent"]
            ok = structured["result"]["structuredContent"]["message"] == ARGUMENTS["message"]
            inner.append(structured["elapsed_ms"] / 1000)
        elapsed = time.perf_counter() - started
        if not ok:
            raise SystemExit(f"{kind} call returned the wrong result: {body}")
        result.ok += 1
        result.latencies.append(elapsed)
    result.elapsed = time.perf_counter() - started_round
    return result


def wait_connected(http: httpx.Client, peer_b: str, timeout: float = 120) -> None:
    """Until A's Trio runtime is up and holds a connection to B."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = http.post("/api/v2/tools/p2p_peer_list/call", json={})
        listing = (reply.json().get("structuredContent") or {}) if reply.status_code == 200 else {}
        if peer_b in listing.get("connected", []):
            return
        time.sleep(0.5)
    raise SystemExit(f"A did not connect to B within {timeout} s")


def throughput(url: str, token: str, tasks: int, submitters: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {token}"}

    def submit(n: int) -> str:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            body = call(
                http, "p2p_taskqueue_submit", {"tool": "echo", "arguments": {"message": str(n)}}
            )
            return body["structuredContent"]["task_id"]

    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        before = call(http, "p2p_taskqueue_stats", {})["structuredContent"]["by_status"][
            "succeeded"
        ]
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(submitters) as pool:
            list(pool.map(submit, range(tasks)))
        submitted = time.perf_counter() - started
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            stats = call(http, "p2p_taskqueue_stats", {})["structuredContent"]["by_status"]
            if stats["succeeded"] - before >= tasks:
                break
            if stats["dead"]:
                raise SystemExit(f"tasks died: {stats}")
            time.sleep(0.05)
        else:
            raise SystemExit("the tasks did not all complete within 300 s")
        return tasks / (time.perf_counter() - started), tasks / submitted


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mcp-bench-p2p-") as tmp:
        dir_a, dir_b = Path(tmp) / "a", Path(tmp) / "b"
        dir_a.mkdir(mode=0o700)  # the platform refuses a data directory others can read
        dir_b.mkdir(mode=0o700)
        peer_a, peer_b = peer_id_of(dir_a), peer_id_of(dir_b)
        node_b, env_b, _ = start_node(
            "b",
            dir_b,
            f"from apps.peers.models import Peer\nPeer.objects.create(peer_id={peer_a!r}, trusted=True)\n",
        )
        b_listen = env_b["MCP_PLATFORM_P2P_LISTEN"]
        node_a, _, token_a = start_node(
            "a",
            dir_a,
            "from apps.peers.models import BootstrapNode, Peer\n"
            f"Peer.objects.create(peer_id={peer_b!r}, trusted=True, source='bootstrap', "
            f"addresses=[{b_listen!r}])\n"
            f"BootstrapNode.objects.create(multiaddr={b_listen + '/p2p/' + peer_b!r})\n",
        )
        try:
            with httpx.Client(
                base_url=node_a.url, headers={"Authorization": f"Bearer {token_a}"}, timeout=60
            ) as http:
                http.patch("/api/v2/tools/echo", json={"runtime": "trio"}).raise_for_status()
                wait_connected(http, peer_b)
                inner: list[float] = []
                for kind in ("local", "remote"):
                    measure(http, kind, peer_b, args.warmup, [])
                rounds: dict[str, list[LoadResult]] = {"local": [], "remote": []}
                for _ in range(args.rounds):
                    for kind in ("local", "remote"):
                        rounds[kind].append(measure(http, kind, peer_b, args.calls, inner))
            local = LoadResult.merged("echo on A's Trio runtime", rounds["local"])
            remote = LoadResult.merged("echo on B via p2p_remote_call", rounds["remote"])
            print_comparison(
                "Tool call: local vs remote over libp2p (sequential, via A's web)", local, [remote]
            )
            libp2p_hop = LoadResult(
                name="libp2p request alone", requested=len(inner), ok=len(inner), latencies=inner
            )
            print(
                f"  libp2p request inside A's runtime: p50 {libp2p_hop.p50_ms:.2f} ms, "
                f"p99 {libp2p_hop.p99_ms:.2f} ms; remote - local p50: "
                f"{remote.p50_ms - local.p50_ms:+.2f} ms"
            )
            if args.tasks:
                per_second, submit_rate = throughput(
                    node_a.url, token_a, args.tasks, args.submitters
                )
                print(
                    f"Task queue: {args.tasks} echo tasks, {args.submitters} submitters over REST,"
                    f" 4 runtime workers: {per_second:.1f} tasks/s submit→claim→complete "
                    f"(submission alone {submit_rate:.1f}/s)"
                )
        finally:
            node_a.stop(timeout=60)
            node_b.stop(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
