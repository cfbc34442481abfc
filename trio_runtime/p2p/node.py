"""The node's one long-lived libp2p host, its peers, and the client side of `/mcp+p2p/1.0.0`.

    P2PNode.run
    └── host.run (libp2p swarm: listener, connections, stream handlers)
        ├── peer manager: dial bootstrap/manual peers (backoff), ping connected ones, disconnect
        │   disabled ones; every probe interval or at once when woken (routing change, a tool)
        └── connection events → Peer rows

Security and latency settings follow what py-libp2p 0.8.1 needs: Noise only (with plaintext
on offer a dialer could claim any peer id), one connection per peer (more makes every dial wait
250 ms), the swarm's auto-connector stopped (we decide whom to dial), and the dial negative
cache cleared before each dial we mean.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import ID as PING_PROTOCOL
from libp2p.host.ping import perform_ping_roundtrip
from libp2p.identity.identify import identify as identify_module
from libp2p.identity.identify.identify import ID as IDENTIFY_PROTOCOL
from libp2p.identity.identify.pb.identify_pb2 import Identify
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.utils.varint import read_length_prefixed_protobuf

from apps.peers import selectors as peer_selectors
from apps.peers import services as peers
from apps.peers.node import (
    PeerUnreachable,
    RemoteError,
    UnknownPeer,
    set_live_node,
)
from mcp_platform import __version__, tracing
from trio_runtime.p2p.framing import PROTOCOL_ID, read_frame, write_frame
from trio_runtime.p2p.protocol import IDLE_TIMEOUT_SECONDS, MAX_FRAMES_PER_STREAM, McpP2PServer

logger = logging.getLogger(__name__)

AGENT_VERSION = f"mcp-platform/{__version__} py-libp2p"
MCP_PROTOCOL = TProtocol(PROTOCOL_ID)
PING_TIMEOUT_SECONDS = 5.0
DETAILS_TIMEOUT_SECONDS = 5.0

# libp2p's own logger has no handler and does not propagate: its errors would go raw to
# stderr. Route them through ours (settings configure the level).
logging.getLogger("libp2p").propagate = True


def parse_peer_id(value: str) -> ID:
    try:
        return ID.from_base58(value)
    except Exception as exc:
        raise ValueError(f"{value!r} is not a peer id") from exc


class _ConnectionEvents(INotifee):
    """Forwards connection events to the node's event channel (never blocks the swarm)."""

    def __init__(self, send: trio.MemorySendChannel) -> None:
        self._send = send

    def _post(self, kind: str, conn: INetConn) -> None:
        # When the channel is full the periodic probe catches up.
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
            self._send.send_nowait((kind, str(conn.muxed_conn.peer_id)))

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._post("connected", conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._post("disconnected", conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: Any) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: Any) -> None:
        pass


class PeerSession:
    """An initialized `/mcp+p2p/1.0.0` stream to one peer, used by one caller at a time."""

    def __init__(self, stream: INetStream) -> None:
        self.stream = stream
        self.frames = 0
        self.last_used = time.monotonic()
        self._ids = itertools.count(1)
        self.server: dict[str, Any] = {}

    async def exchange(self, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.frames += 1
        await write_frame(self.stream, message)
        for _ in range(4):  # replies to earlier notifications never come; a stray one might
            reply = await read_frame(self.stream)
            if isinstance(reply, dict) and reply.get("id") in (request_id, None):
                return reply
        raise PeerUnreachable("the peer's replies do not match the request")

    async def abort(self) -> None:
        with trio.move_on_after(1), contextlib.suppress(Exception):
            await self.stream.reset()


@dataclass
class NodeInfo:
    peer_id: str
    listen_addrs: list[str]
    started_at: datetime


class P2PNode:
    def __init__(
        self,
        *,
        key_pair: KeyPair,
        listen_addr: str,
        config: peer_selectors.P2PConfig,
        probe_seconds: float = 5.0,
    ) -> None:
        self.key_pair = key_pair
        self.listen_addr = listen_addr
        self.config = config
        self.probe_seconds = probe_seconds
        self.host: Any = None
        self.info: NodeInfo | None = None
        self.server = McpP2PServer(server_info={"name": "mcp-platform", "version": __version__})
        self._idle_sessions: dict[str, list[PeerSession]] = {}
        self._details_fetched: set[str] = set()
        self._wake = trio.Event()
        self._dialing: set[str] = set()
        self._events_send, self._events_receive = trio.open_memory_channel[tuple](1000)

    # ---------------------------------------------------------------- lifecycle

    @property
    def peer_id(self) -> str:
        return self.info.peer_id if self.info else ""

    def _build_host(self) -> Any:
        identify_module.AGENT_VERSION = AGENT_VERSION
        return new_host(
            key_pair=self.key_pair,
            sec_opt={
                NOISE_PROTOCOL: NoiseTransport(
                    self.key_pair, noise_privkey=new_x25519_key_pair().private_key
                )
            },
            connection_config=ConnectionConfig(max_connections_per_peer=1),
        )

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; `task_status.started(self)` once listening."""
        self.host = self._build_host()
        self.host.set_stream_handler(MCP_PROTOCOL, self.server.handle_stream)
        self.host.get_network().register_notifee(_ConnectionEvents(self._events_send))
        await trio.to_thread.run_sync(peers.mark_all_disconnected)
        try:
            async with self.host.run(listen_addrs=[multiaddr.Multiaddr(self.listen_addr)]):
                await self.host.get_network().auto_connector.stop()
                self.info = NodeInfo(
                    peer_id=str(self.host.get_id()),
                    listen_addrs=[str(a) for a in self.host.get_addrs()],
                    started_at=datetime.now(UTC),
                )
                self.server.server_info["peerId"] = self.info.peer_id
                set_live_node(self)
                logger.info(
                    "libp2p host %s listening on %s",
                    self.peer_id,
                    ", ".join(self.info.listen_addrs),
                )
                task_status.started(self)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._consume_events)
                    nursery.start_soon(self._manage_peers)
        finally:
            set_live_node(None)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(peers.mark_all_disconnected)

    def wake(self) -> None:
        """Re-read bootstrap nodes and peers and act on them now (not at the next probe)."""
        self._wake.set()

    # ---------------------------------------------------------------- observing peers

    async def _consume_events(self) -> None:
        async for kind, peer_id in self._events_receive:
            try:
                if kind == "connected":
                    inbound = peer_id not in self._dialing
                    addrs = self.peer_addresses(peer_id)
                    await trio.to_thread.run_sync(
                        partial(peers.mark_connected, peer_id=peer_id, addrs=addrs, inbound=inbound)
                    )
                    self.wake()  # probe it now: RTT, agent, tools
                elif not self._is_connected(peer_id):
                    self._details_fetched.discard(peer_id)
                    self._idle_sessions.pop(peer_id, None)
                    await trio.to_thread.run_sync(partial(peers.mark_disconnected, peer_id=peer_id))
            except Exception:
                logger.exception("recording a %s event of %s failed", kind, peer_id)

    async def _manage_peers(self) -> None:
        while True:
            try:
                await self.maintain()
            except Exception:
                logger.exception("peer maintenance failed")
            with trio.move_on_after(self.probe_seconds):
                await self._wake.wait()
            self._wake = trio.Event()

    async def maintain(self) -> None:
        """One round: forget gone inbound peers, dial due peers, probe connected ones, drop
        disabled ones."""
        await trio.to_thread.run_sync(lambda: peers.prune_gone_peers())
        plan = await trio.to_thread.run_sync(lambda: peers.load_dial_plan())
        connected = set(self.connected_peers())
        async with trio.open_nursery() as nursery:
            for target in plan.targets:
                if target.peer_id not in connected and target.peer_id not in plan.disabled:
                    nursery.start_soon(self._dial_target, target)
            for peer_id in connected:
                if peer_id in plan.disabled:
                    nursery.start_soon(self.disconnect, peer_id)
                else:
                    nursery.start_soon(self._probe, peer_id)

    async def _dial_target(self, target: peers.DialTarget) -> None:
        try:
            await self.connect(target.peer_id, target.addrs)
        except (PeerUnreachable, ValueError) as exc:
            await trio.to_thread.run_sync(
                partial(peers.mark_failed, peer_id=target.peer_id, error=str(exc))
            )

    async def _probe(self, peer_id: str) -> None:
        try:
            rtts = await self.ping(peer_id, count=1)
        except PeerUnreachable as exc:
            await trio.to_thread.run_sync(
                partial(peers.mark_failed, peer_id=peer_id, error=str(exc))
            )
            return
        addrs = self.peer_addresses(peer_id)
        await trio.to_thread.run_sync(
            partial(peers.record_probe, peer_id=peer_id, rtt_ms=rtts[0], addrs=addrs)
        )
        if peer_id not in self._details_fetched:
            self._details_fetched.add(peer_id)
            agent = tools = None
            with trio.move_on_after(DETAILS_TIMEOUT_SECONDS):
                try:
                    agent = await self.agent_version(peer_id)
                except Exception as exc:
                    logger.info("identify of %s failed: %r", peer_id, exc)
                try:
                    listed = await self.request(peer_id, "tools/list", {}, timeout=5)
                    tools = [t["name"] for t in listed.get("tools", [])]
                except RemoteError:
                    tools = []  # it does not trust us: it offers us nothing
                except Exception as exc:
                    logger.info("tools/list of %s failed: %r", peer_id, exc)
            await trio.to_thread.run_sync(
                lambda: peers.record_details(peer_id=peer_id, agent_version=agent, tools=tools)
            )

    # ---------------------------------------------------------------- peers

    def _is_connected(self, peer_id: str) -> bool:
        try:
            return bool(self.host.get_network().get_connections(parse_peer_id(peer_id)))
        except Exception:
            return False

    def connected_peers(self) -> list[str]:
        return sorted(str(p) for p in self.host.get_connected_peers())

    def peer_addresses(self, peer_id: str) -> list[str]:
        try:
            addrs = self.host.get_peerstore().addrs(parse_peer_id(peer_id))
        except Exception:
            return []
        return [str(a) for a in addrs if "/p2p/" not in str(a)]

    def peer_protocols(self, peer_id: str) -> list[str]:
        try:
            return list(self.host.get_peerstore().get_protocols(parse_peer_id(peer_id)))
        except Exception:
            return []

    async def connect(self, peer_id: str, addrs: list[str] | None = None) -> float:
        """Connect (no-op when connected); returns the seconds it took. Raises PeerUnreachable,
        ValueError for a bad id or address."""
        pid = parse_peer_id(peer_id)
        if peer_id == self.peer_id:
            raise ValueError("a node does not dial itself")
        if self._is_connected(peer_id):
            return 0.0
        if addrs is None:
            addrs = await trio.to_thread.run_sync(peer_selectors.known_addresses, peer_id)
        if not addrs:
            addrs = self.peer_addresses(peer_id)
        if not addrs:
            raise UnknownPeer(f"unknown peer {peer_id}: no known address")
        maddrs = [multiaddr.Multiaddr(a.split("/p2p/")[0]) for a in addrs]
        network = self.host.get_network()
        network.unblock_peer(pid)  # a failed dial would otherwise block redials for 60 s
        started = time.perf_counter()
        self._dialing.add(peer_id)
        try:
            with trio.fail_after(self.config.connection_timeout):
                await self.host.connect(PeerInfo(pid, maddrs))
        except trio.TooSlowError:
            raise PeerUnreachable(
                f"dialling {peer_id} timed out after {self.config.connection_timeout:g}s"
            ) from None
        except Exception as exc:
            raise PeerUnreachable(f"dialling {peer_id} failed: {_brief(exc)}") from None
        finally:
            self._dialing.discard(peer_id)
        return time.perf_counter() - started

    async def disconnect(self, peer_id: str) -> bool:
        if not self._is_connected(peer_id):
            return False
        self._idle_sessions.pop(peer_id, None)
        with trio.move_on_after(5):
            await self.host.disconnect(parse_peer_id(peer_id))
        return True

    async def ping(self, peer_id: str, *, count: int = 1) -> list[float]:
        """Round trips in milliseconds over `/ipfs/ping/1.0.0`; raises PeerUnreachable."""
        rtts: list[float] = []
        try:
            with trio.fail_after(PING_TIMEOUT_SECONDS * max(count, 1)):
                await self.connect(peer_id)
                stream = await self.host.new_stream(parse_peer_id(peer_id), [PING_PROTOCOL])
                try:
                    for _ in range(count):
                        started = time.perf_counter()
                        await perform_ping_roundtrip(stream)
                        rtts.append(round((time.perf_counter() - started) * 1000, 3))
                finally:
                    with trio.move_on_after(1):
                        await stream.close()
        except PeerUnreachable:
            raise
        except trio.TooSlowError:
            raise PeerUnreachable(f"ping to {peer_id} timed out") from None
        except Exception as exc:
            raise PeerUnreachable(f"ping to {peer_id} failed: {_brief(exc)}") from None
        return rtts

    async def agent_version(self, peer_id: str) -> str:
        stream = await self.host.new_stream(parse_peer_id(peer_id), [IDENTIFY_PROTOCOL])
        try:
            raw = await read_length_prefixed_protobuf(stream, use_varint_format=True)
            message = Identify()
            message.ParseFromString(raw)
            return message.agent_version
        finally:
            with trio.move_on_after(1):
                await stream.close()

    # ---------------------------------------------------------------- /mcp+p2p client

    async def _open_session(self, peer_id: str) -> PeerSession:
        await self.connect(peer_id)
        try:
            stream = await self.host.new_stream(parse_peer_id(peer_id), [MCP_PROTOCOL])
        except Exception as exc:
            raise PeerUnreachable(
                f"cannot open {PROTOCOL_ID} to {peer_id}: {_brief(exc)}"
            ) from None
        session = PeerSession(stream)
        reply = await session.exchange(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "clientInfo": {"name": "mcp-platform", "version": __version__},
                "capabilities": {},
            },
        )
        if "error" in reply:
            await session.abort()
            error = reply["error"]
            raise RemoteError(error.get("code", 0), error.get("message", ""), error.get("data"))
        session.server = reply.get("result", {})
        return session

    def _pooled_session(self, peer_id: str) -> PeerSession | None:
        """An idle session the peer has not closed for idleness yet (it does after
        IDLE_TIMEOUT_SECONDS); older ones are dropped (the peer closes its end)."""
        pooled = self._idle_sessions.get(peer_id) or []
        while pooled:
            session = pooled.pop()
            if time.monotonic() - session.last_used < IDLE_TIMEOUT_SECONDS / 2:
                return session
        return None

    async def request(
        self,
        peer_id: str,
        method: str,
        params: dict[str, Any] | None,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (a legacy/tool argument)
    ) -> Any:
        """One JSON-RPC request to a peer over a pooled, initialized stream; returns its result.
        Raises RemoteError (its error reply), PeerUnreachable, trio.TooSlowError."""
        parse_peer_id(peer_id)
        with trio.fail_after(timeout):
            session = self._pooled_session(peer_id) or await self._open_session(peer_id)
            try:
                reply = await session.exchange(method, params)
            except BaseException as exc:
                await session.abort()
                if isinstance(exc, Exception) and not isinstance(exc, PeerUnreachable):
                    raise PeerUnreachable(f"stream to {peer_id} failed: {_brief(exc)}") from None
                raise
        session.last_used = time.monotonic()
        if session.frames < MAX_FRAMES_PER_STREAM - 1:
            self._idle_sessions.setdefault(peer_id, []).append(session)
        else:
            with trio.move_on_after(1):
                await session.stream.close()
        if "error" in reply:
            error = reply["error"] or {}
            raise RemoteError(error.get("code", 0), error.get("message", ""), error.get("data"))
        return reply.get("result")

    async def call_tool(
        self,
        peer_id: str,
        name: str,
        arguments: dict[str, Any],
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (a legacy/tool argument)
    ) -> dict[str, Any]:
        """`tools/call` on a peer; the MCP result it returned."""
        params: dict[str, Any] = {"name": name, "arguments": arguments}
        carried = tracing.carrier()
        if carried:  # the optional `_meta.traceparent`: the peer's call joins this trace
            params["_meta"] = carried
        return await self.request(peer_id, "tools/call", params, timeout=timeout)

    def status(self) -> dict[str, Any]:
        info = self.info
        return {
            "status": "active" if info else "starting",
            "peer_id": self.peer_id,
            "multiaddrs": info.listen_addrs if info else [],
            "protocol": PROTOCOL_ID,
            "started": info.started_at.isoformat() if info else None,
            "agent_version": AGENT_VERSION,
            "connected_peers": self.connected_peers() if self.host else [],
            "streams_served": self.server.streams_served,
            "frames_refused": self.server.frames_refused,
            "pid": os.getpid(),
        }


def _brief(exc: BaseException) -> str:
    """One line for an exception, unwrapping libp2p's nested exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]
