"""The call log: records are queued in memory and written in batches, never on the call path."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

MAX_BATCH = 500


@dataclass(frozen=True)
class CallRecord:
    tool_name: str
    runtime: str
    caller: str
    via: str
    request_id: str
    started_at: datetime
    duration_ms: float
    outcome: str
    error: str = ""
    attempts: int = 1
    fallback: bool = False
    pid: int | None = None


_pending: queue.SimpleQueue[CallRecord] = queue.SimpleQueue()
_writer: threading.Thread | None = None
_writer_lock = threading.Lock()
_stop = threading.Event()


def record(entry: CallRecord) -> None:
    """Queue a record; the writer thread writes it (or `flush()` does)."""
    _pending.put(entry)
    if _writer is None:  # a process with no lifespan (a Celery worker, a command): first use
        start(interval=settings.MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS)


def flush() -> int:
    """Write every queued record now, in the calling thread; returns how many."""
    from apps.tools.models import ToolCall

    written = 0
    while True:
        batch: list[CallRecord] = []
        while len(batch) < MAX_BATCH:
            try:
                batch.append(_pending.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return written
        try:
            ToolCall.objects.bulk_create([ToolCall(**asdict(entry)) for entry in batch])
            written += len(batch)
        except Exception:
            logger.exception("could not write %d call records; they are dropped", len(batch))


def start(*, interval: float) -> None:
    """Start the writer thread (idempotent; none when `interval` <= 0). Started by the web
    process's lifespan (mcp_platform/asgi.py) and the Trio runtime's `serve_runtime`."""
    global _writer
    if interval <= 0:
        return
    with _writer_lock:
        if _writer is None or not _writer.is_alive():
            _stop.clear()
            _writer = threading.Thread(
                target=_write_loop, args=(interval,), name="call-log-writer", daemon=True
            )
            _writer.start()


def _write_loop(interval: float) -> None:
    while not _stop.wait(interval):
        flush()
        close_old_connections()
    flush()


def stop() -> None:
    """Stop the writer after a last flush (called at shutdown)."""
    global _writer
    _stop.set()
    with _writer_lock:
        writer, _writer = _writer, None
    if writer is not None:
        writer.join(timeout=10)
    flush()
