"""The legacy operator routes: `/admin/stats`, `/admin/health` (served before the Django admin's
URLs), `/cache/stats` and `/cache/clear`. Bearer with the `admin` scope."""

from __future__ import annotations

import json

from django.http import HttpRequest
from ninja import Router

from apps.access.principals import SCOPE_ADMIN
from mcp_platform import node
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import ApiError, require_scope

node_router = Router(tags=["node (legacy)"])


def _text(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(f"{name} must be a string", 400)
    return value


@node_router.get("/admin/stats")
async def admin_stats(request: HttpRequest):
    """Process, requests, catalogue, calls of the last hour, task queue, peers."""
    require_scope(request.auth, SCOPE_ADMIN)
    return await run_blocking(node.node_stats)


@node_router.get("/admin/health")
async def admin_health(request: HttpRequest):
    """Every readiness check, summed up as healthy, degraded or unhealthy (always a 200:
    the report is the answer; /health/ready is the probe)."""
    require_scope(request.auth, SCOPE_ADMIN)
    return await run_blocking(node.node_health)


@node_router.get("/cache/stats")
async def cache_stats(request: HttpRequest):
    require_scope(request.auth, SCOPE_ADMIN)
    return await run_blocking(node.cache_stats)


@node_router.post("/cache/clear")
async def cache_clear(
    request: HttpRequest, cache_type: str | None = None, pattern: str | None = None
):
    """Clear `cache_type` (`routing` or `default`), or every cache. The legacy sent both as
    query parameters; a JSON body with the same keys works too."""
    require_scope(request.auth, SCOPE_ADMIN)
    if request.body and request.content_type == "application/json":
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(f"Malformed JSON body: {exc}", 400) from None
        if isinstance(body, dict):
            cache_type = cache_type or _text(body.get("cache_type"), "cache_type")
            pattern = pattern or _text(body.get("pattern"), "pattern")
    if pattern:
        raise ApiError("Clearing by pattern is not supported: clear a cache_type", 400)
    try:
        return await run_blocking(node.clear_caches, cache_type=cache_type)
    except node.UnknownCache as exc:
        raise ApiError(str(exc), 400) from None
