"""The Trio runtime process: one `trio.run`, one nursery tree.

    serve_runtime
    ├── services (nursery)                 cancelled once the HTTP server has stopped
    │   ├── heartbeat writer               RuntimeInstance row every interval
    │   ├── routing reloader: poll         safety net for missed announcements
    │   ├── routing reloader: redis        when REDIS_URL is set
    │   ├── P2P (p2p/service.py)           libp2p host + peer manager, task-queue workers
    │   └── MCP endpoint (mcp_endpoint.py) its session managers; list_changed on reloads
    ├── threads, started before and stopped after the nurseries
    │   ├── version watcher                mcp_platform/versions.py
    │   └── call log + audit call writers  apps/tools/call_log.py, apps/audit/calls.py
    └── serving (nursery)
        ├── bridge socket                  <data dir>/trio-<port>.sock: the web processes'
        │                                  bridged calls, framed JSON (bridge_socket.py)
        ├── HTTP server (Hypercorn, trio)  /health, /internal/bridge/call, /internal/control/*,
        │                                  /mcp and its OAuth metadata (mcp_endpoint.mcp_mounts)
        └── stop on SIGTERM/SIGINT         refuse new calls, drain in-flight ones, stop HTTP

Stopping: a signal makes the runtime refuse new bridge calls (they fall back or fail without
having started) and claim no new queued tasks, waits for the calls and tasks in flight to
finish (up to the drain limit), then stops the HTTP server and cancels the services.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from functools import partial

import trio
from django.conf import settings
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from apps.audit import calls as audit_calls
from apps.routing import bridge_wire
from apps.tools import call_log
from mcp_platform import versions
from trio_runtime import heartbeat
from trio_runtime.app import build_app
from trio_runtime.bridge_socket import serve_bridge_socket
from trio_runtime.mcp_endpoint import mcp_mounts, serve_mcp
from trio_runtime.p2p.service import run_p2p
from trio_runtime.reloader import RoutingReloader
from trio_runtime.state import RuntimeState

logger = logging.getLogger("trio_runtime")


@dataclass(frozen=True)
class RuntimeConfig:
    host: str = "127.0.0.1"
    port: int = 8001
    heartbeat_seconds: float = 1.0
    poll_seconds: float = 2.0
    drain_seconds: float = 30.0
    redis_url: str = ""


def hypercorn_config(config: RuntimeConfig) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"{config.host}:{config.port}"]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")  # through our logging config, once
    hc.graceful_timeout = config.drain_seconds
    # Longer than the web side's keepalive_expiry: the client always closes idle connections
    # first, so a bridged request never meets a connection the server is closing.
    hc.keep_alive_timeout = 300
    return hc


async def stop_on_signal(
    state: RuntimeState, stop_http: trio.Event, *, drain_seconds: float, signals
) -> None:
    async for signum in signals:
        logger.info(
            "got %s: draining %d in-flight calls", signal.Signals(signum).name, state.in_flight
        )
        break
    state.status = "draining"
    await heartbeat.write_once(state)
    with trio.move_on_after(drain_seconds) as drained:
        await state.wait_idle()
    if drained.cancelled_caught:
        logger.warning(
            "%d calls still in flight after %gs; stopping anyway", state.in_flight, drain_seconds
        )
    stop_http.set()


async def serve_runtime(config: RuntimeConfig) -> None:
    state = RuntimeState(host=config.host, port=config.port)
    reloader = RoutingReloader(state)
    await reloader.reload(reason="start")
    # P2P, the runtime's /mcp and the task queue find principals and tools in the versioned
    # caches too; the watcher is a thread, stopped with the process.
    await trio.to_thread.run_sync(
        partial(versions.start_watching, interval=settings.MCP_PLATFORM_VERSION_POLL_SECONDS)
    )
    # The calls it runs (bridged, P2P, its /mcp) are recorded in batches off the call path.
    call_log.start()
    audit_calls.start()
    app = build_app(state, reloader, mounts=mcp_mounts())
    stop_http = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        try:
            async with trio.open_nursery() as services:
                services.start_soon(
                    partial(heartbeat.run_heartbeat, state, interval=config.heartbeat_seconds)
                )
                services.start_soon(partial(reloader.poll, interval=config.poll_seconds))
                if config.redis_url:
                    services.start_soon(reloader.listen_redis, config.redis_url)
                services.start_soon(run_p2p, state, reloader)
                services.start_soon(serve_mcp, state, reloader)
                async with trio.open_nursery() as serving:
                    # The web processes of this data directory bridge over the socket.
                    socket_path = await serving.start(
                        serve_bridge_socket,
                        state,
                        bridge_wire.socket_path(config.port),
                        stop_http.wait,
                    )
                    binds = await serving.start(
                        partial(
                            hypercorn_serve,
                            app,
                            hypercorn_config(config),
                            shutdown_trigger=stop_http.wait,
                        )
                    )
                    state.status = "up"
                    await heartbeat.write_once(state)
                    await heartbeat.retire_predecessors(state)
                    logger.info(
                        "Trio runtime up on %s (pid %d)",
                        ", ".join([*binds, *([f"unix:{socket_path}"] if socket_path else [])]),
                        state.pid,
                    )
                    serving.start_soon(
                        partial(
                            stop_on_signal,
                            state,
                            stop_http,
                            drain_seconds=config.drain_seconds,
                            signals=signals,
                        )
                    )
                services.cancel_scope.cancel()
        finally:
            state.status = "down"
            with trio.CancelScope(shield=True):
                await heartbeat.write_once(state)
                # The calls this runtime ran are on record before it goes (every exit path that
                # runs Python; a SIGKILL loses at most the last flush interval).
                await trio.to_thread.run_sync(call_log.stop)
                await trio.to_thread.run_sync(audit_calls.stop)
                await trio.to_thread.run_sync(versions.stop_watching)
    logger.info("Trio runtime stopped")


def run(config: RuntimeConfig) -> None:
    trio.run(serve_runtime, config)
