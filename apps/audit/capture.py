"""Changes to the node's configuration, captured from model signals while an actor is set
(admin, management API, importer, commands, tools acting as the node). Background writes of
the node itself (discovery, heartbeats, leases) have no actor and are not recorded."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from apps.audit import chain
from apps.audit.context import current_actor

REDACTED = "[redacted]"

# label -> fields never recorded (observed by the node, bookkeeping) and fields redacted.
AUDITED_MODELS: dict[str, dict[str, frozenset[str]]] = {
    "tools.tool": {
        "ignore": frozenset({"created_at", "updated_at", "synced_at", "code_metadata"}),
    },
    "tools.prompt": {
        "ignore": frozenset({"created_at", "updated_at", "synced_at", "code_metadata"}),
    },
    "tools.resource": {
        "ignore": frozenset({"created_at", "updated_at", "synced_at", "code_metadata"}),
    },
    "toolsets.toolset": {"ignore": frozenset({"created_at", "updated_at"})},
    "toolsets.toolsetmember": {"ignore": frozenset()},
    "routing.routingrule": {"ignore": frozenset({"created_at", "updated_at"})},
    "routing.runtimesettings": {"ignore": frozenset({"updated_at"})},
    "access.apitoken": {
        "ignore": frozenset({"last_used_at", "created_at"}),
        "redact": frozenset({"token_hash"}),
    },
    "peers.peer": {
        "ignore": frozenset(
            {
                "status",
                "last_seen",
                "rtt_ms",
                "last_error",
                "failure_count",
                "next_retry_at",
                "agent_version",
                "tools",
                "created_at",
                "updated_at",
            }
        ),
    },
    "peers.bootstrapnode": {"ignore": frozenset({"created_at"})},
    "peers.p2psettings": {"ignore": frozenset({"updated_at"})},
    "ratelimits.ratelimit": {"ignore": frozenset({"created_at", "updated_at"})},
    # OAuth clients (apps.oauth): registered by MCP clients, edited and revoked in the admin.
    "oauth2_provider.application": {
        "ignore": frozenset({"created", "updated"}),
        "redact": frozenset({"client_secret"}),
    },
    "auth.user": {"ignore": frozenset({"last_login"}), "redact": frozenset({"password"})},
}


def _label(model: type[models.Model]) -> str:
    return model._meta.label_lower


def _rules(model: type[models.Model]) -> dict[str, frozenset[str]] | None:
    return AUDITED_MODELS.get(_label(model))


def _fields(model: type[models.Model]) -> list[str]:
    rules = _rules(model) or {}
    ignore = rules.get("ignore", frozenset())
    return [
        f.attname for f in model._meta.concrete_fields if not f.primary_key and f.name not in ignore
    ]


def _value(instance: models.Model, attname: str, redact: frozenset[str]) -> Any:
    value = getattr(instance, attname)
    name = attname.removesuffix("_id")
    if name in redact or attname in redact:
        return REDACTED if value else ""
    return chain.plain(value)


def target_of(instance: models.Model) -> str:
    return f"{_label(type(instance))}:{instance}"[:300]


def _snapshot(instance: models.Model) -> dict[str, Any]:
    redact = (_rules(type(instance)) or {}).get("redact", frozenset())
    return {name: _value(instance, name, redact) for name in _fields(type(instance))}


def _before(sender, instance: models.Model, **kwargs) -> None:
    if _rules(sender) is None or current_actor() is None or instance.pk is None:
        return
    old = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = _snapshot(old) if old is not None else None


def _written(name: str, update_fields: frozenset[str] | None) -> bool:
    return not update_fields or name in update_fields or name.removesuffix("_id") in update_fields


def _saved(sender, instance: models.Model, created: bool, raw: bool = False, **kwargs) -> None:
    actor = current_actor()
    if _rules(sender) is None or actor is None or raw:
        return
    after = _snapshot(instance)
    before = getattr(instance, "_audit_before", None)
    instance._audit_before = None
    if created or before is None:
        action = "create"
        changes = {name: {"before": None, "after": value} for name, value in after.items()}
    else:
        action = "update"
        update_fields = kwargs.get("update_fields")
        changes = {
            name: {"before": before[name], "after": value}
            for name, value in after.items()
            if before.get(name) != value and _written(name, update_fields)
        }
        if not changes:
            return
    record(actor=actor, action=action, target=target_of(instance), changes=changes)


def _deleted(sender, instance: models.Model, **kwargs) -> None:
    actor = current_actor()
    if _rules(sender) is None or actor is None:
        return
    before = _snapshot(instance)
    changes = {name: {"before": value, "after": None} for name, value in before.items()}
    record(actor=actor, action="delete", target=target_of(instance), changes=changes)


def record(*, actor, action: str, target: str, changes: dict[str, Any]) -> None:
    chain.append(
        [
            chain.Draft(
                actor=actor.name,
                origin=actor.origin,
                source=actor.source,
                action=action,
                target=target,
                changes=changes,
            )
        ]
    )


@contextlib.contextmanager
def recording_bulk_update(*, queryset: models.QuerySet, changes: dict[str, Any]) -> Iterator[None]:
    """Around a `QuerySet.update()` (which sends no signal): one event per row whose fields
    change. The rows are read before and the events written after the update, so the rows'
    locks are taken before the chain's, in the same order as a single save."""
    actor = current_actor()
    if actor is None or _rules(queryset.model) is None:
        yield
        return
    after = {name: chain.plain(value) for name, value in changes.items()}
    pending = []
    for instance in queryset:
        before = _snapshot(instance)
        diff = {
            name: {"before": before[name], "after": value}
            for name, value in after.items()
            if name in before and before[name] != value
        }
        if diff:
            pending.append((target_of(instance), diff))
    yield
    for target, diff in pending:
        record(actor=actor, action="update", target=target, changes=diff)


def connect_signals() -> None:
    pre_save.connect(_before, dispatch_uid="audit_before")
    post_save.connect(_saved, dispatch_uid="audit_saved")
    post_delete.connect(_deleted, dispatch_uid="audit_deleted")
