"""Prompts and resources served to callers: render a prompt, read a resource, complete an
argument. Every door (MCP, and any later one) enters here; the catalogue rows decide what is
served (enabled, code present), the registry's code renders or reads it.

Reading prompts and resources needs `tools:read`, like listing tools.
"""

from __future__ import annotations

import base64
import inspect
import json
import re
from collections.abc import Callable
from typing import Any

from apps.access.principals import SCOPE_READ, Principal
from apps.tools import interaction, registry, selectors
from apps.tools.models import Prompt, Resource
from mcp_platform.concurrency import run_blocking

MAX_COMPLETIONS = 100  # MCP caps a completion's values at 100
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ContentError(Exception):
    """A prompt or resource request that cannot be served; `kind` says why."""

    kind = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ContentNotFound(ContentError):
    kind = "not_found"


class ContentDenied(ContentError):
    kind = "denied"


class InvalidContentArguments(ContentError):
    kind = "invalid"


class ContentNeedsInput(ContentError):
    """A prompt asked its caller for input it cannot give (`unavailable`: InputUnavailable)."""

    kind = "invalid"

    def __init__(self, message: str, unavailable: interaction.InputUnavailable):
        super().__init__(message)
        self.unavailable = unavailable


class ContentInputRequired(Exception):
    """2026-07-28: the prompt asked the client ({"requests", "state"}: `pending`)."""

    def __init__(self, pending: dict[str, Any]):
        super().__init__("input required")
        self.pending = pending


def require_read(principal: Principal) -> None:
    if not principal.has_scope(SCOPE_READ):
        raise ContentDenied(f"caller '{principal.name}' lacks scope '{SCOPE_READ}'")


async def _run(func: Callable[..., Any], **kwargs: Any) -> Any:
    if inspect.iscoroutinefunction(func):
        return await func(**kwargs)
    return await run_blocking(func, **kwargs)


def render_template(template: str, arguments: dict[str, str]) -> str:
    """Replace `{name}` placeholders with the arguments; unknown placeholders stay as written.
    (Not str.format: an admin's template must not reach attributes of the values.)"""
    return PLACEHOLDER_RE.sub(lambda m: arguments.get(m.group(1), m.group(0)), template)


def _messages(rendered: Any) -> list[dict[str, Any]]:
    """A prompt function's return value as MCP prompt messages."""
    if isinstance(rendered, str):
        rendered = [{"role": "user", "content": rendered}]
    messages = []
    for message in rendered:
        if hasattr(message, "model_dump"):
            message = message.model_dump(by_alias=True, exclude_none=True)
        content = message["content"]
        if isinstance(content, str):
            content = {"type": "text", "text": content}
        messages.append({"role": message.get("role", "user"), "content": content})
    return messages


def _check_arguments(prompt: Prompt, arguments: dict[str, str]) -> None:
    declared = {argument["name"]: argument for argument in prompt.arguments or []}
    unknown = sorted(set(arguments) - set(declared))
    if unknown:
        raise InvalidContentArguments(f"prompt '{prompt.name}': unknown arguments {unknown}")
    absent = sorted(
        name
        for name, argument in declared.items()
        if argument.get("required") and name not in arguments
    )
    if absent:
        raise InvalidContentArguments(f"prompt '{prompt.name}': missing arguments {absent}")


async def get_prompt(
    name: str,
    arguments: dict[str, str],
    principal: Principal,
    asker: interaction.Asker | None = None,
) -> dict[str, Any]:
    """The rendered prompt (`prompts/get`'s result as a dict). Raises ContentError, and
    ContentInputRequired when a prompt with a ToolContext asks the caller (2026 MCP era)."""
    require_read(principal)
    prompt = await run_blocking(lambda: selectors.servable_prompts().filter(name=name).first())
    if prompt is None:
        raise InvalidContentArguments(f"Unknown prompt: {name}")  # MCP: -32602 for an unknown name
    _check_arguments(prompt, arguments)
    if prompt.from_code:
        spec = registry.get_prompt_spec(prompt.name)
        if spec is None:
            raise ContentNotFound(f"Unknown prompt: {name}")
        kwargs: dict[str, Any] = dict(arguments)
        if spec.context_param:
            asker = asker or interaction.Asker("this door cannot ask the caller for input")
            kwargs[spec.context_param] = registry.ToolContext(
                principal=principal, tool_name=prompt.name, asker=asker
            )
        try:
            messages = _messages(await _run(spec.func, **kwargs))
        except interaction.InputRequired:
            pending = asker.pending_result() if asker is not None else None
            if pending is None:
                raise
            raise ContentInputRequired(pending) from None
        except interaction.InputUnavailable as exc:
            raise ContentNeedsInput(
                f"prompt '{prompt.name}' needs input from its caller, but {exc.message}", exc
            ) from None
    else:
        messages = _messages(render_template(prompt.template, arguments))
    return {"description": prompt.description, "messages": messages}


def _contents(uri: str, mime_type: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bytes | bytearray):
        return {"uri": uri, "mimeType": mime_type, "blob": base64.b64encode(value).decode()}
    if not isinstance(value, str):
        value = json.dumps(value, default=str)
    return {"uri": uri, "mimeType": mime_type, "text": value}


def _match(uri: str) -> tuple[Resource, registry.ResourceSpec, dict[str, str]] | None:
    fixed = selectors.servable_resources(templates=False).filter(uri=uri).first()
    candidates = [fixed] if fixed else list(selectors.servable_resources(templates=True))
    for resource in candidates:
        spec = registry.get_resource_spec(resource.name)
        if spec is None:
            continue
        # The admin may have edited the URI: match on the catalogue's, read with the code.
        variables = registry.ResourceSpec(
            name=spec.name,
            uri=resource.uri,
            func=spec.func,
            is_async=spec.is_async,
            is_template=spec.is_template,
        ).match(uri)
        if variables is not None and set(variables) == set(spec.variables):
            return resource, spec, variables
    return None


async def read_resource(uri: str, principal: Principal) -> dict[str, Any]:
    """`resources/read`'s result as a dict: text, or a base64 blob for bytes. Raises
    ContentError."""
    require_read(principal)
    found = await run_blocking(_match, uri)
    if found is None:
        raise ContentNotFound(f"Resource not found: {uri}")
    resource, spec, variables = found
    try:
        value = await _run(spec.func, **variables)
    except LookupError:  # a template's code saying "no such thing here"
        raise ContentNotFound(f"Resource not found: {uri}") from None
    return {"contents": [_contents(uri, resource.mime_type, value)]}


async def _candidates(source: Any, value: str, context: dict[str, str]) -> list[str]:
    if source is None:
        return []
    if callable(source):
        wanted = inspect.signature(source).parameters
        kwargs = {"context": context} if "context" in wanted else {}
        found = (
            await _run(source, value=value, **kwargs)
            if "value" in wanted
            else await _run(source, **kwargs)
        )
    else:
        found = source
    return [str(candidate) for candidate in found]


async def complete(
    *,
    ref_type: str,
    ref: str,
    argument: str,
    value: str,
    context: dict[str, str],
    principal: Principal,
) -> dict[str, Any]:
    """Completion values for a prompt argument (`ref_type` "prompt", `ref` its name) or a
    resource template variable ("resource", `ref` the URI template): those starting with
    `value`, at most 100. An unknown ref is ContentNotFound."""
    require_read(principal)
    source: Any = None
    if ref_type == "prompt":
        prompt = await run_blocking(lambda: selectors.servable_prompts().filter(name=ref).first())
        if prompt is None:
            raise InvalidContentArguments(f"Unknown prompt: {ref}")
        spec = registry.get_prompt_spec(prompt.name) if prompt.from_code else None
        source = spec.completions.get(argument) if spec else None
        if source is None:
            declared = {a["name"]: a for a in prompt.arguments or []}
            source = declared.get(argument, {}).get("values")
    else:
        resource = await run_blocking(
            lambda: selectors.servable_resources(templates=True).filter(uri=ref).first()
        )
        if resource is None:
            raise ContentNotFound(f"Unknown resource template: {ref}")
        spec = registry.get_resource_spec(resource.name)
        source = spec.completions.get(argument) if spec else None
    matches = [c for c in await _candidates(source, value, context) if c.startswith(value)]
    return {
        "values": matches[:MAX_COMPLETIONS],
        "total": len(matches),
        "hasMore": len(matches) > MAX_COMPLETIONS,
    }
