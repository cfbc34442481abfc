"""The code registry: tool implementations register here with the `@tool` decorator.

The input schema is derived from the function's type hints with pydantic (a JSON Schema
2020-12 document, `$schema` included), the description from its docstring. A tool may instead
declare its schema (`@tool(input_schema={...})`, any 2020-12 schema): arguments are then
validated against it with `jsonschema` and passed to the function as keyword arguments. A
parameter annotated `ToolContext` is not part of the schema: the call service passes the
context (progress, log entries, questions for the caller) into it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import mcp_types
import pydantic
import referencing
import referencing.exceptions
import referencing.jsonschema
import typing_extensions
from mcp.shared.inbound import find_invalid_x_mcp_header, x_mcp_header_map

from apps.access.principals import ALL_SCOPES
from apps.tools import interaction

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
NAME_RE = re.compile(NAME_PATTERN)
RUNTIMES = ("auto", "asyncio", "trio")
RETRY_POLICIES = ("none", "fixed", "linear", "exponential")
# Whether an MCP client may get the tool's call as a task (a job): never, when the client can
# take one, or only as one (docs/mcp.md, "MCP tasks").
TASK_SUPPORT = ("forbidden", "optional", "required")
RUNTIME_ALIASES = {"fastapi": "asyncio"}
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class ToolDefinitionError(ValueError):
    """A tool declared with metadata the platform cannot accept."""


class ToolContext:
    """Handed to tools that declare a parameter of this type: progress reporting, log entries
    and questions for the caller (`log`, `elicit`, `sample`, `list_roots`:
    apps.tools.interaction), and who is calling (`principal`), for tools that act on the
    caller's behalf (queue or forward calls)."""

    def __init__(
        self,
        report: Callable[[float, float | None, str | None], Any] | None = None,
        *,
        principal: Any = None,
        request_id: str = "",
        tool_name: str = "",
        asker: interaction.Asker | None = None,
    ):
        self._report = report
        self.principal = principal
        self.request_id = request_id
        self.tool_name = tool_name
        self._asker = asker or interaction.Asker()

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

    async def log(self, level: str, message: str, data: Any = None) -> None:
        """A log entry at an MCP level (debug, info, notice, warning, error, critical, alert,
        emergency): always in the server log; over MCP also to the client, as
        `notifications/message`, when it asked for that level."""
        interaction.check_level(level)
        _tool_logger.getChild(self.tool_name or "tool").log(
            interaction.PYTHON_LEVELS[level], "%s [request %s]", message, self.request_id
        )
        payload = message if data is None else {"message": message, "data": data}
        await self._asker.log(level, payload, self.tool_name)

    def can_ask(self, method: str) -> bool:
        """Whether asking works on this call: `"elicitation/create"`, `"sampling/createMessage"`
        or `"roots/list"` (the door can ask, and the client declared the capability)."""
        return self._asker.supports(method)

    @property
    def can_elicit(self) -> bool:
        return self.can_ask(interaction.ELICIT)

    @property
    def can_sample(self) -> bool:
        return self.can_ask(interaction.SAMPLE)

    async def elicit(
        self, message: str, schema: dict[str, Any] | type[pydantic.BaseModel], *, key: str = ""
    ) -> mcp_types.ElicitResult:
        """Ask the user for input in a form (`schema`: a flat JSON Schema object of primitive
        properties, or a pydantic model rendered as one). The result's `action` is "accept"
        (with `content`), "decline" or "cancel". `key` names the question (2026 era)."""
        if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
            from mcp.server.elicitation import render_elicitation_schema

            schema = render_elicitation_schema(schema)
        params = {"message": message, "requestedSchema": schema}
        answer = await self._ask(key, interaction.ELICIT, params)
        return mcp_types.ElicitResult.model_validate(answer)

    async def sample(
        self,
        messages: str | list[dict[str, Any]],
        max_tokens: int,
        *,
        key: str = "",
        system_prompt: str | None = None,
        temperature: float | None = None,
        stop_sequences: list[str] | None = None,
        model_preferences: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> mcp_types.CreateMessageResult:
        """Ask the client's model for a completion of `messages` (a text, sent as one user
        message, or `{"role": ..., "content": {...}}` dicts). `key` names the request."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": {"type": "text", "text": messages}}]
        params: dict[str, Any] = {"messages": messages, "maxTokens": max_tokens}
        optional = {
            "systemPrompt": system_prompt,
            "temperature": temperature,
            "stopSequences": stop_sequences,
            "modelPreferences": model_preferences,
            "metadata": metadata,
        }
        params.update({name: value for name, value in optional.items() if value is not None})
        answer = await self._ask(key, interaction.SAMPLE, params)
        return mcp_types.CreateMessageResult.model_validate(answer)

    async def list_roots(self, *, key: str = "") -> list[mcp_types.Root]:
        """The client's roots (the directories or URIs it works in)."""
        answer = await self._ask(key, interaction.LIST_ROOTS, {})
        return mcp_types.ListRootsResult.model_validate(answer).roots

    async def continue_as_task(self) -> None:
        """Where a tool registered with `asks_before_task` has its answers: a 2026-era call
        that asked them as a plain call goes on from here as a task (its reply is the
        `CreateTaskResult`; the task runs the tool again from the start, each question answered
        at once). Anywhere else (in the task itself, a 2025-era session, REST) it returns at
        once and the call goes on as it is."""
        escalation = interaction.ESCALATION.get()
        if escalation is None or escalation.tool != self.tool_name:
            return
        escalation.answers = self._asker.answered()
        raise interaction.ContinueAsTask()

    async def gather(self, *asks: Any) -> list[Any]:
        """Several questions at once (`ctx.gather(ctx.elicit(...), ctx.sample(...))`): one
        round trip in the 2026 era."""
        return await interaction.gather(*asks)

    async def _ask(self, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        key = key or self._asker.next_key(method)
        answer = await self._asker.ask(key, method, params)
        if not isinstance(answer, dict):
            raise interaction.InputUnavailable(f"the client answered {method} with no result")
        return answer


_tool_logger = logging.getLogger("mcp_platform.tool")


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
    # The arguments' validator: a pydantic model derived from the type hints, or, for a tool
    # that declared its `input_schema`, a JSON Schema 2020-12 validator of that schema.
    input_model: type[pydantic.BaseModel] | None
    context_param: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    output_adapter: pydantic.TypeAdapter | None = None
    schema_validator: jsonschema.protocols.Validator | None = None
    # With a declared schema: the arguments the function takes (None: any, it has **kwargs);
    # others the schema lets through are not passed to it.
    takes: frozenset[str] | None = None

    @property
    def input_schema(self) -> dict[str, Any]:
        return self.metadata["input_schema"]

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self.metadata["output_schema"]

    @property
    def task_support(self) -> str:
        return self.metadata["task_support"]

    @functools.cached_property
    def declares_headers(self) -> bool:
        """Whether an argument is mirrored into an `Mcp-Param-*` header (`x-mcp-header`)."""
        return bool(x_mcp_header_map(self.input_schema))


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
        if _is_context(annotation):
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


def _is_context(annotation: Any) -> bool:
    return annotation is ToolContext or ToolContext in typing.get_args(annotation)


def _context_param(func: Callable[..., Any]) -> str | None:
    hints = typing.get_type_hints(func, include_extras=True)
    for param in inspect.signature(func).parameters.values():
        if _is_context(hints.get(param.name, Any)):
            return param.name
    return None


def _takes(func: Callable[..., Any], context_param: str | None) -> frozenset[str] | None:
    """The keyword arguments `func` takes besides its context (None: any, **kwargs)."""
    parameters = inspect.signature(func).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(
        p.name
        for p in parameters
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != context_param
    )


def _declared_schema_validator(
    name: str, func: Callable[..., Any], schema: Any, context_param: str | None
) -> jsonschema.protocols.Validator:
    """A 2020-12 validator of a declared input schema; ToolDefinitionError when the schema is
    not a valid 2020-12 object schema or names properties the function cannot take."""
    if not isinstance(schema, dict):
        raise ToolDefinitionError(f"tool {name!r}: input_schema must be a JSON object")
    dialect = schema.get("$schema", JSON_SCHEMA_DIALECT)
    if dialect != JSON_SCHEMA_DIALECT:
        raise ToolDefinitionError(
            f"tool {name!r}: input_schema must be JSON Schema 2020-12 "
            f"($schema {JSON_SCHEMA_DIALECT!r}), not {dialect!r}"
        )
    if schema.get("type") != "object":
        raise ToolDefinitionError(f'tool {name!r}: input_schema must have "type": "object"')
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(part) for part in exc.path) or "(root)"
        raise ToolDefinitionError(
            f"tool {name!r}: input_schema is not a valid JSON Schema 2020-12 document at "
            f"{where}: {exc.message}"
        ) from None
    takes = _takes(func, context_param)
    properties = set(schema.get("properties") or {})
    if takes is not None and properties - takes:
        raise ToolDefinitionError(
            f"tool {name!r}: input_schema properties {sorted(properties - takes)} are not "
            "parameters of the function (add them, or **kwargs)"
        )
    without_default = {
        p.name
        for p in inspect.signature(func).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name != context_param
        and p.default is inspect.Parameter.empty
    }
    if without_default - properties:
        raise ToolDefinitionError(
            f"tool {name!r}: parameters {sorted(without_default - properties)} have no default "
            "and are not properties of input_schema"
        )
    # Every local $ref resolves now: a dangling one is the author's mistake, not the caller's.
    resource = referencing.jsonschema.DRAFT202012.create_resource(schema)
    resolver = referencing.Registry().with_resource("urn:tool", resource).resolver("urn:tool")
    for ref in _local_refs(schema):
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            raise ToolDefinitionError(
                f"tool {name!r}: input_schema: $ref {ref!r} points at nothing"
            ) from None
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _local_refs(node: Any) -> list[str]:
    """The `$ref`s within the document (`#...`) anywhere in a schema."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        own = [ref] if isinstance(ref, str) and ref.startswith("#") else []
        return own + [ref for value in node.values() for ref in _local_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _local_refs(item)]
    return []


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


def register(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    input_schema: dict[str, Any] | None = None,
    task_support: str = "optional",
    asks_before_task: bool = False,
    **metadata: Any,
) -> ToolSpec:
    """Register `func` as a tool; the keyword arguments are its metadata (see DEFAULT_METADATA).
    `input_schema`, when given, is the tool's JSON Schema 2020-12 input schema, used as is
    instead of the one derived from the type hints. `task_support` (TASK_SUPPORT) says whether
    an MCP call of it may, or must, become a task; `asks_before_task`, that a 2026-era call
    asks its questions first, as a plain call (`InputRequiredResult`), and becomes a task where
    the tool calls `ctx.continue_as_task()` (SEP-2663's composition of the two).

    Raises ToolDefinitionError for a bad name, an unknown metadata key or value, or an
    input schema that is not valid JSON Schema 2020-12 (or an invalid `x-mcp-header`).
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
    if task_support not in TASK_SUPPORT:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: task_support must be one of {', '.join(TASK_SUPPORT)}"
        )
    if asks_before_task and task_support == "forbidden":
        raise ToolDefinitionError(
            f"tool {tool_name!r}: asks_before_task needs a task_support other than 'forbidden'"
        )
    if merged["timeout_seconds"] <= 0:
        raise ToolDefinitionError(f"tool {tool_name!r}: timeout_seconds must be positive")
    validator = None
    if input_schema is None:
        input_model, context_param = _build_input_model(tool_name, func)
        schema = {"$schema": JSON_SCHEMA_DIALECT, **input_model.model_json_schema()}
    else:
        input_model, context_param = None, _context_param(func)
        validator = _declared_schema_validator(tool_name, func, input_schema, context_param)
        schema = {"$schema": JSON_SCHEMA_DIALECT, **input_schema}
    header_problem = find_invalid_x_mcp_header(schema)
    if header_problem:
        raise ToolDefinitionError(f"tool {tool_name!r}: input_schema: {header_problem}")
    output_adapter = _output_adapter(func)
    merged["description"] = description
    merged["input_schema"] = schema
    merged["task_support"] = task_support  # code's alone: not synced into the catalogue
    merged["asks_before_task"] = asks_before_task
    merged["output_schema"] = output_adapter.json_schema() if output_adapter else None
    spec = ToolSpec(
        name=tool_name,
        func=func,
        is_async=inspect.iscoroutinefunction(func),
        input_model=input_model,
        context_param=context_param,
        metadata=merged,
        output_adapter=output_adapter,
        schema_validator=validator,
        takes=_takes(func, context_param) if validator is not None else None,
    )
    _registry[tool_name] = spec
    return spec


def tool(func: Callable[..., Any] | None = None, /, *, name: str | None = None, **metadata: Any):
    """Decorator: `@tool` or `@tool(name=..., category=..., timeout_seconds=..., ...)`;
    `@tool(input_schema={...})` declares a JSON Schema 2020-12 input schema."""

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


# --- Prompts and resources ------------------------------------------------------------------
# Registered beside tools and synced into the catalogue the same way (Prompt, Resource): an
# admin may retitle, redescribe, enable or disable them; the code renders or reads them.

URI_VARIABLE_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# What a completion source may be: a fixed list of values, or a function of the partial value
# (and the other arguments already given) returning candidates.
Completions = dict[str, list[str] | Callable[..., Any]]


@dataclass(frozen=True)
class PromptSpec:
    """A prompt rendered by code: `func(**arguments)` returns a text (one user message) or a
    list of messages ({"role": ..., "content": ...} or MCP `PromptMessage`s)."""

    name: str
    func: Callable[..., Any]
    is_async: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    completions: Completions = field(default_factory=dict)
    # A parameter annotated ToolContext: the prompt may ask the caller (MCP) for input.
    context_param: str | None = None


@dataclass(frozen=True)
class ResourceSpec:
    """A resource read by code: `func(**variables)` returns text (str, or a dict/list sent as
    JSON) or bytes (sent as a base64 blob). `uri` is fixed, or a template with `{variables}`."""

    name: str
    uri: str
    func: Callable[..., Any]
    is_async: bool
    is_template: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    completions: Completions = field(default_factory=dict)

    @property
    def variables(self) -> list[str]:
        return URI_VARIABLE_RE.findall(self.uri)

    def match(self, uri: str) -> dict[str, str] | None:
        """The template's variables in `uri`, or None when it does not fit (a variable
        matches one path segment: no '/')."""
        if not self.is_template:
            return {} if uri == self.uri else None
        pattern = "".join(
            f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part)
            for index, part in enumerate(URI_VARIABLE_RE.split(self.uri))
        )
        found = re.fullmatch(pattern, uri)
        return found.groupdict() if found else None


_prompts: dict[str, PromptSpec] = {}
_resources: dict[str, ResourceSpec] = {}


def _prompt_arguments(func: Callable[..., Any]) -> list[dict[str, Any]]:
    """The prompt's arguments from its signature: every parameter is a string argument,
    required unless it has a default (but a ToolContext one)."""
    context = _prompt_context_param(func)
    return [
        {"name": param.name, "description": "", "required": param.default is param.empty}
        for param in inspect.signature(func).parameters.values()
        if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD) and param.name != context
    ]


def _prompt_context_param(func: Callable[..., Any]) -> str | None:
    hints = typing.get_type_hints(func)
    for name, annotation in hints.items():
        if annotation is ToolContext or ToolContext in typing.get_args(annotation):
            return name
    return None


def register_prompt(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    title: str = "",
    description: str | None = None,
    arguments: dict[str, str] | None = None,
    completions: Completions | None = None,
) -> PromptSpec:
    """Register `func` as a prompt; `arguments` maps argument names to their descriptions."""
    prompt_name = name or func.__name__
    if not NAME_RE.match(prompt_name):
        raise ToolDefinitionError(f"prompt name {prompt_name!r} does not match {NAME_PATTERN}")
    declared = _prompt_arguments(func)
    known = {argument["name"] for argument in declared}
    unknown = (set(arguments or {}) | set(completions or {})) - known
    if unknown:
        raise ToolDefinitionError(f"prompt {prompt_name!r}: unknown arguments {sorted(unknown)}")
    for argument in declared:
        argument["description"] = (arguments or {}).get(argument["name"], "")
    spec = PromptSpec(
        name=prompt_name,
        func=func,
        is_async=inspect.iscoroutinefunction(func),
        metadata={
            "title": title,
            "description": description or _description(func),
            "arguments": declared,
        },
        completions=dict(completions or {}),
        context_param=_prompt_context_param(func),
    )
    _prompts[prompt_name] = spec
    return spec


def prompt(func: Callable[..., Any] | None = None, /, **options: Any):
    """Decorator: `@prompt` or `@prompt(name=..., title=..., arguments={...}, completions={...})`."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        register_prompt(f, **options)
        return f

    return decorate(func) if func is not None else decorate


def register_resource(
    func: Callable[..., Any],
    *,
    uri: str,
    template: bool = False,
    name: str | None = None,
    title: str = "",
    description: str | None = None,
    mime_type: str = "text/plain",
    completions: Completions | None = None,
) -> ResourceSpec:
    resource_name = name or func.__name__
    if not NAME_RE.match(resource_name):
        raise ToolDefinitionError(f"resource name {resource_name!r} does not match {NAME_PATTERN}")
    if "://" not in uri:
        raise ToolDefinitionError(f"resource {resource_name!r}: {uri!r} is not a URI")
    variables = URI_VARIABLE_RE.findall(uri)
    if template != bool(variables):
        kind = "a URI template needs {variables}" if template else "use @resource_template"
        raise ToolDefinitionError(f"resource {resource_name!r}: {uri!r}: {kind}")
    parameters = {
        p.name
        for p in inspect.signature(func).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    if set(variables) != parameters:
        raise ToolDefinitionError(
            f"resource {resource_name!r}: parameters {sorted(parameters)} must be the URI's "
            f"variables {sorted(variables)}"
        )
    if set(completions or {}) - set(variables):
        raise ToolDefinitionError(f"resource {resource_name!r}: completions for unknown variables")
    spec = ResourceSpec(
        name=resource_name,
        uri=uri,
        func=func,
        is_async=inspect.iscoroutinefunction(func),
        is_template=template,
        metadata={
            "title": title,
            "description": description or _description(func),
            "mime_type": mime_type,
        },
        completions=dict(completions or {}),
    )
    _resources[resource_name] = spec
    return spec


def resource(uri: str, **options: Any):
    """Decorator: `@resource("platform://status", mime_type="application/json")`."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        register_resource(f, uri=uri, **options)
        return f

    return decorate


def resource_template(uri_template: str, **options: Any):
    """Decorator: `@resource_template("platform://tools/{name}", completions={"name": ...})`;
    the function's parameters are the template's variables."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        register_resource(f, uri=uri_template, template=True, **options)
        return f

    return decorate


def get_prompt_spec(name: str) -> PromptSpec | None:
    return _prompts.get(name)


def all_prompt_specs() -> dict[str, PromptSpec]:
    return dict(_prompts)


def get_resource_spec(name: str) -> ResourceSpec | None:
    return _resources.get(name)


def all_resource_specs() -> dict[str, ResourceSpec]:
    return dict(_resources)


def unregister_prompt(name: str) -> None:
    _prompts.pop(name, None)


def unregister_resource(name: str) -> None:
    _resources.pop(name, None)
