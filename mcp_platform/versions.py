"""Versions that in-process caches are keyed by (the routing version's mechanism, generalised).

A `Version` is a counter row that every change of one kind bumps inside its own transaction
(routing: rules, settings and the catalogue; access: tokens and users). A process learns that
it moved in two ways:

- a change made in this process invalidates at once (`changed()`: now, and again when its
  transaction commits, so nothing loaded from before the commit survives it);
- a change made by any other process (another web worker, the Trio runtime, a management
  command) is seen by the watcher thread, which reads every version each `interval` seconds:
  one query per interval per process, never one per request. When the watcher falls behind
  (its last read older than `interval` + STALE_AFTER_SECONDS), stamps are read from the
  database again until it catches up: a change counts everywhere within `interval` +
  STALE_AFTER_SECONDS, a second at the default interval.

A process without a running watcher (tests, one-off commands, job workers) reads the version on
each `stamp()`: one small query, and still correct.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections, connection, transaction

logger = logging.getLogger(__name__)

Stamp = tuple[int, int]  # (the database's version, this process's local generation)

_versions: list[Version] = []
_watcher: threading.Thread | None = None
_stop = threading.Event()
_interval = 0.25
_last_poll = 0.0


class Version:
    def __init__(self, name: str, read: Callable[[], int]):
        self.name = name
        self._read = read
        self._seen: int | None = None  # what the watcher last read
        self._generation = 0  # bumped by changes made in this process
        _versions.append(self)

    def changed(self) -> None:
        """A change of this kind was made here: invalidate now and when it commits."""
        self._generation += 1
        if transaction.get_connection().in_atomic_block:
            transaction.on_commit(self._bump_generation)

    def _bump_generation(self) -> None:
        self._generation += 1

    def stamp_nowait(self) -> Stamp | None:
        """The current stamp without a query, or None when only a query can tell."""
        if self._seen is None or not watching():
            return None
        return (self._seen, self._generation)

    def stamp(self) -> Stamp:
        """The current stamp (blocking: reads the database when no watcher keeps it)."""
        known = self.stamp_nowait()
        if known is not None:
            return known
        generation = self._generation  # read before the database: a change in between shows
        return (self._read(), generation)

    def poll(self) -> None:
        self._seen = self._read()

    def observe(self, value: int) -> None:
        """A version read elsewhere in this process (the Trio runtime's reloader, which is
        told of a change before the watcher's next read): the caches follow it at once, so
        nothing announced as changed is served from before the change."""
        if self._seen is not None and value > self._seen:
            self._seen = value


# How late past its interval the watcher's last read may be before it is no longer trusted:
# a watcher held up (a slow database, a loaded machine) never lets a change be missed for
# longer than its interval and this, one second at the default interval.
STALE_AFTER_SECONDS = 0.75


def watching() -> bool:
    """Whether the watcher runs and read the versions recently (else stamps need a query)."""
    alive = _watcher is not None and _watcher.is_alive()
    return alive and time.monotonic() - _last_poll < _interval + STALE_AFTER_SECONDS


def start_watching(*, interval: float) -> None:
    """Start this process's watcher thread (idempotent): the web process, the Trio runtime."""
    global _watcher, _interval
    if _watcher is not None and _watcher.is_alive():
        return
    _interval = interval
    _stop.clear()
    _poll_all()  # the first stamps are known before the first request
    _watcher = threading.Thread(target=_watch, name="version-watcher", daemon=True)
    _watcher.start()


def stop_watching() -> None:
    global _watcher
    _stop.set()
    if _watcher is not None:
        _watcher.join(timeout=5)
    _watcher = None
    for version in _versions:
        version._seen = None


def _poll_all() -> None:
    global _last_poll
    try:
        for version in _versions:
            version.poll()
        _last_poll = time.monotonic()
    except Exception as exc:  # a database hiccup: stamps fall back to queries until it heals
        logger.warning("could not read the cache versions: %r", exc)
        close_old_connections()


def _watch() -> None:
    while not _stop.wait(_interval):
        _poll_all()
    connection.close()  # this thread's own connection ends with it
