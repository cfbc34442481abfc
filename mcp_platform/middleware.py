"""Middleware of the API paths (REST legacy paths, /api/v2): async-native, so a request whose
view is async never leaves the event loop. Sessions, CSRF, messages and Django's auth are not
on these paths: the API authenticates bearer tokens itself (mcp_platform.api)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.urls import Resolver404, resolve


class ApiResponseMiddleware:
    """What SecurityMiddleware and CommonMiddleware do for an API reply: `nosniff` and the
    referrer policy, and the redirect of a path missing its trailing slash (APPEND_SLASH)."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        if response.status_code == 404 and request.method in ("GET", "HEAD"):
            redirect = _with_slash(request)
            if redirect is not None:
                response = HttpResponsePermanentRedirect(redirect)
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if settings.SECURE_REFERRER_POLICY:
            response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        return response


def _with_slash(request: HttpRequest) -> str | None:
    if not settings.APPEND_SLASH or request.path_info.endswith("/"):
        return None
    try:
        resolve(f"{request.path_info}/")
    except Resolver404:
        return None
    query = request.META.get("QUERY_STRING", "")
    return f"{request.path}/" + (f"?{query}" if query else "")
