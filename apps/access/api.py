"""Legacy login endpoints: JWTs checked against real Django users."""

from __future__ import annotations

import json

from django.http import HttpRequest
from ninja import Router, Schema

from apps.access import services
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import Unauthorized

legacy_router = Router(tags=["auth (legacy)"], auth=None)


class LoginIn(Schema):
    username: str
    password: str


class TokenOut(Schema):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class RefreshIn(Schema):
    refresh_token: str = ""


@legacy_router.post("/auth/login", response=TokenOut)
async def login(request: HttpRequest, payload: LoginIn):
    try:
        return await run_blocking(
            services.login, username=payload.username, password=payload.password, request=request
        )
    except services.AuthenticationFailed as exc:
        raise Unauthorized(str(exc)) from None


def _refresh_token_in(request: HttpRequest) -> str:
    """The refresh token from the JSON body (`refresh_token`), else the bearer token: legacy
    clients send no body."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = None
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if isinstance(token, str) and token:
        return token
    scheme, _, bearer = (request.headers.get("Authorization") or "").partition(" ")
    return bearer.strip() if scheme.lower() == "bearer" else ""


@legacy_router.post(
    "/auth/refresh",
    response=TokenOut,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": RefreshIn.model_json_schema()}},
        }
    },
)
async def refresh(request: HttpRequest):
    """Rotate a refresh token (in the body, or as the bearer token): new access and refresh
    tokens; the one presented is used up. An access token is refused."""
    token = _refresh_token_in(request)
    if not token:
        raise Unauthorized("Missing refresh token")
    try:
        return await run_blocking(services.refresh_jwt, token)
    except services.AuthenticationFailed as exc:
        raise Unauthorized(str(exc)) from None
