"""The node as a whole, for the legacy operator routes: its statistics, a detailed health
report, and its caches (read and cleared)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import psutil
from django.conf import settings
from django.core.cache import caches
from django.db.models import Count, Q
from django.utils import timezone

from mcp_platform import health, legacy_metrics
from mcp_platform.errors import now_iso

# The caches an operator may clear: the routing table each process holds, and Django's cache
# (Redis when REDIS_URL is set, else this process's memory).
CACHE_TYPES = ("routing", "default")


def node_stats() -> dict[str, Any]:
    """Process, request, catalogue, call, queue and peer figures (ORM reads)."""
    from apps.peers.models import Peer
    from apps.taskqueue.selectors import queue_stats
    from apps.tools.models import Tool, ToolCall

    process = psutil.Process()
    with process.oneshot():
        system = {
            "pid": os.getpid(),
            "cpu_percent": process.cpu_percent(interval=None),
            "memory_percent": round(process.memory_percent(), 3),
            "memory_rss_bytes": process.memory_info().rss,
            "threads": process.num_threads(),
        }
    tools = Tool.objects.aggregate(
        total=Count("id"), enabled=Count("id", filter=Q(enabled=True, missing=False))
    )
    since = timezone.now() - timedelta(hours=1)
    calls = ToolCall.objects.filter(started_at__gte=since).aggregate(
        total=Count("id"), errors=Count("id", filter=~Q(outcome="success"))
    )
    return {
        "status": "success",
        "timestamp": now_iso(),
        "version": health.version(),
        "uptime_seconds": health.uptime_seconds(),
        "system": system,
        "requests": legacy_metrics.TALLY.snapshot(),
        "tools": {**tools, "categories": len(_categories())},
        "calls_last_hour": calls,
        "task_queue": queue_stats(),
        "peers": {
            "known": Peer.objects.count(),
            "connected": Peer.objects.filter(status="connected").count(),
        },
    }


def _categories() -> list[str]:
    from apps.tools.selectors import enabled_categories

    return enabled_categories()


def node_health() -> dict[str, Any]:
    """Every check of /health/ready, summed up as healthy, degraded or unhealthy."""
    ready, checks = health.readiness()
    degraded = any(c.get("status") not in ("up", "ok") for c in checks.values())
    return {
        "status": "unhealthy" if not ready else "degraded" if degraded else "healthy",
        "timestamp": now_iso(),
        "version": health.version(),
        "uptime_seconds": health.uptime_seconds(),
        "checks": checks,
    }


def cache_stats() -> dict[str, Any]:
    """What each cache holds, as far as its backend can tell."""
    from apps.routing.router import cache as routing_cache

    table = routing_cache._table  # read as is: asking for it would load it
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    default: dict[str, Any] = {"backend": backend}
    store = getattr(caches["default"], "_cache", None)
    if isinstance(store, dict):  # locmem: this process's entries
        default["entries"] = len(store)
    return {
        "status": "success",
        "timestamp": now_iso(),
        "caches": {
            "routing": {
                "loaded": table is not None,
                "version": table.version if table is not None else None,
                "scope": "process",
            },
            "default": {**default, "scope": "shared" if backend == "RedisCache" else "process"},
        },
    }


class UnknownCache(ValueError):
    """A cache type this node does not have."""


def clear_caches(*, cache_type: str | None = None) -> dict[str, Any]:
    """Clear one cache (or all of them, without `cache_type`); raises UnknownCache."""
    from apps.routing.router import cache as routing_cache

    chosen = [cache_type] if cache_type else list(CACHE_TYPES)
    unknown = [c for c in chosen if c not in CACHE_TYPES]
    if unknown:
        raise UnknownCache(f"Unknown cache_type '{unknown[0]}' (one of: {', '.join(CACHE_TYPES)})")
    if "routing" in chosen:
        routing_cache.clear()  # reloaded from the database on the next call
    if "default" in chosen:
        caches["default"].clear()
    return {"status": "success", "timestamp": now_iso(), "cleared": chosen}
