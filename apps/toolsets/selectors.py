"""Reads of toolsets: the rows, and the catalogue's tools each one resolves to."""

from __future__ import annotations

from dataclasses import dataclass

from apps.tools import selectors as tool_selectors
from apps.tools.models import Tool
from apps.toolsets.models import Toolset, ToolsetMember


@dataclass(frozen=True)
class ResolvedTool:
    tool: Tool
    member: ToolsetMember

    @property
    def title(self) -> str:
        return self.member.display_name or self.tool.title or self.tool.name

    @property
    def description(self) -> str:
        return self.member.description or self.tool.description


def find_toolset(slug: str) -> Toolset | None:
    return Toolset.objects.prefetch_related("members").filter(slug=slug).first()


def all_toolsets(*, search: str | None = None) -> list[Toolset]:
    toolsets = Toolset.objects.prefetch_related("members")
    if search:
        toolsets = toolsets.filter(slug__icontains=search) | toolsets.filter(
            title__icontains=search
        )
    return list(toolsets.order_by("slug"))


def member_for(members: list[ToolsetMember], tool_name: str) -> ToolsetMember | None:
    """The member that takes in `tool_name`: one naming it exactly wins over a glob (its
    overrides apply), else the first glob that matches."""
    exact = next((m for m in members if m.tool == tool_name), None)
    return exact or next((m for m in members if m.matches(tool_name)), None)


def resolved_tools(toolset: Toolset, *, principal=None) -> list[ResolvedTool]:
    """The callable tools of the toolset (those `principal` may list, when given), by name."""
    members = list(toolset.members.all())
    resolved = []
    for tool in tool_selectors.callable_tools():
        member = member_for(members, tool.name)
        if member is None or (principal is not None and not principal.may_list(tool.name)):
            continue
        resolved.append(ResolvedTool(tool, member))
    return resolved
