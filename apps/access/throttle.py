"""Login throttling on django-axes: after AXES_FAILURE_LIMIT failed logins for a username or
from an address, logins are answered 429 with `Retry-After` for a cool-off that doubles with
each further failure (up to a cap). Lockouts are the admin's "Access attempts"; deleting one
there clears it."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, JsonResponse

from mcp_platform.errors import now_iso


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' backend for the logins made over HTTP (the admin, `/auth/login`), which
    always pass the request; a login without one (a script, `Client.login` in tests) has no
    address or form to throttle, so it is left to the next backend."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def _failures(request: HttpRequest | None) -> int:
    """The most failures recorded for this request's username or address (0 if unknown)."""
    if request is None:
        return 0
    from axes.helpers import get_client_username
    from axes.models import AccessAttempt
    from django.db.models import Max, Q

    username = get_client_username(request, getattr(request, "axes_credentials", None))
    address = getattr(request, "axes_ip_address", None)
    if not username and not address:
        return 0
    match = Q()
    if username:
        match |= Q(username=username)
    if address:
        match |= Q(ip_address=address)
    worst = AccessAttempt.objects.filter(match).aggregate(m=Max("failures_since_start"))["m"]
    return worst or 0


def cool_off(request: HttpRequest | None = None) -> timedelta:
    """AXES_COOLOFF_TIME: the base cool-off, doubled for every failure past the limit."""
    base = settings.MCP_PLATFORM_LOGIN_COOLOFF_SECONDS
    excess = max(0, _failures(request) - settings.AXES_FAILURE_LIMIT)
    seconds = min(base * 2 ** min(excess, 20), settings.MCP_PLATFORM_LOGIN_COOLOFF_MAX_SECONDS)
    return timedelta(seconds=seconds)


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> JsonResponse:
    """AXES_LOCKOUT_CALLABLE: the platform's error body, 429, and when to try again."""
    retry_after = max(1, math.ceil(cool_off(request).total_seconds()))
    response = JsonResponse(
        {
            "error": f"Too many failed logins: try again in {retry_after} seconds",
            "status_code": 429,
            "timestamp": now_iso(),
            "retry_after": retry_after,
        },
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response
