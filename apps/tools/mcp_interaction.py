"""A tool's log entries and questions, over MCP (`ToolContext.log`, `elicit`, `sample`,
`list_roots`: apps.tools.interaction), in both eras of the protocol, through the SDK:

- 2025-11-25 sessions: log entries are `notifications/message` on the call's stream, at or above
  the level the session set with `logging/setLevel` (all of them until it sets one); questions are
  `elicitation/create`, `sampling/createMessage` and `roots/list` requests sent to the client
  mid-call (with several web workers the answer reaches the session's worker through
  apps.tools.mcp_relay). A stateless session (MCP_PLATFORM_MCP_STATELESS, apps.tools.
  mcp_sessions) has no way back for the client's answer: a question there is a tool error.
- 2026-07-28: log entries go out only when the request opted in with the
  `io.modelcontextprotocol/logLevel` `_meta` key (the SDK enforces it); a question ends the call
  with an `InputRequiredResult`, and the client's retry carries the answers (`inputResponses`)
  and the `requestState` this side minted: the answers so far, sealed by the SDK's
  `RequestStateBoundary` under a key derived from SECRET_KEY (any worker can open it, nobody
  else can forge or read it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import mcp_types as types
from django.conf import settings
from mcp.server.context import ServerRequestContext
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import is_version_at_least
from pydantic import TypeAdapter, ValidationError

from apps.tools import interaction
from apps.tools.interaction import CAPABILITY, InputRequired, InputUnavailable

logger = logging.getLogger(__name__)

# Logging, sampling and roots are deprecated in the 2026 era (SEP-2577), still served here.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning, module=__name__)

MODERN = "2026-07-28"
STATE_VERSION = 1
SESSION_HEADER = "mcp-session-id"
MAX_REMEMBERED_SESSIONS = 10_000
STATELESS_SESSION = (
    "this MCP connection cannot carry a question to the client and its answer back (2025-era "
    "sessions served statelessly (MCP_PLATFORM_MCP_STATELESS), or a plain JSON reply); use "
    "protocol 2026-07-28, or a streaming session"
)
_RESULT_TYPES: dict[str, type[types.Result]] = {
    interaction.ELICIT: types.ElicitResult,
    interaction.SAMPLE: types.CreateMessageResult,
    interaction.LIST_ROOTS: types.ListRootsResult,
}
_INPUT_REQUEST = TypeAdapter(types.InputRequest)
_INPUT_REQUESTS = TypeAdapter(types.InputRequests)


class LogLevels:
    """The minimum level each 2025-era session asked for with `logging/setLevel`: by its
    `Mcp-Session-Id` (HTTP; in this process) or by its connection (stdio)."""

    def __init__(self) -> None:
        self._by_session: OrderedDict[str, str] = OrderedDict()
        self._by_connection: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def set(self, ctx: ServerRequestContext[Any], level: str) -> None:
        session_id = _session_id(ctx)
        if session_id:
            self._by_session[session_id] = level
            self._by_session.move_to_end(session_id)
            while len(self._by_session) > MAX_REMEMBERED_SESSIONS:
                self._by_session.popitem(last=False)
        else:
            self._by_connection[ctx.session._connection] = level

    def minimum(self, ctx: ServerRequestContext[Any]) -> str:
        """The session's level; "debug" (everything) until it sets one."""
        session_id = _session_id(ctx)
        if session_id:
            return self._by_session.get(session_id, "debug")
        return self._by_connection.get(ctx.session._connection, "debug")


def _session_id(ctx: ServerRequestContext[Any]) -> str:
    request = ctx.request
    return request.headers.get(SESSION_HEADER, "") if request is not None else ""


def is_modern(ctx: ServerRequestContext[Any]) -> bool:
    return is_version_at_least(ctx.protocol_version, MODERN)


class McpAsker(interaction.Asker):
    """One `tools/call`'s (or `prompts/get`'s) way back to its MCP client."""

    def __init__(
        self,
        ctx: ServerRequestContext[Any],
        params: types.InputResponseRequestParams,
        levels: LogLevels,
    ):
        super().__init__(STATELESS_SESSION)
        self.ctx = ctx
        self.levels = levels
        self.modern = is_modern(ctx)
        # 2026 era: this round's answers, the earlier rounds' (from the state), the questions
        # still open and the record carried to the next round.
        self.responses: dict[str, Any] = dict(params.input_responses or {}) if self.modern else {}
        self.recorded, self.asked = _open_state(params.request_state if self.modern else None)
        self.pending: dict[str, dict[str, Any]] = {}
        self.persist: dict[str, dict[str, Any]] = {}

    # --- log entries ---

    async def log(self, level: str, data: Any, logger_name: str) -> None:
        session = self.ctx.session
        if not self.modern:
            minimum = self.levels.minimum(self.ctx)
            if interaction.LEVELS.index(level) < interaction.LEVELS.index(minimum):
                return
        try:
            # 2026 era: the SDK sends it only when this request opted in at that level.
            await session.send_log_message(
                level, data, logger=logger_name or None, related_request_id=self.ctx.request_id
            )
        except Exception as exc:  # a gone client must not fail the tool over a log entry
            logger.debug("log entry not delivered: %r", exc)

    # --- questions ---

    def _declared(self, method: str) -> bool:
        capabilities = self.ctx.session.client_capabilities
        return getattr(capabilities, CAPABILITY[method], None) is not None

    def supports(self, method: str) -> bool:
        reachable = self.modern or self.ctx.session.can_send_request
        return reachable and self._declared(method)

    def _require(self, method: str) -> None:
        if not self._declared(method):
            capability = CAPABILITY[method]
            raise InputUnavailable(
                f"the client did not declare the '{capability}' capability ({method})",
                missing_capability=capability,
            )

    async def ask(self, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.modern:
            return self._answer_or_pend(key, method, params)
        if not self.ctx.session.can_send_request:
            raise InputUnavailable(STATELESS_SESSION)
        self._require(method)
        try:
            request = _INPUT_REQUEST.validate_python({"method": method, "params": params})
        except ValidationError as exc:
            raise ValueError(f"invalid {method} request: {exc}") from None
        try:
            result = await self.ctx.session.send_request(
                request,
                _RESULT_TYPES[method],
                metadata=ServerMessageMetadata(related_request_id=self.ctx.request_id),
            )
        except MCPError as exc:
            raise InputUnavailable(
                f"the client answered {method} with an error: {exc.error.message}"
            ) from None
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)

    def _answer_or_pend(self, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        question = interaction.digest(method, params)
        recorded = self.recorded.get(key)
        if recorded is not None and recorded.get("q") == question:
            self.persist[key] = recorded
            return recorded["a"]
        answer = _as_result(method, self.responses.get(key))
        # An answer counts for the question as it was asked (a changed question is asked again).
        if answer is not None and self.asked.get(key, question) == question:
            self.persist[key] = {"q": question, "a": answer}
            return answer
        self._require(method)
        self.pending[key] = {"method": method, "params": params}
        raise InputRequired()

    def answered(self) -> dict[str, Any]:
        return dict(self.persist)

    def pending_result(self) -> dict[str, Any] | None:
        if not self.pending:
            return None
        asked = {key: interaction.digest(**question) for key, question in self.pending.items()}
        state = {"v": STATE_VERSION, "answers": self.persist, "asked": asked}
        return {"requests": self.pending, "state": json.dumps(state, separators=(",", ":"))}


def _as_result(method: str, answer: Any) -> dict[str, Any] | None:
    """The client's answer as a result of the question's kind, or None when it is not one."""
    if answer is None:
        return None
    wire = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
    try:
        _RESULT_TYPES[method].model_validate(wire)
    except ValidationError:
        return None
    return wire


def answer_of(method: str, answer: Any) -> dict[str, Any] | None:
    """A client's raw answer (JSON, as `tasks/update` carries it) as a result of the question's
    kind, or None when it is not one."""
    try:
        result = _RESULT_TYPES[method].model_validate(answer)
    except (ValidationError, KeyError):
        return None
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def _open_state(plaintext: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """(answers recorded in earlier rounds, questions asked last round) from a request state
    that the SDK's boundary already verified and opened."""
    if not plaintext:
        return {}, {}
    try:
        state = json.loads(plaintext)
        if state.get("v") != STATE_VERSION:
            raise ValueError("unknown version")
        return dict(state.get("answers") or {}), dict(state.get("asked") or {})
    except (ValueError, TypeError, AttributeError):
        raise MCPError(types.INVALID_PARAMS, "Invalid or expired requestState") from None


def reply(ctx: ServerRequestContext[Any], result: Any) -> types.InputRequiredResult | None:
    """The MCP reply a call's result needs beyond `CallToolResult`: an InputRequiredResult when
    the tool asked (2026 era); raises -32021 when it asked for what the client did not declare
    (2026 era; the 2025 era keeps the tool error)."""
    if result.input_required is not None:
        return input_required(result.input_required)
    unavailable = result.meta.get("input_unavailable") or {}
    refuse_undeclared(ctx, unavailable.get("missing_capability"))
    return None


def input_required(pending: dict[str, Any]) -> types.InputRequiredResult:
    """The InputRequiredResult of a tool's or prompt's questions ({"requests", "state"})."""
    return types.InputRequiredResult(
        input_requests=_INPUT_REQUESTS.validate_python(pending["requests"]),
        request_state=pending["state"],
    )


def refuse_undeclared(ctx: ServerRequestContext[Any], capability: str | None) -> None:
    """2026 era: a question for a capability the client did not declare is -32021."""
    if capability and is_modern(ctx):
        raise MCPError(
            types.MISSING_REQUIRED_CLIENT_CAPABILITY,
            f"This needs the client's '{capability}' capability, which it did not declare",
            {"requiredCapabilities": {capability: {}}},
        )


def request_state_boundary(
    audience: str, caller: Callable[[ServerRequestContext[Any]], str | None]
) -> RequestStateBoundary:
    """The SDK middleware that seals the `requestState` this server hands out and refuses any
    other (-32602): keyed by SECRET_KEY, bound to the caller (`caller(ctx)`), valid for ten
    minutes."""
    key = hashlib.sha256(b"mcp-platform/request-state:" + settings.SECRET_KEY.encode()).digest()
    security = RequestStateSecurity(keys=[key], ttl=600.0, bind_principal=caller)
    return RequestStateBoundary(security, default_audience=audience)
