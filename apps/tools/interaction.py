"""What a running tool may ask of its caller through `ToolContext`: log entries, and input
(elicitation, sampling, the client's roots).

A door that can reach the caller hands the call path an `Asker` (the MCP doors:
`apps.tools.mcp_interaction`; an MCP task's job, 2026 era: `apps.jobs.execution.JobAsker`,
its questions waiting for `tasks/update`); every other door (REST, P2P, other jobs, the task
queue) has none, and a tool that asks for input there ends with a clear tool error
(`InputUnavailable`). A tool bridged to the Trio runtime asks through the web side's asker: its
log entries and questions cross the bridge socket as notes, and the answers come back
(`answer_note` on the web side, `answer_of_note` on the runtime's; call_service.run_bridged).
Log entries always go to the server log as well.

Two ways of asking, by the MCP era of the call:
- 2025-11-25 sessions: the request is sent to the client mid-call and the tool waits for the
  answer.
- 2026-07-28 (stateless): the call ends with an `InputRequiredResult` naming what it needs
  (`InputRequired`); the client asks its user or model and calls the tool again with the answers
  (`inputResponses`, plus the sealed `requestState` carrying the earlier ones). The tool runs
  again from the start, and each question it already had answered is answered at once: a tool
  that asks must be safe to run again up to the point where it asks (ask before acting).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# MCP's logging levels, least severe first (RFC 5424), and their Python equivalents.
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
PYTHON_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}

ELICIT = "elicitation/create"
SAMPLE = "sampling/createMessage"
LIST_ROOTS = "roots/list"
# The client capability each kind of request needs, as MCP names it.
CAPABILITY = {ELICIT: "elicitation", SAMPLE: "sampling", LIST_ROOTS: "roots"}


class InputUnavailable(Exception):
    """The tool asked for input its caller cannot give: the door cannot ask (REST, P2P, jobs,
    a call bridged over HTTP, a stateless 2025-era session), or the client did not declare the
    capability. The call ends with a tool error saying so (never retried)."""

    def __init__(self, message: str, *, missing_capability: str | None = None):
        super().__init__(message)
        self.message = message
        self.missing_capability = missing_capability


class InputRequired(BaseException):
    """2026-07-28: the call ends now, asking the client for input (`Asker.pending_result`).

    A BaseException, so a tool's own `except Exception` does not swallow it."""


class ContinueAsTask(BaseException):
    """2026-07-28: the tool's questions are answered; the call goes on as a task
    (`ToolContext.continue_as_task`). A BaseException, so a tool's `except Exception` does not
    swallow it."""


@dataclass
class TaskEscalation:
    """Set (ESCALATION) by the tasks middleware around a 2026-era call of `tool`, which asks
    before it becomes a task: `answers` holds the answers its questions had when it went on as
    one (a tool it calls in turn does not go on as a task)."""

    tool: str
    answers: dict[str, Any] | None = None


ESCALATION: ContextVar[TaskEscalation | None] = ContextVar("task_escalation", default=None)


@contextlib.contextmanager
def escalating(tool: str) -> Iterator[TaskEscalation]:
    """While open, a call of `tool` may go on as a task (`ToolContext.continue_as_task`)."""
    escalation = TaskEscalation(tool)
    token = ESCALATION.set(escalation)
    try:
        yield escalation
    finally:
        ESCALATION.reset(token)


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: expected one of {', '.join(LEVELS)}")
    return level


def digest(method: str, params: dict[str, Any]) -> str:
    """A question's fingerprint: an answer counts only for the question it was given to."""
    text = json.dumps({"method": method, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Asker:
    """A door's way back to the caller. This base cannot ask: `reason` says why."""

    def __init__(self, reason: str = "this door cannot ask the caller for input"):
        self.reason = reason
        self._counter = 0

    def next_key(self, method: str) -> str:
        """A key for a question the tool did not name: stable across the rounds of a call, as
        the tool asks its questions in the same order each time."""
        self._counter += 1
        return f"{method.split('/')[0]}-{self._counter}"

    def supports(self, method: str) -> bool:
        """Whether asking `method` can work here (the door can ask, the client declared it)."""
        return False

    async def log(self, level: str, data: Any, logger_name: str) -> None:
        """Send a log entry to the caller, when it wants entries of that level."""

    async def ask(self, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The answer (a result dict) to one request; raises InputUnavailable, or (2026 era)
        InputRequired once the request is noted as pending."""
        raise InputUnavailable(self.reason)

    def pending_result(self) -> dict[str, Any] | None:
        """After InputRequired: {"requests": the questions, "state": what to carry to the next
        round} (None where nothing is pending)."""
        return None

    def answered(self) -> dict[str, Any]:
        """The answers this call's questions had, by key ({"q": digest, "a": answer}), for a
        task it goes on as (2026 era)."""
        return {}


async def gather(*asks: Awaitable[Any]) -> list[Any]:
    """Ask several questions at once: in the 2026 era they go to the client in one round
    (one `InputRequiredResult`), in a 2025-era session one after the other."""
    answers: list[Any] = []
    pending = False
    for index, ask in enumerate(asks):
        try:
            answers.append(await ask)
        except InputRequired:
            pending = True
            answers.append(None)
        except BaseException:
            for unasked in asks[index + 1 :]:
                close = getattr(unasked, "close", None)
                if close is not None:
                    close()
            raise
    if pending:
        raise InputRequired()
    return answers


# --- questions asked across the bridge (call_service.run_bridged, bridge_notes) ---


async def answer_note(asker: Asker, note: dict[str, Any]) -> dict[str, Any]:
    """The web side of a bridged tool's question (`{"key", "method", "params"}`): asked of the
    call's own asker, as if the tool ran here; the reply says how it went, for `answer_of_note`."""
    method, params = note.get("method"), note.get("params")
    if method not in CAPABILITY or not isinstance(params, dict):
        return {"invalid": f"a question must name one of {', '.join(CAPABILITY)} and its params"}
    try:
        return {"result": await asker.ask(str(note.get("key") or ""), method, params)}
    except InputRequired:
        return {"required": True}
    except InputUnavailable as exc:
        return {"unavailable": exc.message, "missing_capability": exc.missing_capability}
    except ValueError as exc:
        return {"invalid": str(exc)}


def answer_of_note(reply: dict[str, Any]) -> dict[str, Any]:
    """The runtime's side: the answer `answer_note` sent back, or what asking here would have
    raised (InputRequired, InputUnavailable, ValueError for a malformed question)."""
    if isinstance(reply.get("result"), dict):
        return reply["result"]
    if reply.get("required") is True:
        raise InputRequired()
    if "invalid" in reply:
        raise ValueError(str(reply["invalid"]))
    capability = reply.get("missing_capability")
    raise InputUnavailable(
        str(reply.get("unavailable") or "the caller gave no answer"),
        missing_capability=capability if isinstance(capability, str) else None,
    )
