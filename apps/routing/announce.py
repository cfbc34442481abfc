"""Telling the runtimes that the routing version moved, once the change has committed.

Two channels, both best effort (the runtime also polls the version as a safety net): a control
call to this node's Trio runtime, and a Redis publish when REDIS_URL is set (every node's
runtime subscribes). Sending happens on one background thread that coalesces bursts, so a
commit never waits on the network.
"""

from __future__ import annotations

import logging
import threading

import httpx
from django.conf import settings

from apps.routing import shared_secret

logger = logging.getLogger(__name__)

REDIS_CHANNEL = "mcp_platform:routing_version"
CONTROL_TIMEOUT = 2.0

_latest = 0
_wake = threading.Event()
_lock = threading.Lock()
_thread: threading.Thread | None = None
_resident = False  # started by a lifespan: runs until stopped rather than until idle
_stopping = threading.Event()


def trio_base_url() -> str:
    host = settings.MCP_PLATFORM_HOST
    if host in {"0.0.0.0", "::", ""}:
        host = "127.0.0.1"
    return f"http://{host}:{settings.MCP_PLATFORM_TRIO_PORT}"


def routing_changed(version: int) -> None:
    """Queue an announcement of `version` (called on commit)."""
    global _latest
    with _lock:
        _latest = max(_latest, version)
    if _thread is None or not _thread.is_alive():
        _start_thread()  # a process with no lifespan: the thread lives while it has work
    _wake.set()


def start() -> None:
    """Start the announcer for the process's life (the web process's lifespan)."""
    global _resident
    _resident = True
    _start_thread()


def stop() -> None:
    """Send the last queued version, then stop the announcer."""
    global _resident, _thread
    _resident = False
    _stopping.set()
    _wake.set()
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        thread.join(timeout=2 * CONTROL_TIMEOUT + 1)
    _stopping.clear()


def _start_thread() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="routing-announcer", daemon=True)
            _thread.start()


def _run() -> None:
    sent = 0
    while True:
        if not _wake.wait(timeout=60) and not _resident:
            return  # idle: the next change starts a new thread
        _wake.clear()
        version = _latest
        if version > sent:
            send(version)
            sent = version
        if _stopping.is_set():
            return


def send(version: int) -> None:
    """Announce `version` now, on every configured channel; failures are logged, not raised."""
    try:
        httpx.post(
            f"{trio_base_url()}/internal/control/reload",
            json={"version": version},
            headers={"Authorization": f"Bearer {shared_secret.bridge_secret()}"},
            timeout=CONTROL_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        logger.debug("control call to the Trio runtime failed: %r", exc)
    if settings.REDIS_URL:
        try:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=CONTROL_TIMEOUT)
            try:
                client.publish(REDIS_CHANNEL, str(version))
            finally:
                client.close()
        except Exception as exc:  # Redis is optional; polling still converges
            logger.warning("could not publish routing version %d: %r", version, exc)
