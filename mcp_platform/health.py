"""Liveness and readiness of this process."""

from __future__ import annotations

import time

from django.db import connection

import mcp_platform

STARTED = time.time()


def uptime_seconds() -> float:
    return round(time.time() - STARTED, 3)


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "up", "vendor": connection.vendor}
    except Exception as exc:  # the check reports, never raises
        return {"status": "down", "error": str(exc)}


def legacy_checks() -> dict:
    """The checks the legacy server reported (`metrics_collector`, `tool_manager` with its
    number of categories), in its words: ok, warning or error. They inform; readiness is
    decided by the platform's own checks."""
    from apps.tools.selectors import enabled_categories

    checks: dict = {"metrics_collector": {"status": "ok", "uptime_seconds": uptime_seconds()}}
    try:
        categories = len(enabled_categories())
        checks["tool_manager"] = {
            "status": "ok" if categories else "warning",
            "categories": categories,
        }
    except Exception as exc:  # the check reports, never raises
        checks["tool_manager"] = {"status": "error", "categories": 0, "error": str(exc)}
    return checks


def readiness() -> tuple[bool, dict]:
    """Whether this process can serve, and each check's report (the platform's, then the
    legacy keys)."""
    from apps.routing.selectors import runtimes_check

    checks = {"database": check_database(), "runtimes": runtimes_check()}
    # A non-critical check (the Trio runtime: calls fall back or fail cleanly) is reported
    # without making this process unready.
    ready = all(c["status"] == "up" for c in checks.values() if c.get("critical", True))
    return ready, {**checks, **legacy_checks()}


def version() -> str:
    return mcp_platform.__version__
