"""Reads of rate limits: the rows, and the enabled ones as the limiter matches them, cached per
routing version (every change of a row bumps it: apps.ratelimits.services)."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.db.models import QuerySet

from apps.ratelimits.models import LimitKind, RateLimit
from apps.routing.selectors import ROUTING_VERSION


def rate_limits() -> QuerySet[RateLimit]:
    return RateLimit.objects.all()


@dataclass(frozen=True)
class LimitView:
    """An enabled row as the limiter reads it (immutable, shared between threads)."""

    name: str
    tool: str
    principal: str
    kind: str
    limit: int
    window_seconds: int

    @property
    def is_concurrency(self) -> bool:
        return self.kind == LimitKind.CONCURRENCY

    def applies_to(self, *, tool: str, principal: str) -> bool:
        if not fnmatchcase(tool, self.tool):
            return False
        return self.principal == "*" or fnmatchcase(principal, self.principal)


class LimitsCache:
    """The enabled rows, kept per routing version: the version the call's tool row was read
    at (the catalogue cache's), so the steady-state call matches them without a query, and
    with no rows the call path does nothing more."""

    def __init__(self) -> None:
        self._rows: tuple[int, tuple[LimitView, ...]] | None = None

    def peek(self, version: int | None) -> tuple[LimitView, ...] | None:
        rows = self._rows
        if version is None or rows is None or rows[0] != version:
            return None
        return rows[1]

    def get(self, version: int | None = None) -> tuple[LimitView, ...]:
        """The rows at `version` (blocking: reads them when not cached for it)."""
        if version is None:
            version = ROUTING_VERSION.stamp()[0]
        rows = self._rows
        if rows is None or rows[0] != version:
            views = tuple(
                LimitView(
                    name=row.name,
                    tool=row.tool,
                    principal=row.principal,
                    kind=row.kind,
                    limit=row.limit,
                    window_seconds=row.window_seconds,
                )
                for row in RateLimit.objects.filter(enabled=True)
            )
            rows = self._rows = (version, views)
        return rows[1]

    def clear(self) -> None:
        self._rows = None


limits_cache = LimitsCache()
