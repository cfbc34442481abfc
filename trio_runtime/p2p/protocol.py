"""The server side of `/mcp+p2p/1.0.0`: JSON-RPC 2.0 over length-prefixed frames.

A stream starts with `initialize`; then `tools/list`, `tools/call` (the MCP result shape) and
`ping`. Deny by default: only peers an admin marked trusted (and not disabled) may list or call
tools. The caller is the transport's authenticated peer id (Noise), never a field of a message.
Limits: frames over 1 MiB, more than 128 frames on one stream, or more frames per second than
the rate limit are refused with the legacy error codes. Nothing a peer sends can raise out of
the handler: an exception escaping a libp2p stream handler would take the whole host down.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import trio
from libp2p.abc import INetStream
from libp2p.network.stream.exceptions import StreamEOF, StreamError

from apps.access.principals import SCOPE_CALL, SCOPE_READ, Principal
from apps.tools import registry
from apps.tools.call_errors import CallError, InvalidArguments, RateLimited
from apps.tools.call_service import call_tool
from mcp_platform import tracing
from trio_runtime.p2p.framing import BadFrame, FrameTooLarge, read_frame, write_frame

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "2025-06-18"
MAX_FRAMES_PER_STREAM = 128
RATE_LIMIT_FRAMES = 50  # per stream, per RATE_WINDOW_SECONDS
RATE_WINDOW_SECONDS = 1.0
IDLE_TIMEOUT_SECONDS = 60.0
TRUST_CACHE_SECONDS = 1.0

# Error codes of the MCP++ wire format (LEGACY.md).
INITIALIZE_REQUIRED = -32000
UNAUTHORIZED = -32001
TOOL_ERROR = -32002
FRAMING_ERROR = -32003
RATE_LIMITED = -32010
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def error_reply(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def node_acting_tools() -> tuple[str, ...]:
    """The P2P tools that act as this node (dial, forward calls, queue work, change bootstrap):
    a peer may read this node's P2P state, but never act as it, so trust is not transitive."""
    return tuple(
        sorted(
            name
            for name, spec in registry.all_specs().items()
            if spec.metadata["category"] == "p2p" and not spec.metadata["read_only_hint"]
        )
    )


def peer_principal(peer_id: str) -> Principal:
    """Who a trusted peer is to the call service: every tool but those acting as this node."""
    return Principal(
        name=f"peer:{peer_id}",
        kind="peer",
        scopes=frozenset({SCOPE_READ, SCOPE_CALL}),
        denied_tools=node_acting_tools(),
    )


def _peer_is_trusted(peer_id: str) -> bool:
    from apps.peers.models import Peer

    return Peer.objects.filter(peer_id=peer_id, trusted=True, enabled=True).exists()


def _visible_tools(principal: Principal) -> list[dict[str, Any]]:
    from apps.tools.selectors import tool_descriptor, tools_visible_to

    return [tool_descriptor(t) for t in tools_visible_to(principal)]


class TrustCache:
    """Trust looked up in the database, remembered for a second (an admin's change is seen
    within that second; a burst of calls costs one query)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, bool]] = {}

    async def is_trusted(self, peer_id: str) -> bool:
        now = time.monotonic()
        cached = self._seen.get(peer_id)
        if cached and now - cached[0] < TRUST_CACHE_SECONDS:
            return cached[1]
        trusted = await trio.to_thread.run_sync(_peer_is_trusted, peer_id)
        self._seen[peer_id] = (now, trusted)
        return trusted


class McpP2PServer:
    """Serves `/mcp+p2p/1.0.0` streams; `server_info` is what `initialize` answers with."""

    def __init__(self, *, server_info: dict[str, Any], on_call: Any = None) -> None:
        self.server_info = server_info
        self.trust = TrustCache()
        self.streams_served = 0
        self.frames_refused = 0

    async def handle_stream(self, stream: INetStream) -> None:
        """The stream handler given to the host. Never raises."""
        try:
            remote = str(stream.muxed_conn.peer_id)
        except Exception:
            remote = "?"
        self.streams_served += 1
        try:
            await self._serve(stream, remote)
        except (StreamEOF, StreamError):
            pass  # the client went away: the end of its session
        except trio.TooSlowError:
            logger.info("p2p stream from %s idle for %ss; closed", remote, IDLE_TIMEOUT_SECONDS)
        except Exception:
            logger.exception("p2p stream from %s failed", remote)
        finally:
            await _close_quietly(stream)

    async def _serve(self, stream: INetStream, remote: str) -> None:
        initialized = False
        window_start, window_frames = time.monotonic(), 0
        for frame_number in range(1, MAX_FRAMES_PER_STREAM + 2):
            try:
                with trio.fail_after(IDLE_TIMEOUT_SECONDS):
                    message = await read_frame(stream)
            except FrameTooLarge as exc:
                # The body was not read, so the stream cannot be resynchronised: say why and
                # end this stream only. The connection and the peer's other streams live on.
                self.frames_refused += 1
                logger.warning("p2p peer %s sent an oversized frame: %s", remote, exc)
                await write_frame(stream, error_reply(None, RpcError(FRAMING_ERROR, str(exc))))
                return
            except BadFrame as exc:
                await write_frame(stream, error_reply(None, RpcError(FRAMING_ERROR, str(exc))))
                return
            if frame_number > MAX_FRAMES_PER_STREAM:
                await write_frame(
                    stream,
                    error_reply(
                        _request_id(message),
                        RpcError(
                            RATE_LIMITED,
                            f"at most {MAX_FRAMES_PER_STREAM} frames per stream; open a new one",
                        ),
                    ),
                )
                return
            now = time.monotonic()
            if now - window_start >= RATE_WINDOW_SECONDS:
                window_start, window_frames = now, 0
            window_frames += 1
            if window_frames > RATE_LIMIT_FRAMES:
                await write_frame(
                    stream,
                    error_reply(
                        _request_id(message),
                        RpcError(RATE_LIMITED, "rate limited: too many frames per second"),
                    ),
                )
                continue
            reply, initialized = await self._answer(message, remote, initialized)
            if reply is not None:
                await write_frame(stream, reply)

    async def _answer(
        self, message: Any, remote: str, initialized: bool
    ) -> tuple[dict[str, Any] | None, bool]:
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return error_reply(None, RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 message")), (
                initialized
            )
        method, request_id = message.get("method"), message.get("id")
        is_notification = "id" not in message
        if not isinstance(method, str):
            return error_reply(request_id, RpcError(INVALID_REQUEST, "missing method")), (
                initialized
            )
        params = message.get("params") or {}
        try:
            if not isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, "params must be an object")
            if method == "initialize":
                result: Any = {
                    "protocolVersion": PROTOCOL_VERSION,
                    "serverInfo": self.server_info,
                    "capabilities": {"tools": {}},
                    "peerId": self.server_info.get("peerId"),
                    "you": remote,
                    "trusted": await self.trust.is_trusted(remote),
                }
                initialized = True
            elif method == "ping":
                result = {}
            elif method.startswith("notifications/"):
                return None, initialized
            elif not initialized:
                raise RpcError(INITIALIZE_REQUIRED, "initialize first")
            elif method == "tools/list":
                await self._require_trust(remote)
                tools = await trio.to_thread.run_sync(_visible_tools, peer_principal(remote))
                result = {"tools": tools}
            elif method == "tools/call":
                await self._require_trust(remote)
                result = await self._call(params, remote, request_id)
            else:
                raise RpcError(METHOD_NOT_FOUND, f"method {method!r} not found")
        except RpcError as exc:
            return (None if is_notification else error_reply(request_id, exc)), initialized
        if is_notification:
            return None, initialized
        return {"jsonrpc": "2.0", "id": request_id, "result": result}, initialized

    async def _require_trust(self, remote: str) -> None:
        if not await self.trust.is_trusted(remote):
            raise RpcError(UNAUTHORIZED, f"peer {remote} is not trusted by this node")

    async def _call(self, params: dict[str, Any], remote: str, request_id: Any) -> dict[str, Any]:
        name = params.get("name") or params.get("tool")
        if not isinstance(name, str) or not name:
            raise RpcError(INVALID_PARAMS, "tools/call needs params.name")
        try:
            # A caller that traces sends its context in `_meta` (optional; absent otherwise).
            with tracing.continued(params.get("_meta")):
                result = await call_tool(
                    name,
                    params.get("arguments") or {},
                    peer_principal(remote),
                    "p2p",
                    request_id=f"p2p-{remote[-12:]}-{request_id}",
                )
        except CallError as exc:  # the code is the call path's table's
            data = exc.details if isinstance(exc, InvalidArguments | RateLimited) else None
            raise RpcError(exc.codes.p2p_code, exc.message, data) from None
        return result.to_mcp()


def _request_id(message: Any) -> Any:
    return message.get("id") if isinstance(message, dict) else None


async def _close_quietly(stream: INetStream) -> None:
    with trio.move_on_after(2):
        try:
            await stream.close()
        except Exception:
            with contextlib.suppress(Exception):
                await stream.reset()
