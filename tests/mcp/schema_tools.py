"""Test tools with JSON Schema features, loaded into platform children through
MCP_PLATFORM_TOOL_MODULES: one declaring a JSON Schema 2020-12 input schema (the conformance
suite's `json_schema_2020_12_tool`), one mirroring an argument into an `Mcp-Param-Region`
header (`x-mcp-header`, set on a type-hinted parameter)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from apps.tools import registry

DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONTACT_SCHEMA = {
    "$schema": DIALECT,
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def json_schema_2020_12_tool(**contact) -> dict:
    """Tool with JSON Schema 2020-12 features: echo the contact it was given."""
    return {"contact": contact}


def regional_lookup(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})], key: str
) -> dict:
    """Look `key` up in `region` (a router may route on the Mcp-Param-Region header)."""
    return {"region": region, "key": key}


TOOLS = {
    "json_schema_2020_12_tool": (json_schema_2020_12_tool, {"input_schema": CONTACT_SCHEMA}),
    "regional_lookup": (regional_lookup, {}),
}


def register_all() -> None:
    for name, (func, options) in TOOLS.items():
        if registry.get_spec(name) is None:
            registry.register(func, name=name, category="testing", **options)


def unregister_all() -> None:
    for name in TOOLS:
        registry.unregister(name)


register_all()
