"""Operations on the audit trail: record an event, verify, prune by retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.audit import calls, chain
from apps.audit.models import AuditEvent


def record_event(
    *,
    actor: str,
    origin: str,
    action: str,
    target: str,
    changes: dict[str, Any] | None = None,
    source: str = "",
) -> AuditEvent:
    """Append one event now (a client-reported event, or an explicit record)."""
    draft = chain.Draft(
        actor=actor,
        origin=origin,
        action=action,
        target=target,
        changes=changes or {},
        source=source,
    )
    return chain.append([draft])[0]


def verify_chain() -> chain.Verification:
    """Write what is queued, then verify the whole chain."""
    calls.flush()
    return chain.verify()


def prune_expired(*, days: int | None = None) -> int:
    """Delete events older than the retention (MCP_PLATFORM_AUDIT_RETENTION_DAYS; 0 keeps
    everything), keeping the chain verifiable through a checkpoint; returns how many went."""
    days = settings.MCP_PLATFORM_AUDIT_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    return chain.prune(before=timezone.now() - timedelta(days=days))
