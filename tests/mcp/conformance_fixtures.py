"""The tools, prompts and resources the official MCP conformance suite's server scenarios call
by name (`@modelcontextprotocol/conformance`, pinned in tests/mcp/conformance/package.json),
each behaving as its scenario's description asks. Loaded into a node with
MCP_PLATFORM_TOOL_MODULES=tests.mcp.conformance_fixtures (tests/mcp/test_conformance.py).

Importing it also loads the fixtures other tests share, with the suite's names:
tests.mcp.interaction_fixtures (the tools that log and ask: `test_tool_with_logging`,
`test_sampling`, `test_elicitation*`, the `test_input_required_result_*` tools and prompt, ...)
and tests.mcp.schema_tools (`json_schema_2020_12_tool`, and `regional_lookup`, the tool with an
`x-mcp-header` parameter). What still cannot pass is in
tests/mcp/conformance-expected-failures.yml.
"""

from __future__ import annotations

import base64
import json

import anyio

from apps.tools.call_errors import CallError
from apps.tools.call_service import ToolResult
from apps.tools.mcp_events import close_sse_stream
from apps.tools.registry import ToolContext, prompt, resource, resource_template, tool
from tests.mcp import interaction_fixtures, schema_tools  # noqa: F401 (they register on import)

# A 1x1 red PNG and an 8-sample silent WAV: the smallest real image and audio.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
WAV = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA=="

TESTING = {"category": "conformance"}


def _content(*blocks: dict) -> ToolResult:
    return ToolResult(content=list(blocks))


@tool(**TESTING)
def test_simple_text() -> ToolResult:
    """Return one text block."""
    return _content({"type": "text", "text": "This is a simple text response for testing."})


@tool(**TESTING)
def test_image_content() -> ToolResult:
    """Return one PNG image block."""
    return _content({"type": "image", "data": PNG, "mimeType": "image/png"})


@tool(**TESTING)
def test_audio_content() -> ToolResult:
    """Return one WAV audio block."""
    return _content({"type": "audio", "data": WAV, "mimeType": "audio/wav"})


@tool(**TESTING)
def test_embedded_resource() -> ToolResult:
    """Return one embedded text resource."""
    return _content(
        {
            "type": "resource",
            "resource": {
                "uri": "test://embedded-resource",
                "mimeType": "text/plain",
                "text": "This is an embedded resource content.",
            },
        }
    )


@tool(**TESTING)
def test_multiple_content_types() -> ToolResult:
    """Return a text, an image and an embedded resource block."""
    return _content(
        {"type": "text", "text": "Multiple content types test:"},
        {"type": "image", "data": PNG, "mimeType": "image/png"},
        {
            "type": "resource",
            "resource": {
                "uri": "test://mixed-content-resource",
                "mimeType": "application/json",
                "text": json.dumps({"test": "data", "value": 123}),
            },
        },
    )


@tool(**TESTING)
def test_error_handling() -> None:
    """Always fail: the result carries isError and the message."""
    raise RuntimeError("This tool intentionally returns an error for testing")


@tool(**TESTING)
async def test_tool_with_progress(ctx: ToolContext) -> str:
    """Report progress 0, 50 and 100 of 100, about 50 ms apart."""
    for done in (0, 50, 100):
        await ctx.report_progress(done, 100)
        if done < 100:
            await anyio.sleep(0.05)
    return "Progress test completed"


@tool(**TESTING, title="Changing tool")
def test_changing_tool() -> str:
    """Enabled and disabled in turn by test_trigger_tool_change."""
    return "still here"


@tool(**TESTING, runtime="asyncio")
async def test_reconnection() -> str:
    """End this call's SSE stream before answering (SEP-1699 polling): the client reconnects
    with Last-Event-ID and gets the result on the resumed stream."""
    if await close_sse_stream():
        await anyio.sleep(0.2)  # the answer, once the client is back (or replayed, if later)
    return "Reconnection test completed"


# The two triggers change the catalogue through the services an admin's edit goes through, so
# connected clients hear list_changed as they would after a real edit. They run in the web
# process (asyncio), whose watcher is poked when the change commits.
@tool(**TESTING, runtime="asyncio")
def test_trigger_tool_change() -> str:
    """Change the tool list: disable test_changing_tool, or enable it again."""
    from apps.tools.models import Tool
    from apps.tools.services import set_tools_enabled

    rows = Tool.objects.filter(name="test_changing_tool")
    enabled = not rows.get().enabled
    set_tools_enabled(tools=rows, enabled=enabled, actor="conformance")
    return f"test_changing_tool {'enabled' if enabled else 'disabled'}"


@tool(**TESTING, runtime="asyncio")
def test_trigger_prompt_change() -> str:
    """Change the prompt list: disable test_changing_prompt, or enable it again."""
    from apps.tools.models import Prompt
    from apps.tools.services import set_enabled

    rows = Prompt.objects.filter(name="test_changing_prompt")
    enabled = not rows.get().enabled
    set_enabled(rows=rows, enabled=enabled, actor="conformance")
    return f"test_changing_prompt {'enabled' if enabled else 'disabled'}"


@prompt(title="Simple prompt")
def test_simple_prompt() -> str:
    """A prompt without arguments."""
    return "This is a simple prompt for testing."


@prompt(
    title="Prompt with arguments",
    arguments={"arg1": "First test argument", "arg2": "Second test argument"},
    completions={"arg1": ["paris", "park", "party", "testValue1"]},
)
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    """A prompt with two required arguments, substituted into its text."""
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@prompt(
    title="Prompt with an embedded resource",
    arguments={"resourceUri": "URI of the resource to embed"},
)
def test_prompt_with_embedded_resource(resourceUri: str) -> list[dict]:
    """A prompt whose first message embeds the resource named by `resourceUri`."""
    return [
        {
            "role": "user",
            "content": {
                "type": "resource",
                "resource": {
                    "uri": resourceUri,
                    "mimeType": "text/plain",
                    "text": "Embedded resource content for testing.",
                },
            },
        },
        {"role": "user", "content": "Please process the embedded resource above."},
    ]


@prompt(title="Prompt with an image")
def test_prompt_with_image() -> list[dict]:
    """A prompt whose first message is a PNG image."""
    return [
        {"role": "user", "content": {"type": "image", "data": PNG, "mimeType": "image/png"}},
        {"role": "user", "content": "Please analyze the image above."},
    ]


@prompt(title="Changing prompt")
def test_changing_prompt() -> str:
    """Enabled and disabled in turn by test_trigger_prompt_change."""
    return "still here"


@resource("test://static-text", name="static_text", title="Static text")
def static_text() -> str:
    """A fixed text resource."""
    return "This is the content of the static text resource."


@resource("test://static-binary", name="static_binary", mime_type="image/png")
def static_binary() -> bytes:
    """A fixed binary resource (a PNG, read as a base64 blob)."""
    return base64.b64decode(PNG)


@resource("test://watched-resource", name="watched_resource")
def watched_resource() -> str:
    """A resource clients subscribe to."""
    return "This resource is watched for updates."


@resource_template(
    "test://template/{id}/data",
    name="template_data",
    mime_type="application/json",
    completions={"id": ["123", "456"]},
)
def template_data(id: str) -> dict:
    """Data for one id, read through a URI template."""
    return {"id": id, "templateTest": True, "data": f"Data for ID: {id}"}


# --- The tasks extension (SEP-2663, 2026-07-28 set): the `tasks-*` scenarios' fixtures ---------
# A call of a tool whose task_support is "optional" (the default) or "required" becomes a task
# when the request declared the extension (apps.jobs.mcp_tasks); "forbidden" never does.

CONFIRM_SCHEMA = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean"}},
    "required": ["confirm"],
}


@tool(**TESTING, task_support="forbidden")
def greet(name: str) -> str:
    """Sync only: greet `name`."""
    return f"Hello, {name}!"


@tool(**TESTING, timeout_seconds=120)
async def slow_compute(seconds: float, label: str = "") -> str:
    """Sleep `seconds` (the suite cancels a 60 s one), then say so."""
    await anyio.sleep(seconds)
    return f"Computed {label or 'result'} after {seconds:g}s"


@tool(**TESTING, task_support="required")
async def failing_job() -> str:
    """A task only: fail with a tool error after about a second."""
    await anyio.sleep(1)
    raise RuntimeError("failing_job always fails")


@tool(**TESTING)
async def protocol_error_job() -> str:
    """End the call with a protocol-level error: a tool that raises a `CallError` says its
    call could not be made (not a tool error), so its task is `failed` with an inlined
    JSON-RPC `error`."""
    raise CallError("protocol_error_job crashed")


@tool(**TESTING)
async def confirm_delete(filename: str, ctx: ToolContext) -> str:
    """Ask the user to confirm, then "delete" `filename` (nothing is deleted)."""
    answer = await ctx.elicit(f"Delete {filename}?", CONFIRM_SCHEMA, key="confirm")
    confirmed = answer.action == "accept" and (answer.content or {}).get("confirm")
    return f"{'Deleted' if confirmed else 'Kept'} {filename}"


@tool(**TESTING)
async def multi_input(ctx: ToolContext) -> str:
    """Ask two questions at once: a name and a confirmation."""
    name, confirm = await ctx.gather(
        ctx.elicit(
            "What is your name?",
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            key="name",
        ),
        ctx.elicit("Confirm?", CONFIRM_SCHEMA, key="confirm"),
    )
    return f"{(name.content or {}).get('name')}: confirmed={(confirm.content or {}).get('confirm')}"


@tool(**TESTING, task_support="required", asks_before_task=True)
async def test_tool_with_task(ctx: ToolContext) -> str:
    """A task only, that asks for the user's name first, as a plain call (the suite expects
    the question before the task is created), then goes on as a task."""
    answer = await ctx.elicit(
        "What is your name?",
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        key="user_name",
    )
    await ctx.continue_as_task()
    return f"Hello, {(answer.content or {}).get('name')}!"
