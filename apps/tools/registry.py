"""The code registry: tool implementations register here with the `@tool` decorator.

The input schema is derived from the function's type hints with pydantic, the description from
its docstring. A parameter annotated `ToolContext` is not part of the schema: the call service
passes the context (progress reporting) into it.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
import typing_extensions

from apps.access.principals import ALL_SCOPES

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
NAME_RE = re.compile(NAME_PATTERN)
RUNTIMES = ("auto", "asyncio", "trio")
RETRY_POLICIES = ("none", "fixed", "linear", "exponential")
RUNTIME_ALIASES = {"fastapi": "asyncio"}


class ToolDefinitionError(ValueError):
    """A tool declared with metadata the platform cannot accept."""


class ToolContext:
    """Handed to tools that declare a parameter of this type: progress reporting, and who is
    calling (`principal`), for tools that act on the caller's behalf (queue or forward calls)."""

    def __init__(
        self,
        report: Callable[[float, float | None, str | None], Any] | None = None,
        *,
        principal: Any = None,
        request_id: str = "",
    ):
        self._report = report
        self.principal = principal
        self.request_id = request_id

    def require_call_permission(self, tool_name: str) -> None:
        """Raise PermissionError unless the caller may call `tool_name` itself."""
        if self.principal is not None and not self.principal.may_call(tool_name):
            raise PermissionError(f"caller '{self.principal.name}' may not call tool '{tool_name}'")

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        if self._report is not None:
            result = self._report(progress, total, message)
            if inspect.isawaitable(result):
                await result


def normalize_runtime(value: str) -> str:
    """Map the legacy `fastapi` alias to `asyncio`; raise on anything unknown."""
    runtime = RUNTIME_ALIASES.get(value, value)
    if runtime not in RUNTIMES:
        raise ToolDefinitionError(
            f"unknown runtime {value!r}: expected one of {', '.join(RUNTIMES)} (or 'fastapi')"
        )
    return runtime


@dataclass(frozen=True)
class ToolSpec:
    """A registered implementation and the metadata declared with it in code."""

    name: str
    func: Callable[..., Any]
    is_async: bool
    input_model: type[pydantic.BaseModel]
    context_param: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    output_adapter: pydantic.TypeAdapter | None = None

    @property
    def input_schema(self) -> dict[str, Any]:
        return self.metadata["input_schema"]

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self.metadata["output_schema"]


# The fields a tool declares in code; sync_tools copies them into the Tool table.
DEFAULT_METADATA: dict[str, Any] = {
    "title": "",
    "category": "general",
    "runtime": "auto",
    "requires_p2p": False,
    "priority": 5,
    "timeout_seconds": 30.0,
    "retry_policy": "none",
    "max_retries": 0,
    "memory_intensive": False,
    "cpu_intensive": False,
    "io_intensive": False,
    "enabled": True,
    "fallback_allowed": True,
    "deprecated": False,
    "deprecation_message": "",
    "schema_version": "1.0",
    "read_only_hint": False,
    "destructive_hint": False,
    "idempotent_hint": False,
    "open_world_hint": False,
    # A scope the caller needs beyond `tools:call` (e.g. "admin" for tools that act as the
    # node); the call service enforces it, so no tool checks its caller by hand.
    "required_scope": "",
    # Store each call's arguments in the audit trail (secrets redacted), not only their hash.
    "audit_arguments": False,
}

_registry: dict[str, ToolSpec] = {}


def _build_input_model(
    name: str, func: Callable[..., Any]
) -> tuple[type[pydantic.BaseModel], str | None]:
    hints = typing.get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    context_param = None
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, Any)
        if annotation is ToolContext or ToolContext in typing.get_args(annotation):
            context_param = param.name
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model_name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name) if part)
    accepts_extra = any(
        p.kind is p.VAR_KEYWORD for p in inspect.signature(func).parameters.values()
    )
    config = pydantic.ConfigDict(extra="allow" if accepts_extra else "forbid")
    model = pydantic.create_model(f"{model_name or 'Tool'}Arguments", __config__=config, **fields)
    return model, context_param


def _output_adapter(func: Callable[..., Any]) -> pydantic.TypeAdapter | None:
    """An output schema exists when the return type is a model or TypedDict, not a bare dict."""
    returned = typing.get_type_hints(func).get("return")
    if returned is None:
        return None
    is_model = inspect.isclass(returned) and issubclass(returned, pydantic.BaseModel)
    if is_model or typing_extensions.is_typeddict(returned):
        return pydantic.TypeAdapter(returned)
    return None


def _description(func: Callable[..., Any]) -> str:
    return inspect.cleandoc(func.__doc__ or "").strip()


def register(func: Callable[..., Any], *, name: str | None = None, **metadata: Any) -> ToolSpec:
    """Register `func` as a tool; the keyword arguments are its metadata (see DEFAULT_METADATA).

    Raises ToolDefinitionError for a bad name or an unknown metadata key or value.
    """
    tool_name = name or func.__name__
    if not NAME_RE.match(tool_name):
        raise ToolDefinitionError(f"tool name {tool_name!r} does not match {NAME_PATTERN}")
    description = metadata.pop("description", None) or _description(func)
    unknown = set(metadata) - set(DEFAULT_METADATA)
    if unknown:
        raise ToolDefinitionError(f"tool {tool_name!r}: unknown metadata {sorted(unknown)}")
    merged = {**DEFAULT_METADATA, **metadata}
    merged["runtime"] = normalize_runtime(merged["runtime"])
    if merged["retry_policy"] not in RETRY_POLICIES:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: unknown retry_policy {merged['retry_policy']!r}"
        )
    if not 0 <= merged["priority"] <= 10:
        raise ToolDefinitionError(f"tool {tool_name!r}: priority must be within 0..10")
    if merged["required_scope"] and merged["required_scope"] not in ALL_SCOPES:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: unknown required_scope {merged['required_scope']!r}"
        )
    if merged["timeout_seconds"] <= 0:
        raise ToolDefinitionError(f"tool {tool_name!r}: timeout_seconds must be positive")
    input_model, context_param = _build_input_model(tool_name, func)
    output_adapter = _output_adapter(func)
    merged["description"] = description
    merged["input_schema"] = input_model.model_json_schema()
    merged["output_schema"] = output_adapter.json_schema() if output_adapter else None
    spec = ToolSpec(
        name=tool_name,
        func=func,
        is_async=inspect.iscoroutinefunction(func),
        input_model=input_model,
        context_param=context_param,
        metadata=merged,
        output_adapter=output_adapter,
    )
    _registry[tool_name] = spec
    return spec


def tool(func: Callable[..., Any] | None = None, /, *, name: str | None = None, **metadata: Any):
    """Decorator: `@tool` or `@tool(name=..., category=..., timeout_seconds=..., ...)`."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        register(f, name=name, **metadata)
        return f

    return decorate(func) if func is not None else decorate


def get_spec(name: str) -> ToolSpec | None:
    return _registry.get(name)


def all_specs() -> dict[str, ToolSpec]:
    return dict(_registry)


def unregister(name: str) -> None:
    """Remove a registration (used when code is unloaded, and by tests)."""
    _registry.pop(name, None)
