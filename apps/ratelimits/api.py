"""REST endpoints of rate limits: /api/v2/rate-limits (admin scope). Thin: each calls a
service or a selector."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status

from apps.access.principals import SCOPE_ADMIN
from apps.ratelimits import selectors, services
from apps.ratelimits.models import RateLimit
from apps.ratelimits.schemas import RateLimitIn, RateLimitOut, RateLimitPatchIn
from mcp_platform.errors import ApiError, invalid_input, require_scope

router = Router(tags=["rate limits"])


def _row(limit_id: int) -> RateLimit:
    row = selectors.rate_limits().filter(pk=limit_id).first()
    if row is None:
        raise ApiError(f"Rate limit {limit_id} not found", 404)
    return row


@router.get("", response=list[RateLimitOut])
def list_rate_limits(request: HttpRequest):
    require_scope(request.auth, SCOPE_ADMIN)
    return list(selectors.rate_limits())


@router.post("", response={201: RateLimitOut})
def create_rate_limit(request: HttpRequest, payload: RateLimitIn):
    require_scope(request.auth, SCOPE_ADMIN)
    try:
        return Status(201, services.create_rate_limit(actor=request.auth.name, **payload.dict()))
    except (DjangoValidationError, ValueError) as exc:
        raise invalid_input(exc, "rate limit") from None


@router.get("/{limit_id}", response=RateLimitOut)
def get_rate_limit(request: HttpRequest, limit_id: int):
    require_scope(request.auth, SCOPE_ADMIN)
    return _row(limit_id)


@router.patch("/{limit_id}", response=RateLimitOut)
def update_rate_limit(request: HttpRequest, limit_id: int, payload: RateLimitPatchIn):
    require_scope(request.auth, SCOPE_ADMIN)
    try:
        return services.update_rate_limit(
            row=_row(limit_id), changes=payload.dict(exclude_none=True), actor=request.auth.name
        )
    except (DjangoValidationError, ValueError) as exc:
        raise invalid_input(exc, "rate limit") from None


@router.delete("/{limit_id}", response={204: None})
def delete_rate_limit(request: HttpRequest, limit_id: int):
    require_scope(request.auth, SCOPE_ADMIN)
    services.delete_rate_limits(rows=_row(limit_id), actor=request.auth.name)
    return Status(204, None)
