"""Records queued in memory and written in batches by one background thread, never on the
caller's path: the call log (apps/tools/call_log.py), the audit trail's call events
(apps/audit/calls.py) and the tokens' `last_used_at` (apps/access/principal_cache.py) are each
one `BatchWriter`."""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 500


class BatchWriter(Generic[T]):
    """`put` queues; the writer thread (`start`, every `interval` seconds) or `flush` hands
    batches of at most MAX_BATCH to `write`. A batch `write` raises on is logged and dropped."""

    def __init__(
        self,
        *,
        name: str,
        what: str,
        write: Callable[[list[T]], None],
        keep_connection: bool = True,
        interval: float | None = None,
    ):
        self.name = name
        # Seconds between the thread's flushes; None: MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS.
        self._interval = interval
        self.what = what
        self._write = write
        # False for a writer that writes rarely: its thread closes its connection after each
        # batch instead of keeping one open for the process (CONN_MAX_AGE).
        self._keep_connection = keep_connection
        self._pending: queue.SimpleQueue[T] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._exit_flush_registered = False

    def put(self, entry: T) -> None:
        self._pending.put(entry)
        if self._thread is None:
            self._start_on_first_use()

    def flush(self) -> int:
        """Write everything queued now, in the calling thread; returns how many."""
        written = 0
        while True:
            batch: list[T] = []
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                return written
            try:
                self._write(batch)
                written += len(batch)
            except Exception:
                logger.exception("could not write %d %s; they are dropped", len(batch), self.what)

    def discard(self) -> None:
        """Forget everything queued (tests start with nothing of an earlier test's)."""
        while True:
            try:
                self._pending.get_nowait()
            except queue.Empty:
                return

    def start(self) -> None:
        """Start the writer thread (idempotent; none when its interval is 0). Started by the web
        process's lifespan (mcp_platform/asgi.py) and the Trio runtime's `serve_runtime`."""
        interval = self._interval
        if interval is None:
            interval = settings.MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS
        if interval <= 0:
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._loop, args=(interval,), name=self.name, daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the writer after a last flush."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        self.flush()

    def _start_on_first_use(self) -> None:
        # A process with no lifespan (a Celery worker, a command): the first record starts the
        # writer, and the process's exit writes what is left.
        self.start()
        if self._thread is not None and not self._exit_flush_registered:
            self._exit_flush_registered = True
            atexit.register(self.stop)

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if self.flush() and not self._keep_connection:
                connection.close()
            close_old_connections()
        self.flush()
        connection.close()  # the thread ends: its connection would outlive it otherwise
