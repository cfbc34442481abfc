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


def readiness() -> tuple[bool, dict]:
    """Whether this process can serve, and each check's report."""
    from apps.routing.selectors import runtimes_check

    checks = {"database": check_database(), "runtimes": runtimes_check()}
    # A non-critical check (the Trio runtime: calls fall back or fail cleanly) is reported
    # without making this process unready.
    ready = all(c["status"] == "up" for c in checks.values() if c.get("critical", True))
    return ready, checks


def version() -> str:
    return mcp_platform.__version__
