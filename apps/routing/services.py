"""Writes of routing: rules, runtime settings, the routing version, runtime heartbeats.

Every change that can move a route (tools, rules, settings) bumps the one routing version in
the same transaction; once that transaction commits, the Trio runtime is told (`announce`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.routing import announce
from apps.routing.models import (
    RoutingRule,
    RoutingVersion,
    RuntimeInstance,
    RuntimeSettings,
    RuntimeStatus,
)
from apps.routing.selectors import ROUTING_VERSION

logger = logging.getLogger(__name__)

RULE_FIELDS = ("name_pattern", "category", "runtime", "priority", "enabled", "note")
SETTINGS_FIELDS = (
    "default_runtime",
    "fallback_allowed",
    "fallback_timeout",
    "trio_enabled",
)


# The reasons of the bumps deferred by the innermost `one_routing_change` block (None: none).
_deferred: ContextVar[list[str] | None] = ContextVar("deferred_routing_bumps", default=None)


@contextmanager
def one_routing_change(*, reason: str) -> Iterator[None]:
    """Run a change made of many writes (an import) in one transaction that bumps the routing
    version once, at its end, for all of them: the runtimes see one new version, never a half of
    the change. Nested blocks join the outermost one."""
    if _deferred.get() is not None:
        yield
        return
    reasons: list[str] = []
    with transaction.atomic():
        token = _deferred.set(reasons)
        try:
            yield
        finally:
            _deferred.reset(token)
        if reasons:
            bump_routing_version(reason=f"{reason} ({len(reasons)} changes)")


def bump_routing_version(*, reason: str = "") -> int | None:
    """Increment the routing version inside the caller's transaction; returns the new version,
    or None inside a `one_routing_change` block, which bumps it once when it ends.

    Must run inside a transaction (it is a part of the change it versions); announces the new
    version to the runtimes once that transaction commits.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("bump_routing_version must run inside the changing transaction")
    deferred = _deferred.get()
    if deferred is not None:
        deferred.append(reason or "change")
        return None
    now = timezone.now()
    if not RoutingVersion.objects.filter(pk=1).update(version=F("version") + 1, changed_at=now):
        RoutingVersion.objects.get_or_create(pk=1, defaults={"version": 2})
    version = RoutingVersion.objects.filter(pk=1).values_list("version", flat=True).get()
    logger.info("routing version %d (%s)", version, reason or "change")
    ROUTING_VERSION.changed()
    transaction.on_commit(lambda: announce.routing_changed(version))
    return version


def on_catalogue_changed(sender: Any, reason: str = "", **kwargs: Any) -> None:
    """Receiver of tools' `catalogue_changed` (sent inside the changing transaction)."""
    bump_routing_version(reason=f"catalogue: {reason}")


def apply_changes(instance: Any, changes: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Set `changes` on `instance` and validate it; ValueError for a field not in `allowed`,
    django ValidationError naming each bad value (shared with apps.ratelimits)."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    for key, value in changes.items():
        setattr(instance, key, value)
    instance.full_clean()


@transaction.atomic
def create_rule(*, actor: Any = None, **fields: Any) -> RoutingRule:
    """Create a routing rule; raises django ValidationError for bad fields."""
    rule = RoutingRule()
    apply_changes(rule, fields, RULE_FIELDS)
    return save_rule(rule=rule, actor=actor)


@transaction.atomic
def save_rule(*, rule: RoutingRule, actor: Any = None) -> RoutingRule:
    """Save a new or edited rule as it stands (the admin's forms fill it in)."""
    created = rule.pk is None
    rule.full_clean()
    rule.save()
    logger.info(
        "routing rule %s %s by %s", rule, "created" if created else "saved", actor or "system"
    )
    bump_routing_version(reason=f"rule {rule.pk} {'created' if created else 'saved'}")
    return rule


@transaction.atomic
def update_rule(*, rule: RoutingRule, changes: dict[str, Any], actor: Any = None) -> RoutingRule:
    """Save an edit of a rule (admin, API); raises django ValidationError for bad fields."""
    apply_changes(rule, changes, RULE_FIELDS)
    rule.save()
    logger.info("routing rule %s edited by %s: %s", rule.pk, actor or "system", sorted(changes))
    bump_routing_version(reason=f"rule {rule.pk} edited")
    return rule


@transaction.atomic
def delete_rules(*, rules: Any, actor: Any = None) -> int:
    """Delete rules (one instance, a list or a queryset); returns how many."""
    ids = [rules.pk] if isinstance(rules, RoutingRule) else [r.pk for r in rules]
    count, _ = RoutingRule.objects.filter(pk__in=ids).delete()
    logger.info("%d routing rules deleted by %s", count, actor or "system")
    bump_routing_version(reason=f"{count} rules deleted")
    return count


@transaction.atomic
def update_runtime_settings(*, changes: dict[str, Any], actor: Any = None) -> RuntimeSettings:
    """Edit the runtime settings singleton; raises django ValidationError for bad values."""
    settings, _ = RuntimeSettings.objects.select_for_update().get_or_create(pk=1)
    changes = dict(changes)
    if changes.get("default_runtime") == "fastapi":
        changes["default_runtime"] = "asyncio"  # the legacy alias
    apply_changes(settings, changes, SETTINGS_FIELDS)
    settings.save()
    logger.info("runtime settings edited by %s: %s", actor or "system", sorted(changes))
    bump_routing_version(reason="runtime settings edited")
    return settings


def retire_runtime_instances(*, address: str, current: str) -> list[int]:
    """Mark down the rows of earlier processes at `address` (`trio@host:port`): the process
    `current` now holds that port, so none of them can still be serving. Their pids."""
    earlier = RuntimeInstance.objects.filter(instance_id__startswith=f"{address}/").exclude(
        instance_id=current
    )
    pids = list(earlier.exclude(status=RuntimeStatus.DOWN).values_list("pid", flat=True))
    earlier.exclude(status=RuntimeStatus.DOWN).update(status=RuntimeStatus.DOWN)
    return pids


def record_heartbeat(*, instance_id: str, **fields: Any) -> RuntimeInstance:
    """Upsert the heartbeat row of a runtime process (not a routing change: no version bump)."""
    fields["last_heartbeat"] = timezone.now()
    instance, _ = RuntimeInstance.objects.update_or_create(instance_id=instance_id, defaults=fields)
    return instance
