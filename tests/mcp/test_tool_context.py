"""A tool's log entries and questions (`ctx.log`, `ctx.elicit`, `ctx.sample`) reach a real MCP
client (the official Python SDK) of both eras at a running node, and doors that cannot ask say so.
The tools are in tests/mcp/interaction_fixtures.py."""

from __future__ import annotations

import json

import anyio
import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp.conftest import mcp_client

pytestmark = [
    pytest.mark.slow,
    # The SDK client's set_logging_level warns: logging is deprecated in the 2026 era.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

MODERN = "2026-07-28"


class Caller:
    """What a client's user and model answer, and what the client heard."""

    def __init__(self, *, action: str = "accept", name: str = "Ada"):
        self.action, self.name = action, name
        self.logs: list[types.LoggingMessageNotificationParams] = []
        self.elicited: list[types.ElicitRequestParams] = []
        self.sampled: list[types.CreateMessageRequestParams] = []

    async def on_log(self, params) -> None:
        self.logs.append(params)

    async def on_elicit(self, context, params):
        self.elicited.append(params)
        if self.action != "accept":
            return types.ElicitResult(action=self.action)
        return types.ElicitResult(action="accept", content={"name": self.name})

    async def on_sample(self, context, params):
        self.sampled.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(text="Brilliant, kind, curious, bold, wise."),
            model="test-model",
            stop_reason="endTurn",
        )

    def callbacks(self) -> dict:
        return {
            "logging_callback": self.on_log,
            "elicitation_callback": self.on_elicit,
            "sampling_callback": self.on_sample,
        }


def _levels(caller: Caller) -> list[str]:
    return [entry.level for entry in caller.logs]


def test_a_2025_session_hears_tool_log_entries_at_the_level_it_set(mcp_node, new_token):
    caller = Caller()
    token = new_token()

    async def scenario():
        async with mcp_client(
            f"{mcp_node.url}/mcp", token, mode="legacy", **caller.callbacks()
        ) as client:
            assert client.server_capabilities.logging is not None
            await client.call_tool("test_logging_tool", {})
            # Until the session sets a level it hears every entry, named after the tool.
            assert _levels(caller) == ["debug", "info", "error"]
            assert {entry.logger for entry in caller.logs} == {"test_logging_tool"}
            assert caller.logs[1].data == {"message": "an info entry", "data": {"step": 1}}

            caller.logs.clear()
            await client.set_logging_level("warning")
            await client.call_tool("test_logging_tool", {})
            assert _levels(caller) == ["error"]

            caller.logs.clear()
            await client.set_logging_level("debug")
            reply = await client.call_tool("test_tool_with_logging", {})
            assert not reply.is_error
            assert [entry.data for entry in caller.logs] == [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ]

    anyio.run(scenario)


def test_a_2026_request_hears_log_entries_only_when_it_opts_in(mcp_node, new_token):
    token = new_token()

    async def scenario():
        silent = Caller()
        async with mcp_client(
            f"{mcp_node.url}/mcp", token, mode="auto", **silent.callbacks()
        ) as client:
            assert client.protocol_version == MODERN
            await client.call_tool("test_logging_tool", {})
        assert silent.logs == []

        opted = Caller()
        async with mcp_client(
            f"{mcp_node.url}/mcp", token, mode="auto", log_level="info", **opted.callbacks()
        ) as client:
            await client.call_tool("test_logging_tool", {})
        assert _levels(opted) == ["info", "error"]

    anyio.run(scenario)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_a_tool_asks_the_user_and_the_model_through_the_client_callbacks(mcp_node, new_token, mode):
    """2025: `elicitation/create` and `sampling/createMessage` sent mid-call; 2026: an
    InputRequiredResult, answered by the SDK client's callbacks and retried with the answers."""
    caller = Caller(name="Ada")
    token = new_token()

    async def scenario():
        async with mcp_client(
            f"{mcp_node.url}/mcp", token, mode=mode, **caller.callbacks()
        ) as client:
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else MODERN)
            reply = await client.call_tool("ask_name", {"greeting": "Hello"})
            assert not reply.is_error, reply.content
            assert reply.structured_content == {
                "greeting": "Hello, Ada!",
                "compliment": "Brilliant, kind, curious, bold, wise.",
                "model": "test-model",
            }
            # Each question reached the client once, as the tool asked it.
            assert [params.message for params in caller.elicited] == ["What is your name?"]
            assert caller.elicited[0].requested_schema["required"] == ["name"]
            assert len(caller.sampled) == 1
            sampled = caller.sampled[0]
            assert sampled.max_tokens == 30
            assert sampled.messages[0].content.text == "Compliment Ada in five words."

            caller.action = "decline"  # the user declines next time: the tool hears it
            declined = await client.call_tool("ask_name", {"greeting": "Hi"})
            assert declined.structured_content == {"greeting": None, "action": "decline"}

    anyio.run(scenario)


@pytest.fixture(scope="module")
def synced_prompts(bulk_tools):
    """The fixture prompt in the catalogue (the package's node syncs only tools)."""
    from apps.tools.services import sync_prompts

    sync_prompts()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_a_prompt_asks_the_user_before_it_renders(mcp_node, new_token, synced_prompts, mode):
    token = new_token()

    async def ask(context, params):
        assert params.message == "What context should the prompt use?"
        return types.ElicitResult(action="accept", content={"context": "a birthday card"})

    async def scenario():
        async with mcp_client(
            f"{mcp_node.url}/mcp", token, mode=mode, elicitation_callback=ask
        ) as client:
            listed = await client.list_prompts()
            prompt = next(
                p for p in listed.prompts if p.name == "test_input_required_result_prompt"
            )
            assert not prompt.arguments  # the ToolContext parameter is no argument
            result = await client.get_prompt("test_input_required_result_prompt", {})
            assert result.messages[0].content.text == (
                "Answer with this context in mind: a birthday card"
            )
        async with mcp_client(f"{mcp_node.url}/mcp", token, mode=mode) as unable:
            with pytest.raises(MCPError) as refused:
                await unable.get_prompt("test_input_required_result_prompt", {})
            if mode == "legacy":
                assert refused.value.error.code == -32602
                assert "did not declare the 'elicitation' capability" in refused.value.error.message
            else:
                assert refused.value.error.code == -32021

    anyio.run(scenario)


def test_a_2026_multi_round_call_carries_earlier_answers_in_sealed_state(mcp_node, new_token):
    token = new_token()
    url = f"{mcp_node.url}/mcp"
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "sampling": {}},
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": "test_input_required_result_multi_round",
    }

    def call(http: httpx.Client, **extra) -> dict:
        params = {
            "name": "test_input_required_result_multi_round",
            "arguments": {},
            "_meta": meta,
            **extra,
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        reply = http.post(url, json=body, headers=headers)
        return _jsonrpc(reply)

    def answer(content: dict) -> dict:
        return {"action": "accept", "content": content}

    with httpx.Client(timeout=30) as http:
        first = call(http)["result"]
        assert first["resultType"] == "input_required"
        assert list(first["inputRequests"]) == ["step1"]
        assert first["inputRequests"]["step1"]["method"] == "elicitation/create"
        # The state is sealed: the answers it will carry are not readable in it.
        second = call(
            http,
            inputResponses={"step1": answer({"name": "Alice"})},
            requestState=first["requestState"],
        )["result"]
        assert list(second["inputRequests"]) == ["step2"]
        assert "Alice" not in second["requestState"]
        assert second["requestState"] != first["requestState"]
        # Round three sends only step2's answer: step1's comes back from the state.
        third = call(
            http,
            inputResponses={"step2": answer({"color": "blue"})},
            requestState=second["requestState"],
        )["result"]
        assert third["content"][0]["text"] == "Alice likes blue"

        tampered = call(
            http,
            inputResponses={"step2": answer({"color": "blue"})},
            requestState=second["requestState"] + "-TAMPERED",
        )
        assert tampered["error"]["code"] == -32602

        # An answer that is no answer is refused; no answers at all is asked again.
        junk = call(http, inputResponses={"step1": 12345})
        assert junk["error"]["code"] == -32602
        again = call(http, inputResponses=None)["result"]
        assert again["resultType"] == "input_required"

        # logging/setLevel belongs to the 2025 era.
        body = {"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel"}
        body["params"] = {"level": "debug", "_meta": meta}
        level_headers = {**headers, "Mcp-Method": "logging/setLevel"}
        del level_headers["Mcp-Name"]
        gone = http.post(url, json=body, headers=level_headers)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == -32601


def test_asking_without_the_capability_is_refused_clearly_in_both_eras(mcp_node, new_token):
    token = new_token()

    async def scenario():
        # No elicitation or sampling callback: the client declares neither capability.
        async with mcp_client(f"{mcp_node.url}/mcp", token, mode="legacy") as legacy:
            reply = await legacy.call_tool("ask_name", {"greeting": "Hello"})
            assert reply.is_error
            assert "did not declare the 'elicitation' capability" in reply.content[0].text
        async with mcp_client(f"{mcp_node.url}/mcp", token, mode="auto") as modern:
            with pytest.raises(MCPError) as refused:
                await modern.call_tool("test_missing_capability", {})
            assert refused.value.error.code == -32021
            assert refused.value.error.data == {"requiredCapabilities": {"sampling": {}}}

    anyio.run(scenario)


def test_rest_callers_get_a_clear_tool_error_when_a_tool_asks(mcp_node, new_token):
    token = new_token()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=mcp_node.url, headers=auth, timeout=30) as http:
        v2 = http.post("/api/v2/tools/ask_name/call", json={"greeting": "Hello"})
        assert v2.status_code == 200, v2.text
        body = v2.json()
        assert body["isError"] is True and body["outcome"] == "error"
        text = body["content"][0]["text"]
        assert "needs input from its caller" in text
        assert "this door (rest) cannot ask the caller for input" in text

        legacy = http.post("/tools/execute/ask_name", json={"greeting": "Hello"})
        assert legacy.status_code == 422, legacy.text
        assert "cannot ask the caller for input" in legacy.json()["error"]

        # Logging alone is fine over REST: the entries go to the server log.
        logged = http.post("/api/v2/tools/test_logging_tool/call", json={})
        assert logged.status_code == 200 and logged.json()["isError"] is False


def _jsonrpc(reply: httpx.Response) -> dict:
    """The JSON-RPC response of a JSON or SSE reply."""
    assert reply.status_code in (200, 400), reply.text
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        for line in reply.text.splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if "result" in message or "error" in message:
                    return message
        raise AssertionError(f"no response in {reply.text!r}")
    return reply.json()


def test_a_tool_bridged_to_the_trio_runtime_asks_its_caller_in_both_eras(
    mcp_node, new_token, staff_user
):
    """The web process's /mcp runs a trio-routed tool over the bridge socket: its questions cross
    the bridge to the web side, which puts them to the client (mid-call in a 2025 session; as an
    InputRequiredResult, the tool run again with the answers, in the 2026 era). REST cannot ask:
    the tool error says so, as it does for a tool run on asyncio."""
    from tests.harness import wait_until
    from tests.mcp.test_live import _edit_in_admin

    token = new_token()
    wait_until(
        lambda: httpx.get(f"{mcp_node.trio_url}/health", timeout=2).status_code == 200,
        timeout=60,
        what="the Trio runtime's /health",
    )

    def runtime(reply) -> str:
        return reply.meta["dev.mcp-platform/call"]["runtime"]

    async def scenario():
        for mode in ("legacy", "auto"):
            caller = Caller(name="Grace")
            async with mcp_client(
                f"{mcp_node.url}/mcp", token, mode=mode, **caller.callbacks()
            ) as web:
                # The web process hears of the change on its version poll: until then the tool
                # still runs here (and its questions would prove nothing).
                for _ in range(80):
                    caller.elicited.clear()
                    reply = await web.call_tool("ask_name", {"greeting": "Hello"})
                    if runtime(reply) == "trio":
                        break
                    await anyio.sleep(0.25)
                assert runtime(reply) == "trio" and not reply.is_error, (mode, reply)
                assert reply.structured_content["greeting"] == "Hello, Grace!", mode
                assert reply.structured_content["model"] == "test-model"
                assert [p.message for p in caller.elicited] == ["What is your name?"]
                assert "Compliment Grace" in str(caller.sampled[-1].messages[0].content)
        # Without the sampling capability the tool's second question fails, on the Trio side.
        caller = Caller(name="Lin")
        callbacks = {k: v for k, v in caller.callbacks().items() if k != "sampling_callback"}
        async with mcp_client(f"{mcp_node.url}/mcp", token, mode="legacy", **callbacks) as web:
            reply = await web.call_tool("ask_name", {"greeting": "Hi"})
            assert runtime(reply) == "trio" and reply.is_error
            assert "did not declare the 'sampling' capability" in reply.content[0].text

    _edit_in_admin(staff_user, "ask_name", runtime="trio")
    try:
        anyio.run(scenario)
        rest = httpx.post(
            f"{mcp_node.url}/api/v2/tools/ask_name/call",
            json={"greeting": "Hi"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert rest.status_code == 200, rest.text
        body = rest.json()
        assert body["isError"] and body["meta"]["runtime"] == "trio", body
        assert "this door (rest) cannot ask the caller for input" in body["content"][0]["text"]
    finally:
        _edit_in_admin(staff_user, "ask_name", runtime="auto")


def test_a_bridged_tools_timeout_ends_its_call_while_its_question_is_open(
    mcp_node, new_token, staff_user
):
    """The tool's question is still with the client when its timeout passes on the Trio
    runtime: the call ends then, as a timeout (not as a lost runtime), and the question is
    withdrawn."""
    from tests.harness import wait_until
    from tests.mcp.test_live import _edit_in_admin

    token = new_token()
    wait_until(
        lambda: httpx.get(f"{mcp_node.trio_url}/health", timeout=2).status_code == 200,
        timeout=60,
        what="the Trio runtime's /health",
    )

    async def slow_user(context, params):
        await anyio.sleep(5)
        return types.ElicitResult(action="accept", content={"name": "Late"})

    async def scenario():
        async with mcp_client(
            f"{mcp_node.url}/mcp", token, mode="legacy", elicitation_callback=slow_user
        ) as web:
            for _ in range(80):  # until the web process routes it to Trio
                reply = await web.call_tool("ask_in_a_hurry", {})
                if reply.meta["dev.mcp-platform/call"]["runtime"] == "trio":
                    break
                await anyio.sleep(0.25)
            assert reply.meta["dev.mcp-platform/call"]["runtime"] == "trio", reply
            assert reply.is_error
            assert "passed its deadline on the Trio runtime" in reply.content[0].text, reply

    _edit_in_admin(staff_user, "ask_in_a_hurry", runtime="trio")
    try:
        anyio.run(scenario)
    finally:
        _edit_in_admin(staff_user, "ask_in_a_hurry", runtime="auto")


def test_a_tool_bridged_to_the_trio_runtime_logs_and_reports_progress_to_its_caller(
    mcp_node, new_token, staff_user
):
    """The web process's /mcp runs a trio-routed tool over the bridge socket: the tool's log
    entries and progress come back as notes during the call and reach the client, as they do
    from a tool run on asyncio (the session's log level still applies)."""
    from tests.harness import wait_until
    from tests.mcp.test_live import _edit_in_admin

    token = new_token()
    wait_until(
        lambda: httpx.get(f"{mcp_node.trio_url}/health", timeout=2).status_code == 200,
        timeout=60,
        what="the Trio runtime's /health",
    )
    caller = Caller()
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done, total, message) -> None:
        progress.append((done, total, message))

    def runtime(reply) -> str:
        return reply.meta["dev.mcp-platform/call"]["runtime"]

    async def scenario():
        async with mcp_client(
            f"{mcp_node.url}/mcp", token, mode="legacy", **caller.callbacks()
        ) as client:
            # The web process hears of the change on its version poll: until then the tool
            # still runs here (and its entries would prove nothing).
            for _ in range(80):
                caller.logs.clear()
                reply = await client.call_tool("test_logging_tool", {})
                if runtime(reply) == "trio":
                    break
                await anyio.sleep(0.25)
            assert runtime(reply) == "trio" and not reply.is_error, reply
            assert _levels(caller) == ["debug", "info", "error"]
            assert {entry.logger for entry in caller.logs} == {"test_logging_tool"}
            assert caller.logs[1].data == {"message": "an info entry", "data": {"step": 1}}

            caller.logs.clear()
            await client.set_logging_level("warning")
            reply = await client.call_tool("test_logging_tool", {})
            assert runtime(reply) == "trio" and _levels(caller) == ["error"]

            for _ in range(80):
                progress.clear()
                reply = await client.call_tool(
                    "sleep", {"seconds": 1.5}, progress_callback=on_progress
                )
                if runtime(reply) == "trio":
                    break
                await anyio.sleep(0.25)
            assert runtime(reply) == "trio" and reply.structured_content["slept"] == 1.5
            assert len(progress) >= 2, progress
            assert progress[-1] == (1.5, 1.5, "sleeping")

    _edit_in_admin(staff_user, "test_logging_tool", runtime="trio")
    _edit_in_admin(staff_user, "sleep", runtime="trio")
    try:
        anyio.run(scenario)
    finally:
        _edit_in_admin(staff_user, "test_logging_tool", runtime="auto")
        _edit_in_admin(staff_user, "sleep", runtime="auto")
