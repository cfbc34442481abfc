"""`/mcp+p2p/1.0.0` frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON."""

from __future__ import annotations

import json
import struct
from typing import Any

from libp2p.abc import INetStream
from libp2p.network.stream.exceptions import StreamEOF

PROTOCOL_ID = "/mcp+p2p/1.0.0"
MAX_FRAME_BYTES = 1024 * 1024  # inbound frames above this are refused (legacy limit)
HEADER = struct.Struct(">I")
MAX_NESTING = 64  # arrays/objects in a frame nest at most this deep


class FrameTooLarge(Exception):
    def __init__(self, length: int, limit: int):
        super().__init__(f"frame of {length} bytes exceeds the limit of {limit} bytes")
        self.length, self.limit = length, limit


class BadFrame(Exception):
    """A frame whose body is not UTF-8 JSON."""


async def read_exactly(stream: INetStream, n: int) -> bytes:
    """`stream.read(n)` returns up to n bytes: loop until there are n. Raises StreamEOF."""
    buffer = bytearray()
    while len(buffer) < n:
        chunk = await stream.read(n - len(buffer))
        if not chunk:
            raise StreamEOF("empty read")
        buffer += chunk
    return bytes(buffer)


async def read_frame(stream: INetStream, *, limit: int = MAX_FRAME_BYTES) -> Any:
    """The next frame's JSON value; raises StreamEOF, FrameTooLarge (before reading the body)
    or BadFrame."""
    (length,) = HEADER.unpack(await read_exactly(stream, HEADER.size))
    if length > limit:
        raise FrameTooLarge(length, limit)
    body = await read_exactly(stream, length)
    return decode_frame_body(body)


def decode_frame_body(body: bytes) -> Any:
    """A frame body's JSON value; raises BadFrame for anything else, including nesting deeper
    than MAX_NESTING (the parser would otherwise recurse until RecursionError)."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadFrame(f"frame is not UTF-8 JSON: {str(exc)[:200]}") from None
    if not _nested_within(message, MAX_NESTING):
        raise BadFrame(f"frame is nested deeper than {MAX_NESTING} levels")
    return message


def _nested_within(value: Any, limit: int) -> bool:
    """Whether arrays and objects in `value` nest at most `limit` deep (iteratively)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return True


def encode_frame(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
    return HEADER.pack(len(body)) + body


async def write_frame(stream: INetStream, message: Any) -> None:
    await stream.write(encode_frame(message))
