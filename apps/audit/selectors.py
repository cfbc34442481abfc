"""Reads of the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from apps.audit.models import AuditEvent


def events(
    *,
    target: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Newest first. `target` matches exactly or as a prefix ending in `:` (`tools.tool:`)."""
    found = AuditEvent.objects.all()
    if target:
        found = (
            found.filter(target__startswith=target)
            if target.endswith(":")
            else found.filter(target=target)
        )
    if actor:
        found = found.filter(actor=actor)
    if action:
        found = found.filter(action=action)
    if since:
        found = found.filter(at__gte=since)
    if until:
        found = found.filter(at__lte=until)
    return found.order_by("-seq")


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "origin": event.origin,
        "source": event.source,
        "action": event.action,
        "target": event.target,
        "changes": event.changes,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def export_lines(queryset: QuerySet[AuditEvent] | None = None) -> Iterator[str]:
    """JSON lines, oldest first (chain order), one event a line."""
    queryset = AuditEvent.objects.all() if queryset is None else queryset
    for event in queryset.order_by("seq").iterator(chunk_size=1000):
        yield json.dumps(event_dict(event), sort_keys=True) + "\n"
