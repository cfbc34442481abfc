"""Changes to toolsets (the management API; the admin saves through its forms). Each change
drops cached principals and announces a tool list change (apps.toolsets.signals)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.toolsets.models import Toolset, ToolsetMember

logger = logging.getLogger(__name__)

MEMBER_FIELDS = ("tool", "display_name", "description")


def _members(toolset: Toolset, tools: list[Any]) -> list[ToolsetMember]:
    """Member rows from the API's `tools`: each a name or glob, or an object with `tool` and
    optional `display_name` and `description`. Raises ValidationError naming `tools`."""
    members: dict[str, ToolsetMember] = {}
    for index, entry in enumerate(tools):
        fields = {"tool": entry} if isinstance(entry, str) else dict(entry)
        member = ToolsetMember(toolset=toolset, **{k: fields.get(k) or "" for k in MEMBER_FIELDS})
        member.tool = member.tool.strip()
        try:
            member.full_clean(exclude=["toolset"], validate_unique=False)
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
            raise ValidationError({"tools": [f"entry {index}: {problems}"]}) from None
        if member.display_name and any(c in member.tool for c in "*?["):
            raise ValidationError(
                {"tools": [f"entry {index}: a display name needs a single tool, not a glob"]}
            )
        members[member.tool] = member  # a tool named twice: the last entry wins
    return list(members.values())


@transaction.atomic
def create_toolset(
    *, slug: str, title: str, description: str = "", tools: list[Any], actor: Any = None
) -> Toolset:
    toolset = Toolset(slug=slug, title=title, description=description)
    toolset.full_clean()
    members = _members(toolset, tools)
    toolset.save()
    for member in members:
        member.toolset = toolset
        member.save()
    logger.info("toolset %s created by %s", slug, actor or "system")
    return toolset


@transaction.atomic
def update_toolset(*, toolset: Toolset, changes: dict[str, Any], actor: Any = None) -> Toolset:
    """Write the given fields; `tools`, when given, replaces every member."""
    toolset = Toolset.objects.select_for_update().get(pk=toolset.pk)
    tools = changes.pop("tools", None)
    for key, value in changes.items():
        setattr(toolset, key, value)
    toolset.full_clean()
    members = _members(toolset, tools) if tools is not None else None
    toolset.save()
    if members is not None:
        toolset.members.all().delete()
        for member in members:
            member.save()
    logger.info("toolset %s edited by %s", toolset.slug, actor or "system")
    return toolset


@transaction.atomic
def delete_toolset(*, toolset: Toolset, actor: Any = None) -> None:
    toolset.delete()
    logger.info("toolset %s deleted by %s", toolset.slug, actor or "system")
