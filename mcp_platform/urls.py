from django.contrib import admin
from django.urls import path
from ninja.openapi.docs import Redoc

from mcp_platform.api import legacy_api, v2_api


def redoc(request):
    return Redoc().render_page(request, legacy_api)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v2/", v2_api.urls),
    path("redoc", redoc, name="redoc"),
    path("", legacy_api.urls),
]
