"""Writes to the catalogue: sync from code, admin edits, bulk toggles."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.capture import recording_bulk_update
from apps.tools import registry
from apps.tools.models import Runtime, Tool
from apps.tools.signals import catalogue_changed

logger = logging.getLogger(__name__)

# Fields sync copies from code; an admin's edit of any of them survives later syncs.
SYNCED_FIELDS = (*registry.DEFAULT_METADATA.keys(), "description", "input_schema", "output_schema")


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept_admin_edits: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.missing or self.restored)


def _notify(reason: str) -> None:
    catalogue_changed.send(sender=Tool, reason=reason)


@transaction.atomic
def sync_tools(*, specs: dict[str, registry.ToolSpec] | None = None) -> SyncReport:
    """Upsert registered tools into the Tool table.

    A field whose stored value still equals what code declared last time follows the code; a
    field an admin changed keeps the admin's value. Tools whose code vanished are marked missing.
    """
    specs = registry.all_specs() if specs is None else specs
    report = SyncReport()
    now = timezone.now()
    existing = {tool.name: tool for tool in Tool.objects.select_for_update()}
    for name, spec in sorted(specs.items()):
        code = {key: spec.metadata[key] for key in SYNCED_FIELDS}
        tool = existing.get(name)
        if tool is None:
            Tool.objects.create(name=name, code_metadata=code, synced_at=now, **code)
            report.created.append(name)
            continue
        previous_code = tool.code_metadata or {}
        dirty = False
        kept = []
        for key, value in code.items():
            current = getattr(tool, key)
            admin_edited = key in previous_code and current != previous_code[key]
            if admin_edited:
                if current != value:
                    kept.append(key)
                continue
            if current != value:
                setattr(tool, key, value)
                dirty = True
        if tool.missing:
            tool.missing = False
            report.restored.append(name)
            dirty = True
        if dirty:
            report.updated.append(name)
        if kept:
            report.kept_admin_edits[name] = kept
        tool.code_metadata = code
        tool.synced_at = now
        tool.save()
    vanished = [name for name, tool in existing.items() if name not in specs and not tool.missing]
    if vanished:
        Tool.objects.filter(name__in=vanished).update(missing=True, updated_at=now)
        report.missing.extend(sorted(vanished))
    if report.changed:
        _notify("sync")
    return report


@transaction.atomic
def update_tool(*, tool: Tool, changes: dict[str, Any] | None = None, actor: Any = None) -> Tool:
    """Save an edit of one tool (admin form, API) and announce the catalogue change.

    With `changes`, only those fields are written, on the row as it is now: a concurrent edit
    of other fields is not reverted. Without, `tool` is saved whole (an admin form's save).
    Raises ValidationError for a value the model refuses.
    """
    if changes:
        tool = Tool.objects.select_for_update().get(pk=tool.pk)
    for key, value in (changes or {}).items():
        if key == "runtime":
            value = registry.normalize_runtime(value)
        setattr(tool, key, value)
    tool.full_clean()
    tool.save(update_fields=[*changes, "updated_at"] if changes else None)
    logger.info("tool %s edited by %s: %s", tool.name, actor or "system", sorted(changes or {}))
    _notify(f"tool {tool.name} edited")
    return tool


@transaction.atomic
def set_tools_enabled(*, tools: QuerySet[Tool], enabled: bool, actor: Any = None) -> int:
    with recording_bulk_update(queryset=tools, changes={"enabled": enabled}):
        count = tools.update(enabled=enabled, updated_at=timezone.now())
    logger.info("%s %d tools by %s", "enabled" if enabled else "disabled", count, actor or "system")
    _notify("tools enabled" if enabled else "tools disabled")
    return count


@transaction.atomic
def set_tools_runtime(*, tools: QuerySet[Tool], runtime: str, actor: Any = None) -> int:
    runtime = registry.normalize_runtime(runtime)
    if runtime not in Runtime.values:
        raise ValueError(f"unknown runtime {runtime!r}")
    with recording_bulk_update(queryset=tools, changes={"runtime": runtime}):
        count = tools.update(runtime=runtime, updated_at=timezone.now())
    logger.info("set runtime %s on %d tools by %s", runtime, count, actor or "system")
    _notify(f"runtime set to {runtime}")
    return count
