"""The node's front page at `/`: what this node is and where to go from here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mcp_platform import health


def landing(request: HttpRequest) -> HttpResponse:
    """Public: names no secrets, only the node's identity and its entry points."""
    from apps.taskqueue.selectors import p2p_status
    from apps.tools.selectors import callable_tools

    try:
        tools, p2p = callable_tools().count(), p2p_status()
    except Exception:  # a page that says where to look must render even if the database is down
        tools, p2p = None, {"status": "unknown", "peer_id": None, "multiaddrs": []}
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,  # the admin's app list means nothing to a visitor
        "title": "MCP Platform",
        "version": health.version(),
        "uptime_seconds": health.uptime_seconds(),
        "mcp_url": request.build_absolute_uri("/mcp"),
        "tool_count": tools,
        "p2p": p2p,
    }
    return render(request, "landing.html", context)
