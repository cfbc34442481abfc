"""Tokens and logins: create API tokens, issue and check JWTs, authenticate bearers."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth import authenticate as django_authenticate
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.access.models import ApiToken
from apps.access.principals import (
    ALL_SCOPES,
    SCOPE_ADMIN,
    SCOPE_CALL,
    SCOPE_READ,
    Principal,
)

TOKEN_PREFIX = "mcpp_"
JWT_ALGORITHM = "HS256"


class AuthenticationFailed(Exception):
    """Credentials are missing, wrong, expired or revoked."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}: expected some of {list(ALL_SCOPES)}")
    return sorted(set(scopes))


def create_api_token(
    *,
    name: str,
    scopes: list[str],
    allowed_tools: str = "",
    expires_at: datetime | None = None,
    created_by: Any = None,
    token: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create (or fill in the unsaved `token`) and return it with its secret, shown only once."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = token or ApiToken()
    token.name = name
    token.scopes = validate_scopes(scopes)
    token.allowed_tools = allowed_tools
    token.expires_at = expires_at
    token.created_by = created_by
    token.prefix = secret[: len(TOKEN_PREFIX) + 6]
    token.token_hash = _hash(secret)
    token.save()
    return token, secret


def _principal_for_api_token(secret: str) -> Principal:
    token = ApiToken.objects.filter(token_hash=_hash(secret)).first()
    if token is None or not token.is_active:
        raise AuthenticationFailed("Invalid, expired or revoked token")
    # `last_used_at` is written by the principal cache, off the request (token_id).
    return Principal(
        # The prefix makes the name unique: token names are labels, and two may be alike.
        name=f"token:{token.name}:{token.prefix}",
        kind="token",
        scopes=frozenset(token.scopes),
        tool_patterns=token.tool_patterns,
        token_id=token.pk,
        valid_until=token.expires_at.timestamp() if token.expires_at else None,
    )


def scopes_for_user(user: Any) -> frozenset[str]:
    if user.is_staff or user.is_superuser:
        return frozenset(ALL_SCOPES)
    return frozenset({SCOPE_READ, SCOPE_CALL})


def login(*, username: str, password: str) -> dict[str, Any]:
    """Check the credentials against Django users and return the legacy login reply."""
    if not username or not password:
        raise AuthenticationFailed("Username and password are required")
    user = django_authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise AuthenticationFailed("Invalid username or password")
    return issue_jwt(user)


def issue_jwt(user: Any) -> dict[str, Any]:
    ttl = settings.MCP_PLATFORM_JWT_TTL_SECONDS
    now = timezone.now()
    claims = {
        "sub": str(user.pk),
        "username": user.get_username(),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "typ": "access",
    }
    token = jwt.encode(claims, settings.SECRET_KEY, algorithm=JWT_ALGORITHM)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


def _user_for_jwt(token: str) -> Any:
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[JWT_ALGORITHM])
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationFailed("Token has expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed("Invalid token") from exc
    user = get_user_model().objects.filter(pk=claims.get("sub"), is_active=True).first()
    if user is None:
        raise AuthenticationFailed("Token's user no longer exists or is inactive")
    return user


def refresh_jwt(token: str) -> dict[str, Any]:
    """A fresh JWT for the user of a still-valid one."""
    return issue_jwt(_user_for_jwt(token))


def authenticate_bearer(token: str) -> Principal:
    """The principal of a bearer token (API token or JWT); raises AuthenticationFailed."""
    token = token.strip()
    if not token:
        raise AuthenticationFailed("Missing bearer token")
    if token.startswith(TOKEN_PREFIX):
        return _principal_for_api_token(token)
    user = _user_for_jwt(token)
    return Principal(name=f"user:{user.get_username()}", kind="jwt", scopes=scopes_for_user(user))


def anonymous_principal() -> Principal:
    """The caller without a token: no scopes unless the operator opened some."""
    return Principal(
        name="anonymous", kind="anonymous", scopes=frozenset(settings.MCP_PLATFORM_ANONYMOUS_SCOPES)
    )


def authenticate_authorization_header(header: str | None) -> Principal:
    """The principal for an `Authorization` header value (absent → anonymous)."""
    if not header:
        return anonymous_principal()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthenticationFailed("Authorization must use the Bearer scheme")
    return authenticate_bearer(token)


__all__ = [
    "SCOPE_ADMIN",
    "SCOPE_CALL",
    "SCOPE_READ",
    "AuthenticationFailed",
    "authenticate_authorization_header",
    "authenticate_bearer",
    "create_api_token",
    "login",
    "refresh_jwt",
]
