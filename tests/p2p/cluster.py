"""A package-scoped cluster of three real platform nodes (A, B, C) on loopback, each with its own
database and Trio runtime, and helpers to call their tools over REST.

Trust: A and B trust each other; C trusts A and B; nobody trusts C. Each node has the other
two as bootstrap nodes, so they connect as soon as they start.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.harness import NodeCluster, wait_until

NAMES = ("a", "b", "c")
TRUSTS = {"a": ("b",), "b": ("a",), "c": ("a", "b")}
NODE_ENV = {
    "REDIS_URL": "",  # each node on its own: no shared pub/sub, cache or broker
    "MCP_PLATFORM_TOOL_MODULES": "tests.p2p.fixture_tools",
    "MCP_PLATFORM_P2P_PROBE_SECONDS": "1",
    "MCP_PLATFORM_TASKQUEUE_REAP_SECONDS": "0.5",
}


def _setup_code(cluster: NodeCluster, name: str) -> str:
    lines = ["from apps.peers.models import Peer, BootstrapNode"]
    for other in NAMES:
        if other == name:
            continue
        peer_id = cluster.peer_ids[other]
        listen = cluster.node(other).env["MCP_PLATFORM_P2P_LISTEN"]
        lines.append(
            f"Peer.objects.create(peer_id={peer_id!r}, trusted={other in TRUSTS[name]!r}, "
            f"source='bootstrap', addresses=[{listen!r}])"
        )
        lines.append(f"BootstrapNode.objects.create(multiaddr={listen + '/p2p/' + peer_id!r})")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="package")
def cluster(tmp_path_factory) -> Any:
    nodes = NodeCluster(tmp_path_factory.mktemp("cluster"), NAMES, env=NODE_ENV)
    try:
        nodes.prepare({name: _setup_code(nodes, name) for name in NAMES})
        nodes.start()
        for name in NAMES:  # every test may call P2P tools at once: wait for each Trio runtime
            url = f"{nodes.node(name).url}/health/runtime"
            wait_until(
                lambda url=url: httpx.get(url, timeout=5).json()["trio"] == "up",
                timeout=60,
                what=f"node {name}'s Trio runtime",
            )
            # ...and its libp2p host, which starts beside the runtime's HTTP server.
            wait_until(
                lambda name=name: (
                    rest(nodes, name, "GET", "/mcp/p2p/peers").json()["status"] == "active"
                ),
                timeout=60,
                what=f"node {name}'s libp2p host",
            )
        yield nodes
    finally:
        nodes.stop()


def call(
    cluster: NodeCluster,
    name: str,
    tool: str,
    arguments: dict | None = None,
    *,
    timeout: float = 60,
) -> dict:
    """The MCP result of `tool` called on node `name` (over its legacy REST `/mcp/tools/call`)."""
    response = httpx.post(
        f"{cluster.node(name).url}/mcp/tools/call",
        json={"name": tool, "arguments": arguments or {}},
        headers={"Authorization": f"Bearer {cluster.tokens[name]}"},
        timeout=timeout,
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]


def ok_soon(cluster: NodeCluster, name: str, tool: str, arguments: dict | None = None) -> dict:
    """`ok`, retried while the node's Trio runtime is still starting (503)."""
    return wait_until(
        lambda: ok(cluster, name, tool, arguments),
        timeout=60,
        interval=0.3,
        what=f"{tool} on {name}",
    )


def ok(cluster: NodeCluster, name: str, tool: str, arguments: dict | None = None, **kw) -> dict:
    result = call(cluster, name, tool, arguments, **kw)
    assert not result["isError"], result
    return result["structuredContent"]


def rest(cluster: NodeCluster, name: str, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(
        method,
        f"{cluster.node(name).url}{path}",
        headers={"Authorization": f"Bearer {cluster.tokens[name]}"},
        timeout=60,
        **kwargs,
    )


def wait_connected(
    cluster: NodeCluster, name: str, others: tuple[str, ...], timeout: float = 45
) -> dict:
    wanted = {cluster.peer_ids[o] for o in others}

    def connected():
        listing = ok(cluster, name, "p2p_peer_list")
        rows = {p["peer_id"]: p for p in listing["peers"]}
        if wanted <= set(listing["connected"]) and all(
            rows.get(p, {}).get("status") == "connected"
            and rows[p]["rtt_ms"] is not None
            and rows[p]["agent_version"]
            for p in wanted
        ):
            return listing
        return None

    return wait_until(
        connected, timeout=timeout, interval=0.3, what=f"{name} connected to {others}"
    )


def wait_task(cluster: NodeCluster, name: str, task_id: str, timeout: float = 60) -> dict:
    return wait_until(
        lambda: (
            (t := ok(cluster, name, "p2p_taskqueue_get", {"task_id": task_id}))["status"]
            in ("succeeded", "dead", "cancelled")
            and t
        ),
        timeout=timeout,
        interval=0.2,
        what=f"task {task_id} on {name} to finish",
    )


def wait_workflow(cluster: NodeCluster, name: str, workflow_id: str, timeout: float = 60) -> dict:
    return wait_until(
        lambda: (
            (w := ok(cluster, name, "p2p_workflow_status", {"workflow_id": workflow_id}))["status"]
            != "running"
            and w
        ),
        timeout=timeout,
        interval=0.2,
        what=f"workflow {workflow_id} on {name} to finish",
    )


CALL_ROW = re.compile(
    r"<td>(← from peer|→ to peer)</td>\s*<td><code>([^<]+)</code></td>.*?"
    r'<span class="badge badge-\w+">(\w+)</span>',
    re.S,
)


def peer_page_calls(cluster, name: str, peer: str) -> list[list[str]]:
    """The rows of 'Recent calls to and from this peer' on node `name`'s page of `peer`, as a
    staff member sees them: [direction, tool, outcome], newest first."""
    script = (
        "import json, re\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.test import Client\n"
        "user, _ = get_user_model().objects.get_or_create(username='ops', "
        "defaults={'is_staff': True})\n"
        f"client = Client(HTTP_HOST={cluster.node(name).url.split('//', 1)[1]!r})\n"
        "client.force_login(user)\n"
        f"response = client.get('/peers/{cluster.peer_ids[peer]}/')\n"
        "assert response.status_code == 200, response.status_code\n"
        f"print('ROWS=' + json.dumps(re.findall({CALL_ROW.pattern!r}, "
        "response.content.decode(), re.S)))\n"
    )
    output = cluster.manage_script(name, script)
    line = next(line for line in output.splitlines() if line.startswith("ROWS="))
    return [list(row) for row in json.loads(line.removeprefix("ROWS="))]
