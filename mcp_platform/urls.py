from django.contrib import admin
from django.urls import include, path
from django.views import defaults
from ninja.openapi.docs import Redoc

from mcp_platform.api import legacy_api, v2_api
from mcp_platform.errors import error_response
from mcp_platform.landing import landing


def redoc(request):
    return Redoc().render_page(request, legacy_api)


def _is_page(request) -> bool:
    return request.path.startswith("/admin/") or "text/html" in request.headers.get("Accept", "")


def not_found(request, exception=None):
    """API clients get the legacy JSON error body; browsers get Django's page."""
    if _is_page(request):
        return defaults.page_not_found(request, exception)
    return error_response(f"Not found: {request.path}", 404)


def server_error(request):
    if _is_page(request):
        return defaults.server_error(request)
    return error_response("Internal server error", 500)


handler404 = not_found
handler500 = server_error

# The legacy operator routes under /admin/ (stats, health) must match before the Django admin's
# catch-all, which would answer them with a login redirect.
legacy_admin_routes = [p for p in legacy_api.urls[0] if str(p.pattern).startswith("admin/")]

urlpatterns = [
    path("", landing, name="landing"),
    *legacy_admin_routes,
    path("admin/", admin.site.urls),
    path("", include("apps.oauth.urls")),  # OAuth: /.well-known/*, /authorize, /token, /register
    path("", include("apps.peers.urls")),
    path("api/v2/", v2_api.urls),
    path("redoc", redoc, name="redoc"),
    path("", legacy_api.urls),
]
