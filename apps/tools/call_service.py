"""The call path: the one way every tool call is made (REST, both MCP endpoints, P2P, jobs,
queued tasks). Each step, in order:

- find: `prepare_call` looks the tool up (`_lookup`);
- authorize: `prepare_call` checks the principal's scope and tool patterns; `call_tool` then
  asks the rate and concurrency limits (`admit`, apps.ratelimits);
- validate: `validate_arguments` against the tool's input model (or its declared JSON Schema);
- route: `dispatch` asks routing (`apps.routing.router`, pure) where it runs and whether a
  failed bridge may fall back;
- run: `run_locally` here, or `apps.routing.bridge` to the Trio runtime (`run_bridged` there);
- record: `call_tool` records metrics and the call log (batched, off the call path).

Each step is a span when tracing is on (mcp_platform.tracing): `call` (the door's, a child of
the caller's trace context) holding `authorize`, `route`, `bridge` or `tool`, and `record`.

It runs on asyncio (web process) and on Trio (Trio runtime) alike, through anyio. A call that
cannot be made raises a `CallError` (apps.tools.call_errors, with the one table of how each kind
leaves every door).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import jsonschema
import pydantic
import sniffio

from apps.access.principals import SCOPE_CALL, Principal
from apps.audit import calls as audit_calls
from apps.audit.context import acting_for_tool
from apps.ratelimits import limiter as rate_limiter
from apps.routing import bridge
from apps.routing import metrics as routing_metrics
from apps.routing.router import ASYNCIO, TRIO, RoutingTable, explain_route, fallback_decision
from apps.routing.router import cache as routing_cache
from apps.routing.selectors import ROUTING_VERSION
from apps.tools import call_log, interaction, metrics, registry
from apps.tools.call_errors import (
    CallDenied,
    CallError,
    InvalidArguments,
    RateLimited,
    RuntimeUnavailable,
    ToolNotFound,
    from_kind,
)
from apps.tools.models import Outcome, Tool
from mcp_platform import tracing
from mcp_platform.backoff import backoff_delay
from mcp_platform.concurrency import run_blocking, run_sync_tool
from mcp_platform.versions import Stamp

__all__ = [
    "CallDenied",
    "CallError",
    "CallRequest",
    "InvalidArguments",
    "RateLimited",
    "RunPlan",
    "RuntimeUnavailable",
    "ToolNotFound",
    "ToolResult",
    "call_tool",
    "prepare_call",
]

logger = logging.getLogger(__name__)

ToolFilter = Callable[[Tool], bool]

RETRY_BASE_DELAY = 0.1  # seconds; the first retry's delay under every policy


@dataclass
class ToolResult:
    """What every call returns: MCP content blocks, structured content, and whether it failed."""

    content: list[dict[str, Any]]
    structured_content: dict[str, Any] | None = None
    is_error: bool = False
    outcome: str = Outcome.SUCCESS
    meta: dict[str, Any] = field(default_factory=dict)
    # Ran in another process (the Trio runtime), which recorded it: this side must not.
    recorded_elsewhere: bool = field(default=False, compare=False)
    # 2026-07-28 MCP: the tool stopped to ask the client ({"requests": ..., "state": ...},
    # apps.tools.interaction); the door answers with an InputRequiredResult.
    input_required: dict[str, Any] | None = field(default=None, compare=False)

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
class RunPlan:
    """How a call runs: each attempt's timeout and the retries, computed once per call (here,
    from the tool row) and carried over the bridge, so no side works them out again."""

    tool_name: str
    timeout_seconds: float
    retry_policy: str = "none"
    retries: int = 0  # only idempotent tools are retried

    @classmethod
    def of(cls, tool: Tool) -> RunPlan:
        retried = tool.idempotent_hint and tool.retry_policy != "none"
        return cls(
            tool_name=tool.name,
            timeout_seconds=tool.timeout_seconds,
            retry_policy=tool.retry_policy,
            retries=tool.max_retries if retried else 0,
        )

    @property
    def attempts(self) -> int:
        return 1 + self.retries

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        return retry_delay(self.retry_policy, attempt)

    @property
    def budget(self) -> float:
        """Seconds the call may take in all: each attempt's timeout plus the retry delays."""
        delays = sum(self.delay(n) for n in range(1, self.attempts))
        return self.timeout_seconds * self.attempts + delays

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool_name,
            "timeout_seconds": self.timeout_seconds,
            "retry_policy": self.retry_policy,
            "retries": self.retries,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunPlan:
        return cls(
            tool_name=str(data["tool"]),
            timeout_seconds=float(data["timeout_seconds"]),
            retry_policy=str(data["retry_policy"]),
            retries=int(data["retries"]),
        )


@dataclass(frozen=True)
class CallRequest:
    """A checked call, ready to run on a runtime. `tool` is None on the Trio runtime's side of
    a bridged call (the web side routed it; the plan carries what running it needs)."""

    tool: Tool | None
    spec: registry.ToolSpec
    arguments: dict[str, Any]
    principal: Principal
    via: str
    request_id: str
    plan: RunPlan
    progress: Any = None
    # The arguments as the caller sent them (JSON), forwarded over the bridge.
    raw_arguments: Any = None
    # What happened to it on the way (dispatch notes `bridged` once it is handed to the runtime).
    trace: dict[str, Any] = field(default_factory=dict, compare=False)
    # The door's way back to the caller (log entries, questions: apps.tools.interaction);
    # None where the door cannot ask.
    asker: interaction.Asker | None = field(default=None, compare=False)


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
    if spec.schema_validator is not None:  # a declared JSON Schema 2020-12 input schema
        return _validate_against_schema(spec, arguments)
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


def _validate_against_schema(spec: registry.ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments checked against the tool's declared schema; InvalidArguments names each
    failing place (`address.city`, or `(arguments)` for the object itself)."""
    failures = sorted(spec.schema_validator.iter_errors(arguments), key=lambda e: list(e.path))
    if not failures:  # what the schema lets through and the function does not take is dropped
        return {k: v for k, v in arguments.items() if spec.takes is None or k in spec.takes}
    errors = [
        {
            "field": ".".join(str(part) for part in err.path) or "(arguments)",
            "problem": _schema_problem(err),
        }
        for err in failures
    ]
    summary = "; ".join(f"{e['field']}: {e['problem']}" for e in errors)
    raise InvalidArguments(f"Invalid arguments for tool '{spec.name}': {summary}", errors=errors)


def _schema_problem(error: Any) -> str:
    """A failure of a combinator (`anyOf`, `if`/`then`) said through its most telling cause."""
    if error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return f"{error.message}: {best.message}" if best.path == error.path else error.message
    return error.message


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
    """Seconds to wait before retry number `attempt` (1-based) under `policy` ("none": inf)."""
    return backoff_delay(attempt, base=RETRY_BASE_DELAY, policy=policy)


async def run_locally(request: CallRequest) -> ToolResult:
    """Run the tool in this process, on the running loop (sync tools in a worker thread).

    The timeout bounds each attempt. Only idempotent tools are retried, and only after an
    exception (never after a timeout), at most `plan.retries` times, spaced per the policy.
    """
    plan, spec = request.plan, request.spec
    kwargs = dict(request.arguments)
    asker = door_asker(request)
    if spec.context_param:
        kwargs[spec.context_param] = registry.ToolContext(
            request.progress,
            principal=request.principal,
            request_id=request.request_id,
            tool_name=plan.tool_name,
            asker=asker,
        )
    attempt = 0
    while True:
        attempt += 1
        try:
            with (
                tracing.span(f"tool {plan.tool_name}", tool=plan.tool_name, attempt=attempt),
                anyio.fail_after(plan.timeout_seconds),
                acting_for_tool(request.principal.name, plan.tool_name),
            ):
                if spec.is_async:
                    value = await spec.func(**kwargs)
                else:
                    value = await run_sync_tool(lambda: spec.func(**kwargs))
            result = _result_from_return(spec, value)
        except TimeoutError:
            result = ToolResult.error(
                f"Tool '{plan.tool_name}' timed out after {plan.timeout_seconds:g}s",
                Outcome.TIMEOUT,
            )
        except interaction.InputRequired:
            pending = asker.pending_result()
            if pending is None:  # raised by the tool itself, not by a question
                result = ToolResult.error(f"Tool '{plan.tool_name}' failed: InputRequired")
            else:
                result = ToolResult(content=[], input_required=pending)
        except interaction.ContinueAsTask:
            # The tasks middleware makes the task (interaction.ESCALATION): this run is over.
            result = ToolResult(content=[{"type": "text", "text": "continued as a task"}])
        except interaction.InputUnavailable as exc:  # not retried: asking again cannot help
            result = ToolResult.error(
                f"Tool '{plan.tool_name}' needs input from its caller, but {exc.message}"
            )
            result.meta["input_unavailable"] = {
                "reason": exc.message,
                "missing_capability": exc.missing_capability,
            }
        except CallError:
            # The tool says its call could not be made (a protocol-level error, not a tool
            # error): it leaves each door as the table in apps.tools.call_errors says, and a
            # task of it is `failed`. Not retried.
            raise
        except Exception as exc:
            logger.info("tool %s failed on attempt %d: %r", plan.tool_name, attempt, exc)
            if attempt <= plan.retries:
                await anyio.sleep(plan.delay(attempt))
                continue
            result = ToolResult.error(
                f"Tool '{plan.tool_name}' failed: {type(exc).__name__}: {exc}"
            )
        result.meta["attempts"] = attempt
        return result


def door_asker(request: CallRequest) -> interaction.Asker:
    """The call's way back to its caller: its door's asker, or one that says it cannot ask."""
    return request.asker or interaction.Asker(
        f"this door ({request.via}) cannot ask the caller for input: call the tool over MCP"
    )


def _stamp(result: ToolResult, *, runtime: str, fallback: bool, version: int) -> ToolResult:
    result.meta["runtime"] = runtime
    result.meta.setdefault("pid", os.getpid())
    result.meta["fallback"] = fallback
    result.meta["routing_version"] = version
    return result


async def _routing_table(tool: Tool) -> RoutingTable:
    """The table at the version the tool was read with; no query when it is cached."""
    version = getattr(tool, "routing_version", None)
    table = routing_cache.peek(version)
    if table is None:
        table = await run_blocking(routing_cache.get, version)
    return table


async def dispatch(request: CallRequest) -> ToolResult:
    """Run a checked call where routing says: here, or over the bridge on the Trio runtime
    (falling back to asyncio only when the runtime provably did not start it and routing allows
    it). Raises RuntimeUnavailable when it can run nowhere. Nothing runs twice."""
    if sniffio.current_async_library() == "trio":
        # Inside the Trio runtime every call runs here, on Trio.
        served = routing_cache.table.version if routing_cache.table is not None else 0
        return _stamp(await run_locally(request), runtime=TRIO, fallback=False, version=served)

    tool = request.tool
    assert tool is not None  # only the Trio side runs requests without a tool row
    with tracing.span("route", tool=tool.name):
        table = await _routing_table(tool)
        runtime = explain_route(tool, table).runtime
    if runtime != TRIO:
        return _stamp(
            await run_locally(request), runtime=ASYNCIO, fallback=False, version=table.version
        )
    try:
        if not table.trio_enabled:
            raise bridge.NotStarted("the Trio runtime is disabled in the runtime settings")
        request.trace["bridged"] = True  # from here the runtime records it if it runs
        asker = door_asker(request)
        escalation = interaction.ESCALATION.get()
        with tracing.span("bridge", kind=tracing.trace.SpanKind.CLIENT, tool=tool.name):
            payload = await bridge.call(
                arguments=request.raw_arguments,
                principal=request.principal,
                via=request.via,
                request_id=request.request_id,
                plan=request.plan.as_dict(),
                budget=request.plan.budget,
                connect_timeout=table.fallback_timeout,
                on_note=bridge_notes(request, asker),
                askable=[m for m in interaction.CAPABILITY if asker.supports(m)],
                escalate=escalation is not None and escalation.tool == tool.name,
            )
    except bridge.NotStarted as exc:
        request.trace["bridged"] = False  # the runtime never had it
        fallback = fallback_decision(tool, table)
        if fallback.allowed:
            logger.warning("tool %s falls back to asyncio: %s", tool.name, exc.reason)
            result = await run_locally(request)
            result.meta["fallback_reason"] = exc.reason
            return _stamp(result, runtime=ASYNCIO, fallback=True, version=table.version)
        routing_metrics.RUNTIME_UNAVAILABLE.labels(TRIO).inc()
        raise RuntimeUnavailable(
            f"Runtime 'trio' unavailable for tool '{tool.name}': {exc.reason}; "
            f"it cannot run on asyncio because {fallback.why_not}",
            runtime=TRIO,
            fallback=False,
        ) from None
    except bridge.MaybeStarted as exc:
        routing_metrics.RUNTIME_UNAVAILABLE.labels(TRIO).inc()
        unavailable = RuntimeUnavailable(
            f"Runtime 'trio' unavailable: it failed during the call of tool '{tool.name}' "
            f"({exc.reason}); the call may have started, so it is not run again",
            runtime=TRIO,
            fallback=False,
        )
        # If it ran, the runtime recorded it (its row says how it ended): one row per call.
        unavailable.recorded_elsewhere = True
        raise unavailable from None
    except bridge.RemoteCallError as exc:
        raise from_kind(exc.kind, exc.message, exc.details) from None
    result = ToolResult.from_dict(payload)
    # The tool's questions were asked of this side's asker (bridge_notes), which holds them.
    if payload.get("input_required"):
        result.input_required = asker.pending_result()
    if payload.get("continued_as_task") and escalation is not None:
        escalation.answers = asker.answered()
    result.meta["runtime"] = TRIO
    result.meta["fallback"] = False
    result.meta["routing_version"] = table.version
    result.recorded_elsewhere = True  # the Trio runtime, which ran it, recorded it
    return result


@dataclass(frozen=True)
class _Catalogue:
    stamp: Stamp
    tools: dict[str, Tool]

    def find(self, name: str) -> Tool | None:
        """By name, or by the legacy dotted `category.tool` name."""
        tool = self.tools.get(name)
        if tool is None and "." in name:
            category, _, short = name.rpartition(".")
            tool = self.tools.get(short)
            if tool is not None and tool.category != category:
                return None
        return tool


class CatalogueCache:
    """Every tool row, kept per stamp of the routing version (every catalogue change bumps it):
    the steady-state call finds its tool without a query. The rows are shared: read-only."""

    def __init__(self) -> None:
        self._catalogue: _Catalogue | None = None

    def find_nowait(self, name: str) -> tuple[bool, Tool | None]:
        """(True, the tool or None) when the cache is current, else (False, None)."""
        stamp = ROUTING_VERSION.stamp_nowait()
        catalogue = self._catalogue
        if stamp is None or catalogue is None or catalogue.stamp != stamp:
            return False, None
        return True, catalogue.find(name)

    def find(self, name: str) -> Tool | None:
        """The tool (blocking: reloads the catalogue when the version moved)."""
        stamp = ROUTING_VERSION.stamp()
        catalogue = self._catalogue
        if catalogue is None or catalogue.stamp != stamp:
            tools = {tool.name: tool for tool in Tool.objects.all()}
            for tool in tools.values():
                # The routing table is looked up at this version (no query when cached).
                tool.routing_version = stamp[0]
            catalogue = self._catalogue = _Catalogue(stamp, tools)
        return catalogue.find(name)

    def clear(self) -> None:
        self._catalogue = None


catalogue_cache = CatalogueCache()


async def prepare_call(
    name: str,
    arguments: Any,
    principal: Principal,
    via: str,
    request_id: str,
    progress: Any = None,
    *,
    offered: ToolFilter | None = None,
    asker: interaction.Asker | None = None,
) -> CallRequest:
    """Find, authorize and validate; raises ToolNotFound, CallDenied or InvalidArguments.

    A bridged call is checked here, once, on the side that received it (the web process), not
    again on the Trio runtime: this side knows the caller, must decide a fallback before
    anything starts and answers in its door's format; the runtime trusts it through the node's
    shared secret (`run_bridged`).
    """
    if not isinstance(name, str) or not registry.NAME_RE.match(name):
        raise ToolNotFound(f"Tool '{name}' not found")
    cached, tool = catalogue_cache.find_nowait(name)
    if not cached:
        tool = await run_blocking(catalogue_cache.find, name)
    spec = registry.get_spec(tool.name) if tool is not None else None
    if tool is None or spec is None or not tool.callable or (offered and not offered(tool)):
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
        plan=RunPlan.of(tool),
        progress=progress,
        raw_arguments=arguments if arguments is not None else {},
        asker=asker,
    )


async def admit(request: CallRequest) -> rate_limiter.Admission:
    """The rate and concurrency limits of an authorized call (apps.ratelimits), checked once
    on the side that received it; raises RateLimited. Release the admission when it ends."""
    admission = await rate_limiter.admit(
        tool=request.plan.tool_name,
        principal=request.principal.name,
        budget=request.plan.budget,
        version=getattr(request.tool, "routing_version", None),  # as the catalogue read it
    )
    row = admission.refused_by
    if row is not None:
        raise RateLimited(
            f"Rate limit '{row.name}' reached for tool '{request.plan.tool_name}': "
            f"retry in {admission.retry_after}s",
            retry_after=admission.retry_after,
            limit=row.name,
        )
    return admission


async def run_bridged(
    *,
    arguments: Any,
    principal: Principal,
    via: str,
    request_id: str,
    plan: RunPlan,
    notify: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ask: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
    askable: Collection[str] = (),
    escalate: bool = False,
) -> ToolResult:
    """The Trio runtime's side of a bridged call: run it here, unchecked (the web side found,
    authorized and validated it: see `prepare_call`; nothing is read from the database here).
    The JSON arguments become the tool's Python types again through its model, as JSON cannot
    carry them.

    When the way the call came can carry notes back during the call (the bridge socket),
    `notify` takes the tool's log entries and progress to the web side, which passes them on to
    its caller (`bridge_notes`), and `ask` puts the tool's questions to the caller's asker there
    and returns its reply (`interaction.answer_note`); `askable` names the kinds of question
    that asker can put (the tool's `ctx.can_ask`). Without `ask` the tool cannot ask.
    `escalate`: the web side's call may go on as a task (interaction.ESCALATION): when the tool
    calls `ctx.continue_as_task()` the result's meta says `continued_as_task`, and the web side,
    which holds the answers, makes the task.

    Raises ToolNotFound when this runtime has no code for the tool, InvalidArguments when the
    arguments do not fit it (a caller that skipped the web side's check): it did not start.
    """
    spec = registry.get_spec(plan.tool_name)
    if spec is None:
        raise ToolNotFound(f"Tool '{plan.tool_name}' has no code on the Trio runtime")
    request = CallRequest(
        tool=None,
        spec=spec,
        arguments=validate_arguments(spec, arguments),
        principal=principal,
        via=via,
        request_id=request_id,
        plan=plan,
        progress=_progress_note(notify) if notify else None,
        asker=_BridgedAsker(notify, ask, askable),
    )
    if not escalate:
        return await run_locally(request)
    with interaction.escalating(plan.tool_name) as escalation:
        result = await run_locally(request)
    if escalation.answers is not None:
        result.meta["continued_as_task"] = True
    return result


class _BridgedAsker(interaction.Asker):
    """A bridged tool's way back: its log entries and questions go to the web side as notes
    (when the bridge carries them), where the call's own asker takes them. In the 2026 era a
    question ends the call there (InputRequired): the web side holds the pending questions, so
    `pending_result` here only says that there are some (the bridge's `input_required`)."""

    def __init__(
        self,
        notify: Callable[[dict[str, Any]], Awaitable[None]] | None,
        ask: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None,
        askable: Collection[str],
    ):
        super().__init__(
            "a tool bridged to the Trio runtime over HTTP cannot ask the caller for input: call "
            "it at the Trio runtime's own /mcp, or route it to asyncio"
        )
        self._notify, self._ask, self._askable = notify, ask, frozenset(askable)
        self._pending = False

    def supports(self, method: str) -> bool:
        return self._ask is not None and method in self._askable

    async def log(self, level: str, data: Any, logger_name: str) -> None:
        if self._notify is not None:
            await self._notify({"kind": "log", "level": level, "data": data, "logger": logger_name})

    async def ask(self, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self._ask is None:
            raise interaction.InputUnavailable(self.reason)
        reply = await self._ask({"key": key, "method": method, "params": params})
        try:
            return interaction.answer_of_note(reply)
        except interaction.InputRequired:
            self._pending = True
            raise

    def pending_result(self) -> dict[str, Any] | None:
        return {"asked": "on the web side"} if self._pending else None


def _progress_note(notify: Callable[[dict[str, Any]], Awaitable[None]]):
    async def report(progress: float, total: float | None, message: str | None) -> None:
        await notify({"kind": "progress", "progress": progress, "total": total, "message": message})

    return report


def bridge_notes(
    request: CallRequest, asker: interaction.Asker
) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]:
    """The web side of `run_bridged`'s notes: a bridged tool's log entries, progress and
    questions, passed on to the caller as the tool's own would be on asyncio (a question's
    reply is returned, for the runtime; `asker` is the call's, `door_asker`). A malformed note
    is dropped."""

    # Progress takes the path a tool run here reports by (the runtime already wrote the log
    # entries to its own log: only the caller gets them here).
    here = registry.ToolContext(request.progress)

    async def receive(note: dict[str, Any]) -> dict[str, Any] | None:
        kind, total, message = note.get("kind"), note.get("total"), note.get("message")
        if kind == "ask":  # a question: its reply goes back to the runtime
            return await interaction.answer_note(asker, note)
        if kind == "log" and note.get("level") in interaction.LEVELS:
            await asker.log(note["level"], note.get("data"), str(note.get("logger", "")))
        elif (
            kind == "progress"
            and isinstance(note.get("progress"), int | float)
            and (total is None or isinstance(total, int | float))
        ):
            await here.report_progress(
                note["progress"], total, message if isinstance(message, str) else None
            )

    return receive


async def call_tool(
    name: str,
    arguments: Any,
    principal: Principal,
    via: str,
    *,
    request_id: str | None = None,
    progress: Any = None,
    offered: ToolFilter | None = None,
    asker: interaction.Asker | None = None,
) -> ToolResult:
    """Call a tool: the one entry point of every door. Tool failures and timeouts come back as
    results with `is_error`; a call that cannot be made raises a CallError subclass
    (ToolNotFound, CallDenied, InvalidArguments, RuntimeUnavailable, RateLimited). `offered`
    narrows the tools a door serves (the Trio runtime's /mcp: those routed to Trio); `asker`
    is the door's way back to the caller (MCP: apps.tools.mcp_interaction), for the tool's
    log entries and questions."""
    request_id = request_id or uuid.uuid4().hex
    # The door's span: every step below is its child, in the caller's trace if one came.
    with tracing.span(f"call {name}", tool=str(name), via=via, request_id=request_id):
        return await _call_tool(
            name,
            arguments,
            principal,
            via,
            request_id=request_id,
            progress=progress,
            offered=offered,
            asker=asker,
        )


async def _call_tool(
    name: str,
    arguments: Any,
    principal: Principal,
    via: str,
    *,
    request_id: str,
    progress: Any,
    offered: ToolFilter | None,
    asker: interaction.Asker | None = None,
) -> ToolResult:
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    runtime = ""
    outcome = Outcome.ERROR
    error = ""
    meta: dict[str, Any] = {}
    recorded_elsewhere = False
    request: CallRequest | None = None
    admission = rate_limiter.ADMITTED
    try:
        with tracing.span("authorize", caller=principal.name):
            request = await prepare_call(
                name, arguments, principal, via, request_id, progress, offered=offered, asker=asker
            )
        name = request.plan.tool_name
        admission = await admit(request)
        result = await dispatch(request)
        meta = result.meta
        recorded_elsewhere = result.recorded_elsewhere
        runtime = meta.get("runtime", "")
        outcome = result.outcome
        error = result.text if result.is_error else ""
        tracing.record_outcome(outcome, failed=result.is_error)
        result.meta["request_id"] = request_id
        result.meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return result
    except CallError as exc:
        outcome = exc.outcome
        error = exc.message
        recorded_elsewhere = exc.recorded_elsewhere
        tracing.record_error(exc)
        raise
    except anyio.get_cancelled_exc_class():
        outcome = Outcome.CANCELLED
        error = "cancelled by the caller"
        # A bridged call the caller gave up on is stopped and recorded by the runtime.
        recorded_elsewhere = request is not None and bool(request.trace.get("bridged"))
        raise
    finally:
        await admission.release()
        seconds = time.perf_counter() - started
        # Unknown names stay out of metric labels: junk must not grow the label set.
        label = "(unknown)" if outcome == Outcome.NOT_FOUND else name
        metrics.observe_call(tool=label, runtime=runtime, outcome=outcome, seconds=seconds)
        if meta.get("fallback"):
            metrics.FALLBACKS.labels(name).inc()
        if not recorded_elsewhere:
            record_call(
                tool_name=str(name),
                runtime=runtime,
                caller=principal.name,
                via=via,
                request_id=request_id,
                started_at=started_at,
                seconds=seconds,
                outcome=outcome,
                error=error,
                meta=meta,
                arguments=arguments,
            )


def record_call(
    *,
    tool_name: str,
    runtime: str,
    caller: str,
    via: str,
    request_id: str,
    started_at: datetime,
    seconds: float,
    outcome: str,
    error: str,
    meta: dict[str, Any],
    arguments: Any,
) -> None:
    """Queue the call's one ToolCall row and its audit event (each written in batches by its
    own writer, off the call path), in the process that ran it."""
    with tracing.span("record", tool=tool_name, outcome=outcome):
        call_log.record(
            call_log.CallRecord(
                tool_name=tool_name[:128],
                runtime=runtime,
                caller=caller[:200],
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
            tool=tool_name[:128],
            caller=caller,
            via=via,
            runtime=runtime,
            outcome=outcome,
            duration_ms=round(seconds * 1000, 3),
            request_id=request_id,
            started_at=started_at,
            arguments=arguments,
        )
