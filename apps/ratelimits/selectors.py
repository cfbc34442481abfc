"""Reads of rate limits: the rows, and the enabled ones as the limiter matches them, cached per
stamp of the routing version (every change of a row bumps it: services, signals)."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.db.models import QuerySet

from apps.ratelimits.models import LimitKind, RateLimit
from apps.routing.selectors import ROUTING_VERSION
from mcp_platform.versions import Stamp


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
    """The enabled rows, kept per routing-version stamp: the steady-state call matches them
    without a query (and with no rows, the call path does nothing more)."""

    def __init__(self) -> None:
        self._rows: tuple[Stamp, tuple[LimitView, ...]] | None = None

    def get_nowait(self) -> tuple[LimitView, ...] | None:
        stamp = ROUTING_VERSION.stamp_nowait()
        rows = self._rows
        if stamp is None or rows is None or rows[0] != stamp:
            return None
        return rows[1]

    def get(self) -> tuple[LimitView, ...]:
        """The rows (blocking: reads them when the version moved)."""
        stamp = ROUTING_VERSION.stamp()
        rows = self._rows
        if rows is None or rows[0] != stamp:
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
            rows = self._rows = (stamp, views)
        return rows[1]

    def clear(self) -> None:
        self._rows = None


limits_cache = LimitsCache()
