"""Reads of the catalogue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from apps.tools.models import Tool


def callable_tools() -> QuerySet[Tool]:
    """Enabled tools whose code is present, in deterministic (name) order."""
    return Tool.objects.filter(enabled=True, missing=False).order_by("name")


def find_tool(name: str) -> Tool | None:
    """The tool called `name`, or by a legacy dotted `category.tool` name; None if unknown."""
    tool = Tool.objects.filter(name=name).first()
    if tool is None and "." in name:
        category, _, short = name.rpartition(".")
        tool = Tool.objects.filter(name=short, category=category).first()
    return tool


def tool_descriptor(tool: Tool) -> dict:
    """The MCP tool descriptor of a tool (as `tools/list` shows it)."""
    descriptor = {
        "name": tool.name,
        "description": tool.description,
        "inputSchema": tool.input_schema or {"type": "object", "properties": {}},
        "annotations": {"title": tool.title or tool.name, **tool.annotations},
    }
    if tool.title:
        descriptor["title"] = tool.title
    if tool.output_schema:
        descriptor["outputSchema"] = tool.output_schema
    if tool.required_scope:
        # MCP's ToolAnnotations has no field for it: `_meta` carries it to every client.
        descriptor["_meta"] = {"requiredScope": tool.required_scope}
    return descriptor


def tools_visible_to(principal) -> list[Tool]:
    """Callable tools the principal may list, in name order."""
    return [tool for tool in callable_tools() if principal.may_list(tool.name)]


def all_tools(*, category: str | None = None, enabled: bool | None = None) -> list[Tool]:
    tools = Tool.objects.order_by("name")
    if category is not None:
        tools = tools.filter(category=category)
    if enabled is not None:
        tools = tools.filter(enabled=enabled)
    return list(tools)


def enabled_categories() -> list[str]:
    """The categories of the callable tools, sorted."""
    return sorted(set(callable_tools().values_list("category", flat=True)))


def audit_policies(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per tool name, whether the audit trail stores its call arguments, and its input schema
    (to redact secrets): what the audit writer asks of the catalogue."""
    return {
        row["name"]: row
        for row in Tool.objects.filter(name__in=list(names)).values(
            "name", "audit_arguments", "input_schema"
        )
    }
