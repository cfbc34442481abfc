"""The bridge's framing on the node's Unix domain socket, shared by both ends.

The web process reaches its node's Trio runtime over a Unix socket in the data directory
(`socket_path`), with a lean protocol instead of HTTP: each message is a frame, a 4-byte
big-endian length and that many bytes of JSON (an object). The HTTP endpoint
(`/internal/bridge/call`) stays for what cannot use the socket (a web process on another data
directory, a client on Trio, a person with curl); both carry the same call and answer the same
way, and the runtime handles both with the same function.

A connection carries one call at a time and is kept open between calls:

    web → runtime   {"type": "hello", "secret": ...}     first frame of a connection; no reply
                                                         unless refused (status 401, then closed)
    web → runtime   {"type": "call", "trace": {...}, ...the HTTP endpoint's JSON body: plan,
                    arguments, principal, via, request_id, deadline, askable (the questions the
                    caller can take), escalate (the call may go on as an MCP task)}
    runtime → web   {"type": "note", "kind": "log", "level", "data", "logger"}
                    {"type": "note", "kind": "progress", "progress", "total", "message"}
                    {"type": "note", "kind": "ask", "id", "key", "method", "params"}
                                                         while its call runs, any number: the
                                                         tool's log entries, progress and
                                                         questions to its caller
    web → runtime   {"type": "answer", "id", ...}        a question's reply, put to the call's
                                                         asker (interaction.answer_note)
    runtime → web   {"status": <the HTTP endpoint's status>, "body": <its JSON body: the
                    ToolResult, with input_required or continued_as_task when the tool's
                    questions ended the call or it went on as a task>}
    web → runtime   {"type": "cancel"}                   while its call runs: stop it

A connection closed by the web side while its call runs stops the call ("the caller went
away"), as a dropped HTTP connection does. Notes travel on the socket only: a call over HTTP
runs without them (its tool's log entries stay in the runtime's log, and it cannot ask). The
hello is written together with the first call, so a new connection costs no extra round trip.
"""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

from django.conf import settings

HEADER = struct.Struct(">I")
# Arguments and results travel whole: the limit stops a corrupt length, not a real call.
MAX_FRAME = 64 * 1024 * 1024
# sun_path holds 108 bytes with its terminating NUL on Linux (104 on the BSDs and macOS).
MAX_PATH_BYTES = 103


class FrameError(Exception):
    """A frame that is not a length and a JSON object of that length."""


def socket_path(port: int | None = None) -> Path | None:
    """Where this node's Trio runtime listening on `port` serves the bridge; None when the
    socket is turned off (`MCP_PLATFORM_BRIDGE_SOCKET`) or the path would be too long for a
    Unix socket (the HTTP endpoint serves then)."""
    if not settings.MCP_PLATFORM_BRIDGE_SOCKET:
        return None
    port = settings.MCP_PLATFORM_TRIO_PORT if port is None else port
    path = settings.DATA_DIR / f"trio-{port}.sock"
    if len(str(path).encode()) > MAX_PATH_BYTES:
        return None
    return path


def encode(message: dict[str, Any]) -> bytes:
    """A frame: the length, then the JSON (compact, UTF-8, no NaN: what HTTP's JSON allowed)."""
    data = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    payload = data.encode()
    if len(payload) > MAX_FRAME:
        raise FrameError(f"a frame of {len(payload)} bytes is over the {MAX_FRAME} limit")
    return HEADER.pack(len(payload)) + payload


def length(header: bytes) -> int:
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise FrameError(f"a frame of {size} bytes is over the {MAX_FRAME} limit")
    return size


def decode(payload: bytes) -> dict[str, Any]:
    try:
        message = json.loads(payload)
    except ValueError as exc:
        raise FrameError(f"a frame that is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError(f"a frame is a JSON object, not {type(message).__name__}")
    return message


async def read_frame(
    reader: asyncio.StreamReader, *, limit: int = MAX_FRAME
) -> dict[str, Any] | None:
    """The next message from an asyncio stream (at most `limit` bytes), or None when the other
    side closed the connection between frames. (The Trio side reads with its own `Frames`.)"""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise EOFError("the connection closed inside a frame") from None
        return None
    size = length(header)
    if size > limit:
        raise FrameError(f"a frame of {size} bytes where {limit} at most fit")
    return decode(await reader.readexactly(size))
