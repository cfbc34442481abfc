"""The framework floor of bench_rest.py: a bare django-ninja async app answering
`POST /tools/execute/echo` like the platform does, on the platform's own framework.

It checks the bearer token (an async `HttpBearer`), validates the body with a ninja `Schema` and
returns the legacy reply `{tool, status, result}`. No middleware, no installed apps, no database:
what Django + ninja cost before the platform adds anything, so the platform's ratio to it is what
the platform itself costs.

Served with `uvicorn bench.bare_ninja:app` (see common.uvicorn_command); the accepted token is
read from `BENCH_TOKEN`.
"""

from __future__ import annotations

import hmac
import os

import django
from django.conf import settings

EXPECTED_TOKEN = os.environ.get("BENCH_TOKEN", "").encode()

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ.get("BENCH_SECRET_KEY", "bench-only-not-secret-" * 3),
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from ninja import NinjaAPI, Schema  # noqa: E402
from ninja.security import HttpBearer  # noqa: E402


class BenchBearer(HttpBearer):
    async def authenticate(self, request, token: str) -> str | None:
        return token if hmac.compare_digest(token.encode(), EXPECTED_TOKEN) else None


class EchoIn(Schema):
    message: str


class EchoResult(Schema):
    message: str


class ExecuteOut(Schema):
    tool: str
    status: str
    result: EchoResult


api = NinjaAPI(title="bare ninja echo", docs_url=None, openapi_url=None)


@api.get("/health")
async def health(request) -> dict[str, str]:
    return {"status": "healthy"}


@api.post("/tools/execute/echo", auth=BenchBearer(), response=ExecuteOut)
async def execute_echo(request, body: EchoIn) -> dict:
    return {"tool": "echo", "status": "success", "result": {"message": body.message}}


urlpatterns = [path("", api.urls)]

app = get_asgi_application()
