"""Resumable SSE streams of 2025-era sessions (SEP-1699, apps.tools.mcp_events), on a real node:
a stream opens with a priming event (an id, empty data, `retry:`), and a client whose stream
ended before the answer reconnects with `Last-Event-ID` and gets what it missed, then the rest.
`test_resumable_stream` (tests/tool_fixtures.py) reports progress, ends its call's stream, then
answers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import anyio
import httpx
import pytest

from tests.mcp.conftest import mcp_client

pytestmark = pytest.mark.slow

VERSION = "2025-11-25"
MAX_EVENTS = 50  # no stream here carries more
ANSWER = "answered after the stream closed"


def _events(reply: httpx.Response) -> Iterator[dict]:
    """The SSE events of a streamed reply (`id`, `data`, `retry`), at most MAX_EVENTS."""
    event: dict = {}
    count = 0
    for line in reply.iter_lines():
        if line == "":
            if event:
                yield event
                count += 1
                assert count < MAX_EVENTS, "the stream did not end"
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                event["data"] = event["data"] + "\n" + value if "data" in event else value
            elif field in ("id", "retry", "event"):
                event[field] = value
    if event:
        yield event


def _message(event: dict) -> dict | None:
    return json.loads(event["data"]) if event.get("data") else None


def _open_session(http: httpx.Client, url: str, token: str) -> dict[str, str]:
    """Initialize a 2025-11-25 session; the headers its next requests carry."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
    }
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": VERSION,
            "capabilities": {},
            "clientInfo": {"name": "resume-test", "version": "1"},
        },
    }
    reply = http.post(url, json=hello, headers=headers)
    assert reply.status_code == 200, reply.text
    session = {
        **headers,
        "Mcp-Session-Id": reply.headers["mcp-session-id"],
        "MCP-Protocol-Version": VERSION,
    }
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert http.post(url, json=initialized, headers=session).status_code == 202
    return session


def _resume(http: httpx.Client, url: str, session: dict, last_event_id: str, *, until_id=None):
    """GET the session's stream with Last-Event-ID: its events, up to the answer to
    `until_id` (or to the end of the stream)."""
    headers = {**session, "Accept": "text/event-stream", "Last-Event-ID": last_event_id}
    seen = []
    with http.stream("GET", url, headers=headers) as reply:
        assert reply.status_code == 200, reply.read()
        assert reply.headers["content-type"].startswith("text/event-stream")
        for event in _events(reply):
            seen.append(event)
            message = _message(event)
            if until_id is not None and message and message.get("id") == until_id:
                break
    return seen


def test_a_call_whose_stream_ended_is_resumed_with_last_event_id_and_replays_what_was_missed(
    mcp_node, new_token
):
    url = f"{mcp_node.url}/mcp"
    token = new_token()
    with httpx.Client(timeout=httpx.Timeout(30)) as http:
        session = _open_session(http, url, token)
        call = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {
                "name": "test_resumable_stream",
                "arguments": {},
                "_meta": {"progressToken": "resume-1"},
            },
        }
        with http.stream("POST", url, json=call, headers=session) as reply:
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/event-stream")
            first = list(_events(reply))  # the server ends the stream before answering

        priming = first[0]
        assert priming["id"] and priming.get("data", "") == ""
        assert priming["retry"] == "1000"  # MCP_PLATFORM_MCP_SSE_RETRY_MS
        # The progress may or may not have made it out before the stream ended (it is stored
        # either way); the answer did not.
        assert not any((_message(e) or {}).get("id") == 7 for e in first), first

        # Resuming after the priming event replays the progress (with its id), then the answer
        # arrives on the resumed stream.
        resumed = _resume(http, url, session, priming["id"], until_id=7)
        progress = _message(resumed[0])
        assert progress["method"] == "notifications/progress", resumed
        assert progress["params"]["progressToken"] == "resume-1"
        assert progress["params"]["progress"] == 1
        for event in first[1:]:  # what the first stream carried came with the same ids
            assert event["id"] == resumed[0]["id"] and _message(event) == progress
        answer = _message(resumed[-1])
        assert answer["id"] == 7 and answer["result"]["content"][0]["text"] == ANSWER

        # Resuming after the progress event replays only what came after it: the answer.
        later = _resume(http, url, session, resumed[0]["id"], until_id=7)
        messages = [_message(e) for e in later if _message(e)]
        assert [m.get("id") for m in messages] == [7], messages

        # Another session (even the same token's) cannot resume this one's stream, and an
        # event id that never was gets an empty stream, not an error.
        other = _open_session(http, url, token)
        assert not [e for e in _resume(http, url, other, priming["id"]) if _message(e)]
        assert not [e for e in _resume(http, url, session, "not-an-event") if _message(e)]


def _sdk_call_resumes(url: str, token: str) -> None:
    """The official SDK client calls the tool on `url`: the server ends the stream (the answer
    says so), the client resumes it by itself and gets the answer and the progress."""
    seen: list[float] = []

    async def on_progress(progress, total, message) -> None:
        seen.append(progress)

    async def scenario():
        async with mcp_client(url, token, mode="legacy") as client:
            with anyio.fail_after(60):
                reply = await client.call_tool(
                    "test_resumable_stream", {}, progress_callback=on_progress
                )
        assert not reply.is_error
        assert reply.content[0].text == ANSWER
        assert seen and seen[0] == 1

    anyio.run(scenario)


def test_the_sdk_client_resumes_a_call_whose_stream_the_server_ended(mcp_node, new_token):
    _sdk_call_resumes(f"{mcp_node.url}/mcp", new_token())


def test_a_toolset_endpoint_resumes_streams_too(mcp_node, new_token):
    admin = new_token(scopes=("admin",))
    slug = f"resume-{uuid.uuid4().hex[:8]}"
    api = f"{mcp_node.url}/api/v2/toolsets"
    auth = {"Authorization": f"Bearer {admin}"}
    body = {"slug": slug, "title": "Resumable", "tools": ["test_resumable_stream"]}
    created = httpx.post(api, json=body, headers=auth, timeout=30)
    assert created.status_code == 201, created.text
    try:
        _sdk_call_resumes(f"{mcp_node.url}/mcp/{slug}", new_token())
    finally:
        httpx.delete(f"{api}/{slug}", headers=auth, timeout=30)
