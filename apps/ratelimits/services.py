"""Writes of rate limits (admin, API). Each change bumps the routing version in its own
transaction, so every process's limits cache (apps.ratelimits.selectors) follows it."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from apps.ratelimits.models import RateLimit
from apps.routing.services import apply_changes, bump_routing_version

logger = logging.getLogger(__name__)

FIELDS = ("name", "tool", "principal", "kind", "limit", "window_seconds", "enabled", "note")


@transaction.atomic
def create_rate_limit(*, actor: Any = None, **fields: Any) -> RateLimit:
    """A new limit; raises django ValidationError naming each bad field."""
    row = RateLimit()
    apply_changes(row, fields, FIELDS)
    return save_rate_limit(row=row, actor=actor)


@transaction.atomic
def save_rate_limit(*, row: RateLimit, actor: Any = None) -> RateLimit:
    """Save a new or edited row as it stands (the admin's forms fill it in)."""
    created = row.pk is None
    row.full_clean()
    row.save()
    logger.info("rate limit %s %s by %s", row, "created" if created else "saved", actor or "-")
    bump_routing_version(reason=f"rate limit {row.name} {'created' if created else 'saved'}")
    return row


@transaction.atomic
def update_rate_limit(*, row: RateLimit, changes: dict[str, Any], actor: Any = None) -> RateLimit:
    apply_changes(row, changes, FIELDS)
    row.save()
    logger.info("rate limit %s edited by %s: %s", row.name, actor or "-", sorted(changes))
    bump_routing_version(reason=f"rate limit {row.name} edited")
    return row


@transaction.atomic
def set_enabled(*, rows: Any, enabled: bool, actor: Any = None) -> int:
    """Enable or disable rows (the admin's bulk actions), one save each (audited)."""
    count = 0
    for row in rows:
        row.enabled = enabled
        row.save(update_fields=["enabled", "updated_at"])
        count += 1
    logger.info("%d rate limits %s by %s", count, "enabled" if enabled else "disabled", actor)
    bump_routing_version(reason=f"{count} rate limits {'enabled' if enabled else 'disabled'}")
    return count


@transaction.atomic
def delete_rate_limits(*, rows: Any, actor: Any = None) -> int:
    """Delete rows (one instance, a list or a queryset); returns how many."""
    ids = [rows.pk] if isinstance(rows, RateLimit) else [row.pk for row in rows]
    count, _ = RateLimit.objects.filter(pk__in=ids).delete()
    logger.info("%d rate limits deleted by %s", count, actor or "-")
    bump_routing_version(reason=f"{count} rate limits deleted")
    return count
