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
from apps.tools.models import Prompt, Resource, Runtime, Tool
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


# Tools, prompts and resources are synced from code the same way (a field an admin changed
# keeps the admin's value; rows whose code vanished are marked missing). Prompts written in
# the admin alone (`from_code=False`) are never touched by sync.
PROMPT_FIELDS = ("title", "description", "arguments")
RESOURCE_FIELDS = ("uri", "title", "description", "mime_type")


def _merge(row: Any, code: dict[str, Any]) -> tuple[bool, list[str]]:
    """Apply code's values to the fields an admin left alone; (changed, fields kept)."""
    previous = row.code_metadata or {}
    dirty, kept = False, []
    for key, value in code.items():
        current = getattr(row, key)
        if key in previous and current != previous[key]:
            if current != value:
                kept.append(key)
            continue
        if current != value:
            setattr(row, key, value)
            dirty = True
    return dirty, kept


def _sync_rows(
    *,
    model: Any,
    rows: Any,
    codes: dict[str, dict[str, Any]],
    extra: dict[str, dict[str, Any]] | None = None,
) -> SyncReport:
    """Upsert each name's synced fields (`codes`) and fields that always follow code (`extra`)
    into `rows` of `model`; mark the rows whose name is gone as missing."""
    extra = extra or {}
    report = SyncReport()
    now = timezone.now()
    existing = {row.name: row for row in rows.select_for_update()}
    for name, code in sorted(codes.items()):
        row = existing.get(name)
        if row is None:
            model.objects.create(
                name=name, code_metadata=code, synced_at=now, **code, **extra.get(name, {})
            )
            report.created.append(name)
            continue
        dirty, kept = _merge(row, code)
        for key, value in extra.get(name, {}).items():
            if getattr(row, key) != value:
                setattr(row, key, value)
                dirty = True
        if row.missing:
            row.missing = False
            report.restored.append(name)
            dirty = True
        if dirty:
            report.updated.append(name)
        if kept:
            report.kept_admin_edits[name] = kept
        row.code_metadata = code
        row.synced_at = now
        row.save()
    vanished = [name for name, row in existing.items() if name not in codes and not row.missing]
    if vanished:
        rows.filter(name__in=vanished).update(missing=True, updated_at=now)
        report.missing.extend(sorted(vanished))
    return report


@transaction.atomic
def sync_tools(*, specs: dict[str, registry.ToolSpec] | None = None) -> SyncReport:
    """Upsert registered tools into the Tool table.

    A field whose stored value still equals what code declared last time follows the code; a
    field an admin changed keeps the admin's value. Tools whose code vanished are marked missing.
    """
    specs = registry.all_specs() if specs is None else specs
    report = _sync_rows(
        model=Tool,
        rows=Tool.objects.all(),
        codes={n: {k: s.metadata[k] for k in SYNCED_FIELDS} for n, s in specs.items()},
    )
    if report.changed:
        _notify("sync")
    return report


def _update_row(row: Any, changes: dict[str, Any] | None, actor: Any) -> Any:
    """Save an edit of one catalogue row (admin form, API) and announce the catalogue change.

    With `changes`, only those fields are written, on the row as it is now: a concurrent edit
    of other fields is not reverted. Without, `row` is saved whole (an admin form's save).
    Raises ValidationError for a value the model refuses.
    """
    model = type(row)
    if changes:
        row = model.objects.select_for_update().get(pk=row.pk)
    for key, value in (changes or {}).items():
        setattr(row, key, value)
    row.full_clean()
    row.save(update_fields=[*changes, "updated_at"] if changes else None)
    what = model._meta.verbose_name
    logger.info("%s %s edited by %s: %s", what, row.name, actor or "system", sorted(changes or {}))
    _notify(f"{what} {row.name} edited")
    return row


@transaction.atomic
def update_tool(*, tool: Tool, changes: dict[str, Any] | None = None, actor: Any = None) -> Tool:
    if changes and "runtime" in changes:
        changes = {**changes, "runtime": registry.normalize_runtime(changes["runtime"])}
    return _update_row(tool, changes, actor)


def set_tools_enabled(*, tools: QuerySet[Tool], enabled: bool, actor: Any = None) -> int:
    return set_enabled(rows=tools, enabled=enabled, actor=actor)


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


@transaction.atomic
def sync_prompts(*, specs: dict[str, registry.PromptSpec] | None = None) -> SyncReport:
    """Upsert registered prompts into the Prompt table (admin edits kept, vanished marked)."""
    specs = registry.all_prompt_specs() if specs is None else specs
    report = _sync_rows(
        model=Prompt,
        rows=Prompt.objects.filter(from_code=True),
        codes={n: {k: s.metadata[k] for k in PROMPT_FIELDS} for n, s in specs.items()},
        extra={name: {"from_code": True} for name in specs},
    )
    if report.changed:
        _notify("prompts synced")
    return report


@transaction.atomic
def sync_resources(*, specs: dict[str, registry.ResourceSpec] | None = None) -> SyncReport:
    """Upsert registered resources and templates into the Resource table."""
    specs = registry.all_resource_specs() if specs is None else specs
    codes = {
        name: {"uri": spec.uri, **{k: spec.metadata[k] for k in RESOURCE_FIELDS if k != "uri"}}
        for name, spec in specs.items()
    }
    report = _sync_rows(
        model=Resource,
        rows=Resource.objects.all(),
        codes=codes,
        extra={name: {"is_template": spec.is_template} for name, spec in specs.items()},
    )
    if report.changed:
        _notify("resources synced")
    return report


@transaction.atomic
def update_entry(
    *, entry: Prompt | Resource, changes: dict[str, Any] | None = None, actor: Any = None
) -> Prompt | Resource:
    """Save an edit of a prompt or a resource (admin form, API); see _update_row."""
    return _update_row(entry, changes, actor)


@transaction.atomic
def set_enabled(*, rows: QuerySet, enabled: bool, actor: Any = None) -> int:
    """Enable or disable tools, prompts or resources in bulk (admin actions, API)."""
    with recording_bulk_update(queryset=rows, changes={"enabled": enabled}):
        count = rows.update(enabled=enabled, updated_at=timezone.now())
    label = rows.model._meta.verbose_name_plural
    logger.info(
        "%s %d %s by %s", "enabled" if enabled else "disabled", count, label, actor or "system"
    )
    _notify(f"{label} {'enabled' if enabled else 'disabled'}")
    return count


@transaction.atomic
def delete_prompt(*, prompt: Prompt, actor: Any = None) -> None:
    """Delete a prompt written in the admin (one from code would return at the next sync)."""
    name = prompt.name
    prompt.delete()
    logger.info("prompt %s deleted by %s", name, actor or "system")
    _notify(f"prompt {name} deleted")
