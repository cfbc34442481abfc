"""API versions: legacy paths point at their /api/v2/ successor; /api/v2/ says its version.

Legacy responses keep their status and body and gain `Deprecation` (RFC 9745) and
`Link: <...>; rel="successor-version"` when an /api/v2/ equivalent exists (checked against
the URLconf, so a successor appears here as soon as its endpoint does). Every /api/v2/
response carries `API-Version: 2`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

API_V2_PREFIX = "/api/v2/"
API_VERSION = "2"
# When the legacy surface was deprecated: the first release that served /api/v2/.
LEGACY_DEPRECATED_AT = datetime(2026, 1, 1, tzinfo=UTC)

# (legacy methods, legacy path, /api/v2/ successor). Only unambiguous successors: a template like
# /api/v2/tools/call would "resolve" as the tool named `call`.
SUCCESSORS: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = (
    (frozenset({"GET"}), re.compile(r"^/tools/list/?$"), "/api/v2/tools/"),
    (frozenset({"GET", "POST"}), re.compile(r"^/mcp/tools/list/?$"), "/api/v2/tools/"),
    (
        frozenset({"POST"}),
        re.compile(r"^/tools/execute/(?P<name>[^/]+)/?$"),
        "/api/v2/tools/{name}/call",
    ),
    (frozenset({"GET"}), re.compile(r"^/mcp/p2p/peers/?$"), "/api/v2/peers/"),
)


@functools.cache
def _serves(template: str) -> bool:
    """Whether the URLconf serves the successor template (checked once per process)."""
    try:
        resolve(template.format(name="tool-name"))
    except Resolver404:
        return False
    return True


def successor_of(method: str, path: str) -> str | None:
    """The /api/v2/ path that replaces a legacy request, if the platform serves one."""
    for methods, pattern, template in SUCCESSORS:
        match = pattern.match(path)
        if match is None or method not in methods:
            continue
        if _serves(template):
            names = {key: quote(value, safe="") for key, value in match.groupdict().items()}
            return template.format(**names)
    return None


def annotate(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if request.path.startswith(API_V2_PREFIX):
        response["API-Version"] = API_VERSION
        return response
    successor = successor_of(request.method or "GET", request.path)
    if successor is not None:
        response["Deprecation"] = f"@{int(LEGACY_DEPRECATED_AT.timestamp())}"
        response["Link"] = f'<{successor}>; rel="successor-version"'
    return response


class ApiVersionMiddleware:
    """Adds the API version headers; works under WSGI and ASGI without a thread hop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self._acall(request)
        return annotate(request, self.get_response(request))

    async def _acall(self, request: HttpRequest):
        response = await self.get_response(request)
        return annotate(request, response)
