"""Request and response bodies of /api/v2/rate-limits."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from apps.ratelimits.models import MAX_LIMIT, MAX_WINDOW_SECONDS

Kind = Literal["rate", "concurrency"]


class RateLimitOut(Schema):
    id: int
    name: str = Field(max_length=100)
    tool: str
    principal: str
    kind: str
    limit: int
    window_seconds: int
    enabled: bool
    note: str
    created_at: datetime
    updated_at: datetime


class RateLimitIn(Schema):
    name: str
    tool: str = "*"
    principal: str = "*"
    kind: Kind = "rate"
    limit: int = Field(ge=1, le=MAX_LIMIT)
    window_seconds: int = Field(default=60, ge=1, le=MAX_WINDOW_SECONDS)
    enabled: bool = True
    note: str = ""


class RateLimitPatchIn(Schema):
    name: str | None = None
    tool: str | None = None
    principal: str | None = None
    kind: Kind | None = None
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    window_seconds: int | None = Field(default=None, ge=1, le=MAX_WINDOW_SECONDS)
    enabled: bool | None = None
    note: str | None = None
