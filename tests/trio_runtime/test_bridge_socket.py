"""The bridge on the Trio runtime's Unix socket (apps/routing/bridge_wire.py): the same calls
and answers as its HTTP endpoint, on connections kept between calls, private to the node and
its secret; a caller that cancels or goes away stops its call. The web side uses it for every
trio-routed call when it shares the runtime's data directory (tests/trio_runtime/test_platform.py
drives that path end to end)."""

from __future__ import annotations

import json
import socket
import stat
import struct
import uuid

import httpx
import pytest

from apps.tools.models import ToolCall
from tests.harness import wait_until
from tests.trio_runtime.test_runtime_process import bridge_body

pytestmark = pytest.mark.slow

HEADER = struct.Struct(">I")


class BridgeSocket:
    """A plain blocking client of the bridge socket (what the web side does, without it)."""

    def __init__(self, runtime, *, secret: str | None = None, timeout: float = 30) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(runtime.data_dir.resolve() / f"trio-{runtime.port}.sock"))
        self.send({"type": "hello", "secret": runtime.secret if secret is None else secret})

    def send(self, message: dict) -> None:
        data = json.dumps(message).encode()
        self.sock.sendall(HEADER.pack(len(data)) + data)

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise EOFError("closed")
            data += chunk
        return data

    def receive(self) -> dict:
        (size,) = HEADER.unpack(self._exactly(HEADER.size))
        return json.loads(self._exactly(size))

    def call(self, tool: str, arguments: dict | None = None, **kwargs) -> tuple[dict, dict]:
        body = bridge_body(tool, arguments, **kwargs)
        self.send({"type": "call", **body})
        answer = self.receive()
        return body, answer

    def close(self) -> None:
        self.sock.close()


def test_the_socket_serves_calls_as_the_http_endpoint_does_on_one_connection(trio_runtime):
    path = trio_runtime.data_dir.resolve() / f"trio-{trio_runtime.port}.sock"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the node's user only
    client = BridgeSocket(trio_runtime)
    try:
        body, answer = client.call("echo", {"message": "over the socket"})
        assert answer["status"] == 200
        result = answer["body"]
        assert result["isError"] is False
        assert result["structuredContent"] == {"message": "over the socket"}
        assert (result["meta"]["runtime"], result["meta"]["pid"]) == (
            "trio",
            trio_runtime.process.pid,
        )
        # The same connection carries the next calls, refusals included, as HTTP would answer.
        _, missing = client.call("no_such_tool")
        http_missing = httpx.post(
            f"{trio_runtime.url}/internal/bridge/call",
            json=bridge_body("no_such_tool"),
            headers=trio_runtime.auth,
            timeout=30,
        )
        assert missing == {"status": http_missing.status_code, "body": http_missing.json()}
        assert missing["status"] == 404 and missing["body"]["call_error"] == "tool_not_found"
        _, invalid = client.call("echo", {"wrong": 1})
        assert (invalid["status"], invalid["body"]["call_error"]) == (422, "invalid_arguments")
        _, again = client.call("echo", {"message": "still open"})
        assert again["body"]["structuredContent"] == {"message": "still open"}
    finally:
        client.close()
    rows = wait_until(
        lambda: list(ToolCall.objects.filter(request_id=body["request_id"])),
        timeout=30,
        what="the call's row",
    )
    assert [(r.runtime, r.outcome, r.via) for r in rows] == [("trio", "success", "test")]


def test_the_socket_requires_the_shared_secret(trio_runtime):
    """The runtime answers a wrong hello at once, before any call (so a call sent after it may
    meet a closed socket), and closes the connection."""
    client = BridgeSocket(trio_runtime, secret="not-the-secret")
    try:
        answer = client.receive()
        assert answer["status"] == 401 and answer["body"]["started"] is False
        with pytest.raises((EOFError, ConnectionError)):  # and the runtime closed it
            client.receive()
    finally:
        client.close()


def test_before_the_secret_a_connection_gets_only_a_short_frame(trio_runtime):
    """A hello longer than a secret needs is refused at once, unread (no 64 MiB buffered for
    a client that has not shown it holds the secret)."""
    client = BridgeSocket(trio_runtime, secret="x" * 5000)
    try:
        with pytest.raises((EOFError, ConnectionError)):  # closed without an answer
            client.receive()
    finally:
        client.close()
    honest = BridgeSocket(trio_runtime)
    try:
        assert honest.call("echo", {"message": "still serving"})[1]["status"] == 200
    finally:
        honest.close()


def _row(request_id: str) -> ToolCall | None:
    return ToolCall.objects.filter(request_id=request_id).first()


@pytest.mark.parametrize(
    ("how", "error"),
    [("cancel", "cancelled by the caller"), ("close", "the caller went away")],
)
def test_a_caller_that_cancels_or_goes_away_stops_its_call(trio_runtime, how, error):
    client = BridgeSocket(trio_runtime)
    request_id = uuid.uuid4().hex
    body = {**bridge_body("sleep", {"seconds": 60}, budget=120), "request_id": request_id}
    try:
        client.send({"type": "call", **body})
        wait_until(
            lambda: httpx.get(f"{trio_runtime.url}/health").json()["in_flight"] == 1,
            timeout=30,
            what="the call to start",
        )
        if how == "cancel":
            client.send({"type": "cancel"})
            answer = client.receive()  # the cancelled call's answer, on the same connection
            assert answer["status"] == 200 and answer["body"]["isError"] is True
            assert answer["body"]["content"][0]["text"] == error
    finally:
        client.close()
    wait_until(
        lambda: httpx.get(f"{trio_runtime.url}/health").json()["in_flight"] == 0,
        timeout=30,
        what="the runtime to stop the call",
    )
    row = wait_until(lambda: _row(request_id), timeout=30, what="the call's row")
    assert (row.outcome, row.error) == ("cancelled", error)
    assert row.duration_ms < 30_000  # stopped, not slept out
