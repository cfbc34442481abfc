"""The call service: the one door every tool call goes through (REST, MCP, P2P, jobs).

`call_tool` finds the tool, checks the caller, validates the arguments, runs the tool on its
runtime with its timeout and retry policy, records the call and returns one `ToolResult`.
It runs on asyncio (web process) and on Trio (Trio runtime) alike, through anyio.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import pydantic

from apps.access.principals import SCOPE_CALL, Principal
from apps.audit import calls as audit_calls
from apps.audit.context import acting_for_tool
from apps.tools import call_log, metrics, registry
from apps.tools.models import Outcome, Tool
from mcp_platform.concurrency import run_blocking, run_sync_tool

logger = logging.getLogger(__name__)

RETRY_BASE_DELAY = 0.1  # seconds; the first retry's delay under every policy


class CallError(Exception):
    """A call that could not be made (as opposed to a tool that ran and failed)."""

    status_code = 400
    jsonrpc_code = -32603
    outcome = Outcome.ERROR

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


class ToolNotFound(CallError):
    status_code = 404
    jsonrpc_code = -32601
    outcome = Outcome.NOT_FOUND


class InvalidArguments(CallError):
    status_code = 422
    jsonrpc_code = -32602
    outcome = Outcome.INVALID


class CallDenied(CallError):
    status_code = 403
    jsonrpc_code = -32001
    outcome = Outcome.DENIED


class RuntimeUnavailable(CallError):
    status_code = 503
    jsonrpc_code = -32002
    outcome = Outcome.UNAVAILABLE


@dataclass
class ToolResult:
    """What every call returns: MCP content blocks, structured content, and whether it failed."""

    content: list[dict[str, Any]]
    structured_content: dict[str, Any] | None = None
    is_error: bool = False
    outcome: str = Outcome.SUCCESS
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(
            block.get("text", "") for block in self.content if block.get("type") == "text"
        )

    def to_mcp(self) -> dict[str, Any]:
        """The MCP `CallToolResult` shape."""
        reply: dict[str, Any] = {"content": self.content, "isError": self.is_error}
        if self.structured_content is not None:
            reply["structuredContent"] = self.structured_content
        return reply

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_mcp(), "outcome": self.outcome, "meta": self.meta}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolResult:
        return cls(
            content=data["content"],
            structured_content=data.get("structuredContent"),
            is_error=data["isError"],
            outcome=data["outcome"],
            meta=data.get("meta", {}),
        )

    @classmethod
    def error(cls, message: str, outcome: str = Outcome.ERROR) -> ToolResult:
        return cls(content=[{"type": "text", "text": message}], is_error=True, outcome=outcome)


@dataclass(frozen=True)
class CallRequest:
    """A validated call, ready to run on a runtime."""

    tool: Tool
    spec: registry.ToolSpec
    arguments: dict[str, Any]
    principal: Principal
    via: str
    request_id: str
    progress: Any = None


def validate_arguments(spec: registry.ToolSpec, arguments: Any) -> dict[str, Any]:
    """The arguments as the tool's signature takes them; InvalidArguments names each field."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidArguments(
            f"Invalid arguments for tool '{spec.name}': expected a JSON object, "
            f"got {type(arguments).__name__}",
            errors=[{"field": "", "problem": "arguments must be a JSON object"}],
        )
    try:
        model = spec.input_model.model_validate(arguments)
    except pydantic.ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(part) for part in err["loc"]) or "(arguments)",
                "problem": err["msg"],
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['problem']}" for e in errors)
        raise InvalidArguments(
            f"Invalid arguments for tool '{spec.name}': {summary}", errors=errors
        ) from None
    values = dict(model)
    if model.model_extra:
        values.update(model.model_extra)
    return values


def _result_from_return(spec: registry.ToolSpec, value: Any) -> ToolResult:
    if spec.output_adapter is not None:
        structured = spec.output_adapter.dump_python(
            spec.output_adapter.validate_python(value), mode="json"
        )
        return ToolResult(content=[_text_block(structured)], structured_content=structured)
    if isinstance(value, ToolResult):
        return value
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        structured = json.loads(json.dumps(value, default=str))
        return ToolResult(content=[_text_block(structured)], structured_content=structured)
    return ToolResult(content=[_text_block(value)])


def _text_block(value: Any) -> dict[str, Any]:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return {"type": "text", "text": text}


def retry_delay(policy: str, attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1-based) under `policy`."""
    if policy == "fixed":
        return RETRY_BASE_DELAY
    if policy == "linear":
        return RETRY_BASE_DELAY * attempt
    if policy == "exponential":
        return RETRY_BASE_DELAY * 2 ** (attempt - 1)
    return math.inf


async def run_locally(request: CallRequest) -> ToolResult:
    """Run the tool in this process, on the running loop (sync tools in a worker thread).

    The timeout bounds each attempt. Only idempotent tools are retried, and only after an
    exception (never after a timeout), at most `max_retries` times, spaced per the policy.
    """
    tool, spec = request.tool, request.spec
    kwargs = dict(request.arguments)
    if spec.context_param:
        kwargs[spec.context_param] = registry.ToolContext(
            request.progress, principal=request.principal, request_id=request.request_id
        )
    retries = tool.max_retries if tool.idempotent_hint and tool.retry_policy != "none" else 0
    attempt = 0
    while True:
        attempt += 1
        try:
            with (
                anyio.fail_after(tool.timeout_seconds),
                acting_for_tool(request.principal.name, tool.name),
            ):
                if spec.is_async:
                    value = await spec.func(**kwargs)
                else:
                    value = await run_sync_tool(lambda: spec.func(**kwargs))
            result = _result_from_return(spec, value)
        except TimeoutError:
            result = ToolResult.error(
                f"Tool '{tool.name}' timed out after {tool.timeout_seconds:g}s", Outcome.TIMEOUT
            )
        except Exception as exc:
            logger.info("tool %s failed on attempt %d: %r", tool.name, attempt, exc)
            if attempt <= retries:
                await anyio.sleep(retry_delay(tool.retry_policy, attempt))
                continue
            result = ToolResult.error(f"Tool '{tool.name}' failed: {type(exc).__name__}: {exc}")
        result.meta["attempts"] = attempt
        return result


async def dispatch(request: CallRequest) -> ToolResult:
    """Run a validated call on the runtime routing chooses for it (locally, or over the bridge
    to the Trio runtime, with fallback); raises RuntimeUnavailable."""
    from apps.routing.dispatch import dispatch as routed_dispatch

    return await routed_dispatch(request, run_locally=run_locally)


def _lookup(name: str) -> tuple[Tool | None, registry.ToolSpec | None]:
    from apps.routing.selectors import find_tool_for_call

    # The same one query also reads the routing version, so routing needs no query of its own.
    tool = find_tool_for_call(name)
    if tool is None:
        return None, None
    return tool, registry.get_spec(tool.name)


async def prepare_call(
    name: str, arguments: Any, principal: Principal, via: str, request_id: str, progress: Any = None
) -> CallRequest:
    """Find, authorise and validate; raises ToolNotFound, CallDenied or InvalidArguments."""
    if not isinstance(name, str) or not registry.NAME_RE.match(name):
        raise ToolNotFound(f"Tool '{name}' not found")
    tool, spec = await run_blocking(_lookup, name)
    if tool is None or spec is None or not tool.callable:
        raise ToolNotFound(f"Tool '{name}' not found")
    if not principal.has_scope(SCOPE_CALL):
        raise CallDenied(f"Caller '{principal.name}' lacks the '{SCOPE_CALL}' scope")
    if not principal.may_use_tool(tool.name):
        raise CallDenied(f"Caller '{principal.name}' may not call tool '{tool.name}'")
    if tool.required_scope and not principal.has_scope(tool.required_scope):
        raise CallDenied(f"Tool '{tool.name}' needs the '{tool.required_scope}' scope")
    return CallRequest(
        tool=tool,
        spec=spec,
        arguments=validate_arguments(spec, arguments),
        principal=principal,
        via=via,
        request_id=request_id,
        progress=progress,
    )


async def call_tool(
    name: str,
    arguments: Any,
    principal: Principal,
    via: str,
    *,
    request_id: str | None = None,
    progress: Any = None,
) -> ToolResult:
    """Call a tool: the one entry point. Tool failures and timeouts come back as results with
    `is_error`; a call that cannot be made raises a CallError subclass (ToolNotFound,
    CallDenied, InvalidArguments, RuntimeUnavailable)."""
    request_id = request_id or uuid.uuid4().hex
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    runtime = ""
    outcome = Outcome.ERROR
    error = ""
    meta: dict[str, Any] = {}
    try:
        request = await prepare_call(name, arguments, principal, via, request_id, progress)
        name = request.tool.name
        result = await dispatch(request)
        meta = result.meta
        runtime = meta.get("runtime", "")
        outcome = result.outcome
        error = result.text if result.is_error else ""
        result.meta["request_id"] = request_id
        result.meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return result
    except CallError as exc:
        outcome = exc.outcome
        error = exc.message
        raise
    except anyio.get_cancelled_exc_class():
        outcome = Outcome.CANCELLED
        error = "cancelled by the caller"
        raise
    finally:
        seconds = time.perf_counter() - started
        # Unknown names stay out of metric labels: junk must not grow the label set.
        label = "(unknown)" if outcome == Outcome.NOT_FOUND else name
        metrics.observe_call(tool=label, runtime=runtime, outcome=outcome, seconds=seconds)
        if meta.get("fallback"):
            metrics.FALLBACKS.labels(name).inc()
        call_log.record(
            call_log.CallRecord(
                tool_name=str(name)[:128],
                runtime=runtime,
                caller=principal.name[:200],
                via=via,
                request_id=request_id,
                started_at=started_at,
                duration_ms=round(seconds * 1000, 3),
                outcome=outcome,
                error=error[:2000],
                attempts=meta.get("attempts", 1),
                fallback=bool(meta.get("fallback")),
                pid=meta.get("pid"),
            )
        )
        audit_calls.tool_called(
            tool=str(name)[:128],
            caller=principal.name,
            via=via,
            runtime=runtime,
            outcome=outcome,
            duration_ms=round(seconds * 1000, 3),
            request_id=request_id,
            started_at=started_at,
            arguments=arguments,
        )
