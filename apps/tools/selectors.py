"""Reads of the catalogue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from apps.tools.models import Prompt, Resource, Tool


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


def servable_prompts() -> QuerySet[Prompt]:
    """Enabled prompts (from code that is present, or written in the admin), by name."""
    return Prompt.objects.filter(enabled=True, missing=False).order_by("name")


def servable_resources(*, templates: bool) -> QuerySet[Resource]:
    """Enabled resources with a fixed URI (or, with `templates`, the URI templates), by name."""
    return Resource.objects.filter(enabled=True, missing=False, is_template=templates).order_by(
        "name"
    )


def all_prompts() -> list[Prompt]:
    return list(Prompt.objects.order_by("name"))


def all_resources() -> list[Resource]:
    return list(Resource.objects.order_by("name"))


def find_prompt(name: str) -> Prompt | None:
    return Prompt.objects.filter(name=name).first()


def find_resource(name: str) -> Resource | None:
    return Resource.objects.filter(name=name).first()


def prompt_descriptor(prompt: Prompt) -> dict:
    """The MCP prompt descriptor (as `prompts/list` shows it)."""
    descriptor: dict[str, Any] = {
        "name": prompt.name,
        "description": prompt.description,
        "arguments": [
            {
                "name": argument["name"],
                "description": argument.get("description", ""),
                "required": bool(argument.get("required", False)),
            }
            for argument in prompt.arguments or []
        ],
    }
    if prompt.title:
        descriptor["title"] = prompt.title
    return descriptor


def resource_descriptor(resource: Resource) -> dict:
    """The MCP resource (or resource template) descriptor."""
    key = "uriTemplate" if resource.is_template else "uri"
    descriptor = {
        key: resource.uri,
        "name": resource.name,
        "description": resource.description,
        "mimeType": resource.mime_type,
    }
    if resource.title:
        descriptor["title"] = resource.title
    return descriptor
