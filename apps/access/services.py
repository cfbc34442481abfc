"""Tokens and logins: create API tokens, issue and check JWTs, authenticate bearers."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth import authenticate as django_authenticate
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.access.models import ApiToken, RefreshToken, TokenCutoff
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


@transaction.atomic
def revoke_api_tokens(*, tokens: Any) -> int:
    """Revoke the tokens of the `tokens` queryset not revoked yet; returns how many. Each is
    saved (not updated in bulk), so every process drops its cached principal of it."""
    revoked = 0
    # select_related(None): a lock cannot take in the nullable joins a listing may bring.
    for token in tokens.filter(revoked=False).select_related(None).select_for_update():
        token.revoked = True
        token.save(update_fields=["revoked"])
        revoked += 1
    return revoked


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
        toolset_patterns=toolset_patterns_of(token),
        token_id=token.pk,
        valid_until=token.expires_at.timestamp() if token.expires_at else None,
    )


def toolset_patterns_of(bound: Any) -> tuple[str, ...] | None:
    """The tools (names or globs) of the toolsets an API token or an OAuth client is bound to
    (its `toolsets` relation, apps.toolsets); None when bound to none."""
    if not bound.toolsets.exists():
        return None
    members = bound.toolsets.exclude(members=None).values_list("members__tool", flat=True)
    return tuple(sorted(set(members)))


def scopes_for_user(user: Any) -> frozenset[str]:
    if user.is_staff or user.is_superuser:
        return frozenset(ALL_SCOPES)
    return frozenset({SCOPE_READ, SCOPE_CALL})


def login(*, username: str, password: str, request: Any = None) -> dict[str, Any]:
    """Check the credentials against Django users and return the legacy login reply (with a
    refresh token beside the access token). `request` lets login throttling see who asks."""
    if not username or not password:
        raise AuthenticationFailed("Username and password are required")
    user = django_authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise AuthenticationFailed("Invalid username or password")
    return issue_jwt(user)


def _encode(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=JWT_ALGORITHM)


def issue_jwt(user: Any, *, family: str | None = None, session_expires_at: Any = None) -> dict:
    """An access token and a refresh token for `user`. `sub` is the username and `user_id` the
    id, as the legacy server minted them. `iat` has sub-second precision, so a token issued
    before a revocation (TokenCutoff) is told apart from one issued right after it.
    A refresh continues the login's `family` up to its `session_expires_at`."""
    now = timezone.now()
    ttl = settings.MCP_PLATFORM_JWT_TTL_SECONDS
    if session_expires_at is None:
        session_expires_at = now + timedelta(seconds=settings.MCP_PLATFORM_JWT_SESSION_SECONDS)
    refresh_expires_at = min(
        now + timedelta(seconds=settings.MCP_PLATFORM_JWT_REFRESH_TTL_SECONDS), session_expires_at
    )
    base = {"sub": user.get_username(), "user_id": user.pk, "iat": round(now.timestamp(), 6)}
    access = _encode(
        {**base, "typ": "access", "exp": int((now + timedelta(seconds=ttl)).timestamp())}
    )
    jti = secrets.token_hex(16)
    RefreshToken.objects.filter(user=user, session_expires_at__lt=now).delete()
    RefreshToken.objects.create(
        jti=jti,
        user=user,
        family=family or secrets.token_hex(16),
        expires_at=refresh_expires_at,
        session_expires_at=session_expires_at,
    )
    refresh = _encode(
        {**base, "typ": "refresh", "jti": jti, "exp": int(refresh_expires_at.timestamp())}
    )
    return {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "refresh_expires_in": max(0, int((refresh_expires_at - now).total_seconds())),
    }


def _verified_claims(token: str, *, typ: str) -> tuple[Any, dict[str, Any]]:
    """The active user and claims of a JWT signed with SECRET_KEY, of type `typ` (a token
    without `typ`, as the legacy minted them, is an access token), with `exp`, whose `sub` is
    an existing active user's name and which no revocation (TokenCutoff) came after."""
    try:
        claims = jwt.decode(
            token,
            settings.SECRET_KEY,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationFailed("Token has expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"Invalid token: {exc}") from exc
    if claims.get("typ", "access") != typ:
        raise AuthenticationFailed(f"Invalid token: typ must be '{typ}'")
    User = get_user_model()
    user = (
        User.objects.select_related("token_cutoff")
        .filter(**{User.USERNAME_FIELD: claims["sub"]}, is_active=True)
        .first()
    )
    # `user_id`, when present, must be this user's: a name reused by a new account does not
    # inherit the old account's tokens.
    if user is None or str(claims.get("user_id", user.pk)) != str(user.pk):
        raise AuthenticationFailed("Token's user does not exist or is inactive")
    try:
        not_before = user.token_cutoff.not_before.timestamp()
    except TokenCutoff.DoesNotExist:
        not_before = None
    issued = claims.get("iat")
    if not_before is not None and (not isinstance(issued, int | float) or issued < not_before):
        raise AuthenticationFailed(
            "Token was revoked: the user's password changed or the user was deactivated"
        )
    return user, claims


def _user_for_jwt(token: str) -> Any:
    """The user of an access token (see _verified_claims)."""
    return _verified_claims(token, typ="access")[0]


def refresh_jwt(token: str) -> dict[str, Any]:
    """New access and refresh tokens for a refresh token, which is used up: refresh tokens
    rotate. Presenting a used one again ends its whole login (a stolen copy is useless once
    either side has refreshed); the login's chain ends at its session lifetime."""
    user, claims = _verified_claims(token, typ="refresh")
    now = timezone.now()
    with transaction.atomic():
        row = RefreshToken.objects.select_for_update().filter(jti=str(claims.get("jti"))).first()
        if row is None or row.user_id != user.pk:
            raise AuthenticationFailed("Invalid token: unknown refresh token")
        reused = row.used_at is not None
        if reused:
            RefreshToken.objects.filter(family=row.family).update(
                used_at=now, session_expires_at=now
            )
        elif row.session_expires_at > now and row.expires_at > now:
            row.used_at = now
            row.save(update_fields=["used_at"])
            return issue_jwt(user, family=row.family, session_expires_at=row.session_expires_at)
    if reused:
        raise AuthenticationFailed("Refresh token was already used: log in again")
    raise AuthenticationFailed("Refresh token has expired: log in again")


def revoke_user_tokens(*, user: Any) -> None:
    """Refuse every JWT issued to `user` until now, and every refresh token it holds."""
    TokenCutoff.objects.update_or_create(user=user, defaults={"not_before": timezone.now()})
    RefreshToken.objects.filter(user=user).delete()


# Bearer formats that other apps serve (apps.oauth's access tokens), by token prefix: they
# register when their app is ready, so this app imports none of them.
_bearer_schemes: dict[str, Callable[[str], Principal]] = {}


def register_bearer_scheme(*, prefix: str, resolve: Callable[[str], Principal]) -> None:
    """Resolve bearer tokens that start with `prefix` with `resolve` (raises
    AuthenticationFailed), before API tokens' and JWTs' rules apply."""
    _bearer_schemes[prefix] = resolve


def authenticate_bearer(token: str) -> Principal:
    """The principal of a bearer token (API token, OAuth access token or JWT); raises
    AuthenticationFailed. The one function that resolves a bearer token: a principal cache wraps
    this."""
    token = token.strip()
    if not token:
        raise AuthenticationFailed("Missing bearer token")
    if token.startswith(TOKEN_PREFIX):
        return _principal_for_api_token(token)
    for prefix, resolve in _bearer_schemes.items():  # e.g. apps.oauth's access tokens
        if token.startswith(prefix):
            return resolve(token)
    return principal_for_user(_user_for_jwt(token))


def principal_for_user(user: Any, *, kind: str = "jwt") -> Principal:
    """A Django user as a caller: by a JWT, or signed in to the admin (`kind="admin"`)."""
    return Principal(name=f"user:{user.get_username()}", kind=kind, scopes=scopes_for_user(user))


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
    "principal_for_user",
    "refresh_jwt",
    "revoke_api_tokens",
]
