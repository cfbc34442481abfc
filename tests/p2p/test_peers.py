"""Three real nodes over libp2p on loopback: bootstrap, remote calls, trust, frame limits,
and the legacy P2P REST endpoints."""

from __future__ import annotations

import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL
from libp2p.security.noise.transport import Transport as NoiseTransport
from multiaddr import Multiaddr

from tests.harness import wait_until
from tests.p2p.cluster import call, ok, peer_page_calls, rest, wait_connected
from trio_runtime.p2p.framing import HEADER, PROTOCOL_ID, read_frame
from trio_runtime.p2p.node import PeerSession
from trio_runtime.p2p.protocol import FRAMING_ERROR, UNAUTHORIZED


def test_each_node_lists_the_other_two_as_connected_with_rtt(cluster):
    for name, others in (("a", ("b", "c")), ("b", ("a", "c")), ("c", ("a", "b"))):
        listing = wait_connected(cluster, name, others)
        for peer in listing["peers"]:
            assert peer["rtt_ms"] is not None and peer["rtt_ms"] >= 0
            assert peer["agent_version"].startswith("mcp-platform/")
    # A trusts B, so B lists its tools to A; C is trusted by nobody, so it is offered none.
    a_rows = {p["peer_id"]: p for p in ok(cluster, "a", "p2p_peer_list")["peers"]}
    assert "echo" in a_rows[cluster.peer_ids["b"]]["tools"]
    c_rows = {p["peer_id"]: p for p in ok(cluster, "c", "p2p_peer_list")["peers"]}
    assert c_rows[cluster.peer_ids["b"]]["tools"] == []


def test_a_calls_a_tool_on_b_and_gets_bs_result(cluster):
    wait_connected(cluster, "a", ("b",))
    reply = ok(
        cluster,
        "a",
        "p2p_remote_call",
        {"peer_id": cluster.peer_ids["b"], "tool": "p2p_node_status"},
    )
    remote = reply["result"]
    assert remote["isError"] is False
    # Only B knows B's peer id and its own connections: the result was made on B.
    assert remote["structuredContent"]["peer_id"] == cluster.peer_ids["b"]
    assert cluster.peer_ids["a"] in remote["structuredContent"]["connected_peers"]
    echoed = ok(
        cluster,
        "a",
        "p2p_remote_call",
        {"peer_id": cluster.peer_ids["b"], "tool": "echo", "arguments": {"message": "hi B"}},
    )
    assert echoed["result"]["structuredContent"]["message"] == "hi B"


def test_c_not_trusted_by_b_is_refused_as_unauthorized(cluster):
    wait_connected(cluster, "c", ("b",))
    result = call(
        cluster,
        "c",
        "p2p_remote_call",
        {"peer_id": cluster.peer_ids["b"], "tool": "echo", "arguments": {"message": "x"}},
    )
    assert result["isError"] is True
    assert result["structuredContent"]["code"] == UNAUTHORIZED
    listing = call(cluster, "c", "p2p_remote_tools_list", {"peer_id": cluster.peer_ids["b"]})
    assert listing["isError"] and listing["structuredContent"]["code"] == UNAUTHORIZED
    # Ping is allowed to anyone.
    pinged = ok(
        cluster, "c", "p2p_remote_call", {"peer_id": cluster.peer_ids["b"], "method": "ping"}
    )
    assert pinged["result"] == {}


async def _oversized_frame_then_normal_session(address: str, peer_id: str) -> dict:
    key_pair = create_new_key_pair()
    host = new_host(
        key_pair=key_pair,
        sec_opt={
            NOISE_PROTOCOL: NoiseTransport(
                key_pair, noise_privkey=new_x25519_key_pair().private_key
            )
        },
        connection_config=ConnectionConfig(max_connections_per_peer=1),
    )
    pid = ID.from_base58(peer_id)
    seen: dict = {}
    with trio.fail_after(30):
        async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            await host.get_network().auto_connector.stop()
            await host.connect(PeerInfo(pid, [Multiaddr(address)]))
            stream = await host.new_stream(pid, [TProtocol(PROTOCOL_ID)])
            await stream.write(HEADER.pack(2 * 1024 * 1024) + b"{" * 4096)
            seen["oversized_reply"] = await read_frame(stream)
            try:
                await read_frame(stream)
                seen["stream_after"] = "open"
            except Exception as exc:
                seen["stream_after"] = type(exc).__name__
            # The same connection serves a new stream normally.
            session = PeerSession(await host.new_stream(pid, [TProtocol(PROTOCOL_ID)]))
            seen["initialize"] = await session.exchange("initialize", {"clientInfo": {"name": "t"}})
            seen["ping"] = await session.exchange("ping", None)
            seen["tools_list"] = await session.exchange("tools/list", {})
            seen["still_connected"] = bool(host.get_network().get_connections(pid))
            await host.disconnect(pid)
    return seen


def test_an_oversized_frame_is_refused_without_harming_the_peer(cluster):
    b_address = cluster.node("b").env["MCP_PLATFORM_P2P_LISTEN"]
    seen = trio.run(_oversized_frame_then_normal_session, b_address, cluster.peer_ids["b"])
    assert seen["oversized_reply"]["error"]["code"] == FRAMING_ERROR
    assert seen["stream_after"] != "open"  # that stream is over...
    assert seen["still_connected"]  # ...but not the connection
    assert seen["initialize"]["result"]["peerId"] == cluster.peer_ids["b"]
    assert seen["initialize"]["result"]["trusted"] is False
    assert seen["ping"]["result"] == {}
    assert seen["tools_list"]["error"]["code"] == UNAUTHORIZED  # a stranger: deny by default
    # B keeps serving its trusted peers.
    echoed = ok(
        cluster,
        "a",
        "p2p_remote_call",
        {"peer_id": cluster.peer_ids["b"], "tool": "echo", "arguments": {"message": "still"}},
    )
    assert echoed["result"]["structuredContent"]["message"] == "still"
    assert ok(cluster, "b", "p2p_node_status")["frames_refused"] >= 1


def test_legacy_p2p_rest_endpoints_answer_for_real(cluster):
    wait_connected(cluster, "a", ("b", "c"))
    peers = rest(cluster, "a", "GET", "/mcp/p2p/peers").json()
    assert peers["peer_id"] == cluster.peer_ids["a"]
    assert peers["protocol"] == "/mcp+p2p/1.0.0"
    assert peers["connected_peers"] == 2
    assert {p["peer_id"] for p in peers["peers"]} == {cluster.peer_ids["b"], cluster.peer_ids["c"]}
    assert all(p["latency_ms"] is not None for p in peers["peers"])

    discover = rest(cluster, "a", "GET", "/mcp/discover").json()
    assert discover["p2p"]["status"] == "active"
    assert discover["p2p"]["peer_id"] == cluster.peer_ids["a"]

    called = rest(
        cluster,
        "a",
        "POST",
        "/mcp/p2p/call",
        json={
            "peer_id": cluster.peer_ids["b"],
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "legacy"}},
        },
    )
    assert called.status_code == 200, called.text
    assert called.json()["result"]["structuredContent"]["message"] == "legacy"

    refused = rest(
        cluster,
        "c",
        "POST",
        "/mcp/p2p/call",
        json={"peer_id": cluster.peer_ids["b"], "method": "tools/list", "params": {}},
    )
    assert refused.status_code == 502
    assert refused.json()["remote_error"]["code"] == UNAUTHORIZED

    unknown = rest(
        cluster,
        "a",
        "POST",
        "/mcp/p2p/call",
        json={"peer_id": "12D3KooWNotAPeerAtAll", "method": "ping"},
    )
    assert unknown.status_code == 400


def test_calls_a_made_to_b_are_recorded_and_shown_on_bs_page_at_a(cluster):
    wait_connected(cluster, "a", ("b",))
    ok(
        cluster,
        "a",
        "p2p_remote_call",
        {"peer_id": cluster.peer_ids["b"], "tool": "echo", "arguments": {"message": "out"}},
    )
    missing = call(
        cluster, "a", "p2p_remote_call", {"peer_id": cluster.peer_ids["b"], "tool": "no_such"}
    )
    assert missing["isError"] is True

    def shown():
        rows = peer_page_calls(cluster, "a", "b")
        outbound = [row for row in rows if row[0] == "→ to peer"]
        return outbound if {"echo", "no_such"} <= {row[1] for row in outbound} else None

    outbound = wait_until(shown, timeout=90, interval=0.5, what="A's outbound calls on B's page")
    outcomes = {tool: outcome for _, tool, outcome in outbound}
    assert outcomes["echo"] == "success"
    assert outcomes["no_such"] != "success"
