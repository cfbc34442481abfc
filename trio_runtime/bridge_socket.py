"""The bridge on the node's Unix domain socket: the web processes' trio-routed calls without
HTTP (the protocol: apps/routing/bridge_wire.py).

Each call is served by `app.serve_bridge_call`, the same function as the HTTP endpoint's, so
the two carry the same calls with the same answers; only the framing differs. The socket is
created private (0600, in the 0700 data directory), and a connection must still open with the
node's shared secret. Started before the runtime reports itself up, stopped with the HTTP
server (after the calls in flight have drained).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import stat
from functools import partial
from pathlib import Path
from typing import Any

import trio

from apps.routing import bridge_wire, shared_secret
from trio_runtime.app import refusal, serve_bridge_call
from trio_runtime.state import RuntimeState

logger = logging.getLogger(__name__)

BACKLOG = 128
READ_SIZE = 65536
HELLO_MAX_BYTES = 4096
HELLO_SECONDS = 10.0


class Frames:
    """Frames in and out of one connection. A read cancelled half way keeps what it read."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.sending = trio.Lock()  # a tool's notes (perhaps from several tasks) and the answer

    async def send(self, frame: bytes) -> None:
        async with self.sending:
            await self.stream.send_all(frame)

    async def _fill(self, size: int) -> bool:
        while len(self.buffer) < size:
            chunk = await self.stream.receive_some(READ_SIZE)
            if not chunk:
                if self.buffer:
                    raise bridge_wire.FrameError("the connection closed inside a frame")
                return False
            self.buffer += chunk
        return True

    async def receive(self, *, limit: int = bridge_wire.MAX_FRAME) -> dict[str, Any] | None:
        """The next message (at most `limit` bytes); None when the other side closed the
        connection between frames."""
        if not await self._fill(bridge_wire.HEADER.size):
            return None
        size = bridge_wire.length(bytes(self.buffer[: bridge_wire.HEADER.size]))
        if size > limit:
            raise bridge_wire.FrameError(f"a frame of {size} bytes where {limit} at most fit")
        end = bridge_wire.HEADER.size + size
        if not await self._fill(end):
            raise bridge_wire.FrameError("the connection closed inside a frame")
        payload = bytes(self.buffer[bridge_wire.HEADER.size : end])
        del self.buffer[:end]
        return bridge_wire.decode(payload)


async def _answer(frames: Frames, status: int, body: dict[str, Any]) -> None:
    try:
        frame = bridge_wire.encode({"status": status, "body": body})
    except (TypeError, ValueError, bridge_wire.FrameError) as exc:
        # A result JSON cannot carry: the call ran, so this is not a refusal.
        logger.error("a bridged call's answer cannot be sent: %r", exc)
        frame = bridge_wire.encode({"status": 500, "body": {"error": "unencodable result"}})
    await frames.send(frame)


class _CallTraffic:
    """What crosses one connection while its call runs, besides the answer: the tool's notes
    (log entries, progress, questions) out; the answers to its questions, or a cancel, in."""

    def __init__(self, frames: Frames) -> None:
        self.frames = frames
        self.waiting: dict[int, trio.MemorySendChannel[dict[str, Any]]] = {}
        self.numbers = itertools.count(1)

    async def note(self, note: dict[str, Any]) -> None:
        """A note to the caller. One that JSON cannot carry, or that finds the caller gone, is
        dropped: the tool goes on (and is stopped by `gone` when the caller went away)."""
        try:
            await self.frames.send(bridge_wire.encode({"type": "note", **note}))
        except (TypeError, ValueError, bridge_wire.FrameError) as exc:
            logger.warning("a bridged tool's note cannot be sent: %r", exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def ask(self, question: dict[str, Any]) -> dict[str, Any]:
        """Put a question to the caller (a note of kind "ask"), and wait for its reply
        (interaction.answer_note's)."""
        number = next(self.numbers)
        into, replies = trio.open_memory_channel[dict[str, Any]](1)
        self.waiting[number] = into
        try:
            frame = bridge_wire.encode({"type": "note", "kind": "ask", "id": number, **question})
            await self.frames.send(frame)
            return await replies.receive()
        except (TypeError, ValueError, bridge_wire.FrameError) as exc:
            return {"invalid": f"the question cannot be sent: {exc}"}
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return {"unavailable": "the caller went away"}
        finally:
            del self.waiting[number]

    async def gone(self) -> str:
        """Reads the connection while the call runs: hands each answer to its question, and
        returns when the caller cancels the call or closes the connection."""
        while True:
            try:
                message = await self.frames.receive()
            except (bridge_wire.FrameError, trio.BrokenResourceError):
                message = None
            kind = message.get("type") if message is not None else None
            if kind == "answer":
                waiting = self.waiting.get(message.get("id"))  # none: a question given up on
                if waiting is not None:
                    with contextlib.suppress(trio.WouldBlock):
                        waiting.send_nowait(message)
                continue
            if kind == "cancel":
                return "cancelled by the caller"
            return "the caller went away"  # closed, or broke the protocol (then closed below)


async def serve_connection(state: RuntimeState, stream: trio.SocketStream) -> None:
    """One web-side connection: the hello, then calls one at a time until it closes."""
    frames = Frames(stream)
    try:
        # Before the secret, a connection gets little: a short frame, soon.
        hello = None
        with trio.move_on_after(HELLO_SECONDS):
            hello = await frames.receive(limit=HELLO_MAX_BYTES)
        if hello is None:
            return
        if hello.get("type") != "hello" or not shared_secret.is_secret(hello.get("secret")):
            await _answer(frames, 401, refusal("bad or missing bridge secret"))
            return
        while True:
            message = await frames.receive()
            if message is None:
                return
            kind = message.get("type")
            if kind in ("cancel", "answer"):
                continue  # it crossed the answer of the call it meant: that call is over
            if kind != "call":
                await _answer(frames, 400, refusal(f"unknown bridge message {kind!r}"))
                return
            traffic = _CallTraffic(frames)
            status, body = await serve_bridge_call(
                state,
                message,
                trace=message.get("trace") if isinstance(message.get("trace"), dict) else None,
                caller_gone=traffic.gone,
                notify=traffic.note,
                ask=traffic.ask,
            )
            await _answer(frames, status, body)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the web process went away; a call it left was stopped and recorded
    except bridge_wire.FrameError as exc:
        logger.warning("bridge socket: %s; closing the connection", exc)
    except Exception:
        logger.exception("bridge socket connection failed")
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


def _remove_stale(path: Path) -> None:
    """A socket left by an earlier runtime (killed before it could remove it)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()


def _inode(path: Path) -> int:
    return path.stat().st_ino


def _remove_if_ours(path: Path, identity: int) -> None:
    """Remove the socket unless a successor already replaced it."""
    with contextlib.suppress(OSError):
        if path.stat().st_ino == identity:
            path.unlink()


async def serve_bridge_socket(
    state: RuntimeState,
    path: Path | None,
    shutdown_trigger: Any,
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the bridge on the Unix socket `path` until `shutdown_trigger()` returns. Reports
    the path it serves (None: none, the HTTP endpoint alone serves) as started."""
    if path is None:
        task_status.started(None)
        return
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        _remove_stale(path)
        await sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        logger.warning(
            "no bridge socket at %s (%r): the bridge is served over HTTP only", path, exc
        )
        task_status.started(None)
        return
    identity = _inode(path)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                partial(
                    trio.serve_listeners,
                    partial(serve_connection, state),
                    [trio.SocketListener(sock)],
                    handler_nursery=nursery,
                )
            )
            task_status.started(path)
            await shutdown_trigger()
            nursery.cancel_scope.cancel()
    finally:
        _remove_if_ours(path, identity)
