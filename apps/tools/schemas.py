"""Request and reply bodies of the tools APIs."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema


class HealthOut(Schema):
    status: str
    timestamp: str
    version: str
    uptime_seconds: float


class ReadyOut(Schema):
    status: str
    timestamp: str
    uptime_seconds: float
    checks: dict[str, Any]


class ToolListOut(Schema):
    tools: list[str]
    count: int
    categories: list[str]


class ExecuteOut(Schema):
    tool: str
    status: str
    result: Any = None


class McpToolsListOut(Schema):
    jsonrpc: str = "2.0"
    result: dict[str, Any]


class McpToolCallParams(Schema):
    name: str | None = None
    tool: str | None = Field(None, description="Legacy alias of name.")
    arguments: dict[str, Any] = Field(default_factory=dict)


class McpToolCallIn(McpToolCallParams):
    """`{name, arguments}`, or the legacy JSON-RPC-like `{params: {name, arguments}}`."""

    params: McpToolCallParams | None = None

    def call(self) -> McpToolCallParams:
        """The name and arguments, from `params` when the top level carries no name."""
        if self.params is not None and not (self.name or self.tool):
            return self.params
        return self


class ToolOut(Schema):
    name: str
    title: str
    category: str
    description: str
    runtime: str
    enabled: bool
    missing: bool
    requires_p2p: bool
    priority: int
    timeout_seconds: float
    retry_policy: str
    max_retries: int
    fallback_allowed: bool
    deprecated: bool
    deprecation_message: str
    audit_arguments: bool
    schema_version: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: dict[str, bool]
    required_scope: str = ""


class ToolPatchIn(Schema):
    enabled: bool | None = None
    runtime: str | None = None
    priority: int | None = Field(None, ge=0, le=10)
    timeout_seconds: float | None = Field(None, gt=0)
    retry_policy: str | None = None
    max_retries: int | None = Field(None, ge=0, le=10)
    fallback_allowed: bool | None = None
    category: str | None = None
    deprecated: bool | None = None
    deprecation_message: str | None = None
    audit_arguments: bool | None = None


class CatalogueEntryOut(Schema):
    """What a prompt and a resource show alike (models.CatalogueEntry, title, description)."""

    name: str
    title: str
    description: str
    enabled: bool
    missing: bool


class PromptOut(CatalogueEntryOut):
    arguments: list[dict[str, Any]]
    template: str
    from_code: bool


class ResourceOut(CatalogueEntryOut):
    uri: str
    is_template: bool
    mime_type: str


class EnabledPatchIn(Schema):
    """What the management API may change on a prompt or resource (the admin edits the rest)."""

    enabled: bool
