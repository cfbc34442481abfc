"""Every request acts as its caller: the admin's signed-in user, or the API's principal
(known once the endpoint has authenticated it), from the client's address."""

from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from apps.audit.context import acting_as
from apps.audit.models import Origin


def request_actor_name(request: HttpRequest) -> str:
    principal = getattr(request, "auth", None)
    if principal is not None and getattr(principal, "name", None):
        return principal.name
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.get_username()}"
    return "anonymous"


def _acting(request: HttpRequest):
    # Bearer requests are API calls, even the legacy ones under /admin/ (stats, health).
    bearer = "Authorization" in request.headers
    origin = Origin.ADMIN if request.path.startswith("/admin/") and not bearer else Origin.API
    return acting_as(
        lambda: request_actor_name(request),
        origin=origin,
        source=request.META.get("REMOTE_ADDR", "")[:200],
    )


class AuditActorMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self._acall(request)
        with _acting(request):
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        with _acting(request):
            return await self.get_response(request)
