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
    """Queue a record; a background thread writes it (or `flush()` does)."""
    _pending.put(entry)
    _ensure_writer()


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


def _ensure_writer() -> None:
    global _writer
    interval = settings.MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS
    if interval <= 0 or (_writer is not None and _writer.is_alive()):
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
    _stop.set()
    if _writer is not None:
        _writer.join(timeout=10)
    flush()
