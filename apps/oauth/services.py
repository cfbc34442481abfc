"""OAuth access tokens as principals, bound to the resources they were granted for."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.db.models import QuerySet
from oauth2_provider.models import (
    get_access_token_model,
    get_refresh_token_model,
    revoke_access_token,
)
from oauth2_provider.oauth2_validators import validate_resource_as_url_prefix

from apps.access.principals import SCOPE_CALL, SCOPE_READ, Principal
from apps.access.services import AuthenticationFailed, scopes_for_user, toolset_patterns_of

# What an OAuth client may be granted: never `admin`, whoever signs in.
GRANTABLE_SCOPES = frozenset({SCOPE_READ, SCOPE_CALL})


def principal_for_access_token(secret: str) -> Principal:
    """The principal of an OAuth access token: its user, with the scopes both the token and the
    user have, bound to the token's resources. Raises AuthenticationFailed."""
    checksum = hashlib.sha256(secret.encode()).hexdigest()
    token = (
        get_access_token_model()
        .objects.select_related("user", "application")
        .filter(token_checksum=checksum)
        .first()
    )
    # Revoking deletes the token; an expired one stays until `cleartokens`.
    if token is None or token.is_expired():
        raise AuthenticationFailed("Invalid, expired or revoked token")
    user = token.user
    if user is None or not user.is_active:
        raise AuthenticationFailed("Token's user no longer exists or is inactive")
    scopes = set(token.scope.split()) & GRANTABLE_SCOPES & scopes_for_user(user)
    return Principal(
        name=f"user:{user.get_username()}",
        kind="oauth",
        scopes=frozenset(scopes),
        audiences=tuple(token.resource or ()),
        toolset_patterns=toolset_patterns_of(token.application) if token.application else None,
        valid_until=token.expires.timestamp(),  # the principal cache keeps it no longer
    )


def token_serves(principal: Principal, resource: str) -> bool:
    """Whether the principal's credential may be used at `resource` (an absolute URL): an OAuth
    token only at the resources it was granted for (RFC 8707); API tokens and JWTs anywhere."""
    if principal.kind != "oauth":
        return True
    return bool(principal.audiences) and validate_resource_as_url_prefix(
        resource, list(principal.audiences)
    )


@transaction.atomic
def revoke_client_tokens(*, clients: QuerySet) -> int:
    """Revoke every live token of the given OAuth clients (applications), the refresh tokens
    with their access tokens; how many access and refresh tokens were revoked. The clients
    stay registered: a user who signs in again gets new tokens."""
    refresh_tokens = get_refresh_token_model().objects.filter(
        application__in=clients, revoked__isnull=True
    )
    count = 0
    for refresh_token in refresh_tokens.select_for_update():
        refresh_token.revoke()  # and its access token
        count += 1
    for access_token in get_access_token_model().objects.filter(application__in=clients):
        revoke_access_token(access_token)
        count += 1
    return count
