"""The shape of the tokens the OAuth server issues: prefixed, so a bearer names its kind."""

from __future__ import annotations

import secrets
from typing import Any

ACCESS_TOKEN_PREFIX = "mcpo_"
REFRESH_TOKEN_PREFIX = "mcpr_"


def new_access_token(request: Any, refresh_token: bool = False) -> str:
    """django-oauth-toolkit's ACCESS_TOKEN_GENERATOR."""
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token(request: Any, refresh_token: bool = True) -> str:
    """django-oauth-toolkit's REFRESH_TOKEN_GENERATOR."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
