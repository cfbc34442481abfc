"""A node with several web workers (`runplatform --workers 2`): a 2025-era session lives in the
worker that opened it and the other relays its requests there (apps.tools.mcp_relay), every
worker watches the catalogue, and /metrics sums the calls of every worker.

A client that opens a new connection per request (no keep-alive) lands on either worker, as the
kernel hands each connection to whichever worker accepts it first; a tool result's
`_meta["dev.mcp-platform/call"]["pid"]` says which worker ran it."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from django.db import connection
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ToolsListChanged

from apps.access.models import ApiToken
from apps.access.services import revoke_api_tokens
from apps.tools.models import Tool
from apps.tools.services import set_tools_enabled
from tests.harness import PlatformProcess
from tests.mcp.conftest import TOOL_MODULES, list_all, log_in_new_user, mcp_client

pytestmark = pytest.mark.slow

CALL_META = "dev.mcp-platform/call"
MAX_CALLS = 60  # calls a test makes at most to see both workers answer
# The mechanism refuses a changed credential within a second (the version watcher polls every
# 0.25 s); the test waits longer before it fails, as the machine may be loaded.
REFUSED_WITHIN = 10.0
FURTHER_CALLS = 5  # calls per worker after the first refusal, each refused too


@contextlib.asynccontextmanager
async def session_per_request_connections(
    url: str, token: str, *, mode: str = "legacy", **kwargs
) -> AsyncIterator[Client]:
    """An SDK client (a 2025-era session by default) whose every request opens a new connection
    (no keep-alive), so its requests spread over the workers; its GET stream stays on one."""
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30, read=120),
        limits=httpx2.Limits(max_keepalive_connections=0),
    )
    async with (
        http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs) as client,
    ):
        yield client


def relayed_total(node_url: str) -> float:
    """Requests relayed to the worker holding their session, summed over both workers."""
    metrics = httpx.get(f"{node_url}/metrics", headers={"Connection": "close"}, timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('mcp_platform_mcp_relayed_requests_total{outcome="relayed"}')
    )


def echo_calls_total(metrics: str) -> float:
    """Successful echo calls counted in one /metrics scrape (every runtime label)."""
    total = 0.0
    for line in metrics.splitlines():
        counted = line.startswith("mcp_platform_tool_calls_total{") and 'tool="echo"' in line
        if counted and 'outcome="success"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def set_enabled(node_url: str, admin_token: str, name: str, *, enabled: bool) -> None:
    """The admin change, through the REST API, on a new connection (so either worker)."""
    reply = httpx.patch(
        f"{node_url}/api/v2/tools/{name}",
        json={"enabled": enabled},
        headers={"Authorization": f"Bearer {admin_token}", "Connection": "close"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text


@pytest.fixture(scope="module")
def two_worker_node(bulk_tools, tmp_path_factory):
    node = PlatformProcess(
        tmp_path_factory.mktemp("node"),
        # The setting, not `--workers`: what an operator (or an imported legacy config) sets.
        env={"MCP_PLATFORM_TOOL_MODULES": TOOL_MODULES, "MCP_PLATFORM_WEB_WORKERS": "2"},
    )
    node.start(timeout=180)  # two workers import everything side by side
    yield node
    node.stop()


def test_clients_of_both_eras_work_against_two_web_workers(two_worker_node, new_token):
    token = new_token()
    url = f"{two_worker_node.url}/mcp"
    outcomes: list[str] = []

    async def one(mode: str, number: int) -> None:
        async with mcp_client(url, token, mode=mode) as client:
            _, pages = await list_all(client)
            assert pages >= 3
            for attempt in range(3):
                message = f"{mode}-{number}-{attempt}"
                reply = await client.call_tool("echo", {"message": message})
                assert reply.structured_content == {"message": message}
            outcomes.append(client.protocol_version)

    async def scenario():
        async with anyio.create_task_group() as tasks:
            for number in range(6):
                tasks.start_soon(one, "legacy", number)
                tasks.start_soon(one, "auto", number)

    anyio.run(scenario)
    assert sorted(outcomes) == ["2025-11-25"] * 6 + ["2026-07-28"] * 6


def test_listen_streams_on_every_worker_hear_a_catalogue_change(two_worker_node, new_token):
    token = new_token()
    url = f"{two_worker_node.url}/mcp"

    def disable() -> None:
        try:
            set_tools_enabled(tools=Tool.objects.filter(name="bulk_042"), enabled=False)
        finally:
            connection.close()  # a worker thread's connection must not outlive it

    async def scenario():
        heard = 0
        async with (
            mcp_client(url, token, mode="auto") as first,
            mcp_client(url, token, mode="auto") as second,
            mcp_client(url, token, mode="auto") as third,
            first.listen(tools_list_changed=True) as one,
            second.listen(tools_list_changed=True) as two,
            third.listen(tools_list_changed=True) as three,
        ):
            await anyio.to_thread.run_sync(disable)
            for subscription in (one, two, three):
                with anyio.fail_after(10):
                    async for event in subscription:
                        assert isinstance(event, ToolsListChanged)
                        heard += 1
                        break
            assert "bulk_042" not in [tool.name for tool in (await list_all(first))[0]]
        assert heard == 3

    try:
        anyio.run(scenario)
    finally:
        set_tools_enabled(tools=Tool.objects.filter(name="bulk_042"), enabled=True)


def test_a_2025_session_hears_list_changed_and_works_on_either_worker(two_worker_node, new_token):
    token, admin = new_token(), new_token(scopes=("admin",))
    url = f"{two_worker_node.url}/mcp"
    changes: list[object] = []
    heard, heard_prompts = anyio.Event(), anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changes.append(message)
            heard.set()
        if isinstance(message, types.PromptListChangedNotification):
            heard_prompts.set()  # the shared GET stream announces every list

    async def scenario() -> tuple[set[int], float]:
        pids: set[int] = set()
        before = relayed_total(two_worker_node.url)
        async with session_per_request_connections(
            url, token, message_handler=on_message
        ) as client:
            assert client.protocol_version == "2025-11-25"
            await anyio.sleep(1)  # the GET stream opens after the handshake
            await anyio.to_thread.run_sync(
                lambda: set_enabled(two_worker_node.url, admin, "bulk_077", enabled=False)
            )
            with anyio.fail_after(15):
                await heard.wait()
                await heard_prompts.wait()
            names = [tool.name for tool in (await list_all(client))[0]]
            assert "bulk_077" not in names and "echo" in names
            # Until the other worker has taken (and relayed) some of the session's requests.
            for number in range(MAX_CALLS):
                reply = await client.call_tool("echo", {"message": f"m{number}"})
                assert reply.structured_content == {"message": f"m{number}"}
                pids.add(reply.meta[CALL_META]["pid"])
                if number % 5 == 4 and relayed_total(two_worker_node.url) > before:
                    break
        return pids, relayed_total(two_worker_node.url) - before

    try:
        pids, relayed = anyio.run(scenario)
    finally:
        set_enabled(two_worker_node.url, admin, "bulk_077", enabled=True)
    assert changes, "no tools/list_changed reached the session"
    assert relayed > 0, "no request of the session landed on the other worker"
    assert len(pids) == 1, f"the session's calls ran on both workers: {pids}"


def test_a_tool_disabled_through_one_worker_is_gone_from_tools_list_on_either(
    two_worker_node, new_token
):
    token, admin = new_token(), new_token(scopes=("admin",))
    url = f"{two_worker_node.url}/mcp"

    async def lists_and_pids() -> tuple[list[list[str]], set[int]]:
        listings, pids = [], set()
        # 2026-07-28: every request is served by the worker that takes it.
        async with session_per_request_connections(url, token, mode="auto") as client:
            for number in range(MAX_CALLS):
                listings.append([tool.name for tool in (await list_all(client))[0]])
                reply = await client.call_tool("echo", {"message": str(number)})
                pids.add(reply.meta[CALL_META]["pid"])
                if len(pids) == 2 and len(listings) >= 4:
                    break
        return listings, pids

    set_enabled(two_worker_node.url, admin, "bulk_123", enabled=False)
    try:
        listings, pids = anyio.run(lists_and_pids)
    finally:
        set_enabled(two_worker_node.url, admin, "bulk_123", enabled=True)
    assert len(pids) == 2, f"every request ran on one worker: {pids}"
    assert all("bulk_123" not in names and "echo" in names for names in listings)


def test_one_metrics_scrape_sums_the_calls_of_both_workers(two_worker_node, new_token):
    headers = {"Authorization": f"Bearer {new_token()}", "Connection": "close"}
    before = echo_calls_total(httpx.get(f"{two_worker_node.url}/metrics", timeout=30).text)
    pids, calls = set(), 0
    while len(pids) < 2 and calls < MAX_CALLS:
        reply = httpx.post(
            f"{two_worker_node.url}/api/v2/tools/echo/call",
            json={"message": "counted"},
            headers=headers,
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        pids.add(reply.json()["meta"]["pid"])
        calls += 1
    assert len(pids) == 2, f"every call ran on one worker: {pids}"
    for _ in range(4):  # whichever worker answers the scrape counts both workers' calls
        metrics = httpx.get(
            f"{two_worker_node.url}/metrics", headers={"Connection": "close"}, timeout=30
        ).text
        assert echo_calls_total(metrics) - before == calls
        assert re.search(r"mcp_platform_tool_call_duration_seconds_bucket\{", metrics)


def test_a_session_stays_bound_to_the_token_that_opened_it_on_either_worker(
    two_worker_node, new_token
):
    url = f"{two_worker_node.url}/mcp"
    owner, other = new_token(), new_token()
    accept = "application/json, text/event-stream"
    hello = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    opened = httpx.post(
        url, json=hello, headers={"Authorization": f"Bearer {owner}", "Accept": accept}
    )
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}

    def post_as(token: str, session_id: str) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": accept,
            "Mcp-Session-Id": session_id,
            "MCP-Protocol-Version": "2025-11-25",
            "Connection": "close",
        }
        return httpx.post(url, json=listing, headers=headers, timeout=30)

    # Each request on a new connection: either worker takes it, the session's own or the other.
    for _ in range(4):
        assert post_as(owner, session).status_code == 200
        assert post_as(other, session).status_code == 404  # another token: no such session
    forged = session.split(".")[0] + "." + "0" * 32
    assert post_as(owner, forged).status_code == 404
    assert post_as(owner, "not-a-session").status_code == 404
    assert post_as(owner, "w1.abc").status_code == 404  # a worker that is not there


def test_the_relay_sockets_are_private_and_want_the_node_secret(two_worker_node):
    """Each worker's relay socket is 0600 in a 0700 directory, and a connection that does not
    open with the node's bridge secret is closed unanswered."""
    import socket
    import stat

    from apps.routing import bridge_wire

    directory = two_worker_node.data_dir / "mcp-relay"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    sockets = sorted(directory.glob("*.sock"))
    assert len(sockets) == 2, sockets
    for path in sockets:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        scope = {"type": "http", "method": "GET", "path": "/mcp", "headers": []}
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(15)
            client.connect(str(path))
            client.sendall(
                bridge_wire.encode({"type": "request", "secret": "guess", "scope": scope})
            )
            assert client.recv(4096) == b""  # closed, nothing served


# ---------------------------------------------------------------- credentials changed elsewhere


def echo_on(http: httpx.Client, bearer: str) -> httpx.Response:
    return http.post(
        "/api/v2/tools/echo/call",
        json={"message": "who"},
        headers={"Authorization": f"Bearer {bearer}"},
    )


def local_address(reply: httpx.Response) -> tuple:
    """The client end of the connection that carried `reply`: the same one means the same
    worker (a kept-alive connection stays with the worker that accepted it)."""
    return reply.extensions["network_stream"].get_extra_info("client_addr")


@contextlib.contextmanager
def one_connection_per_worker(url: str, bearer: str) -> Iterator[dict[int, httpx.Client]]:
    """A kept-alive connection to each of the two workers, by worker pid: new connections are
    opened, each making a call with `bearer`, until both workers have answered (bounded)."""
    pinned: dict[int, httpx.Client] = {}
    with contextlib.ExitStack() as stack:
        for _ in range(MAX_CALLS):
            http = stack.enter_context(
                httpx.Client(
                    base_url=url,
                    timeout=30,
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                )
            )
            reply = echo_on(http, bearer)
            assert reply.status_code == 200, reply.text
            pinned.setdefault(reply.json()["meta"]["pid"], http)
            if len(pinned) == 2:
                break
        assert len(pinned) == 2, f"in {MAX_CALLS} connections only worker {set(pinned)} answered"
        yield pinned


def assert_refused_on_both_workers(
    node, bearer: str, change: Callable[[], None], control: str
) -> None:
    """`bearer` works on both workers (and is cached by each); after `change`, every call with
    it is refused on either worker, from the first refusal on. `control`, a credential left
    alone, shows at the end that each connection still reached the same worker."""
    with one_connection_per_worker(node.url, bearer) as pinned:
        addresses = {}
        for pid, http in pinned.items():
            reply = echo_on(http, bearer)  # served from that worker's principal cache
            assert reply.status_code == 200 and reply.json()["meta"]["pid"] == pid, reply.text
            addresses[pid] = local_address(reply)
        change()
        statuses: dict[int, list[int]] = {pid: [] for pid in pinned}
        deadline = time.monotonic() + REFUSED_WITHIN
        while time.monotonic() < deadline and not all(401 in s for s in statuses.values()):
            for pid, http in pinned.items():
                reply = echo_on(http, bearer)
                assert local_address(reply) == addresses[pid], "the connection changed worker"
                statuses[pid].append(reply.status_code)
            time.sleep(0.02)
        for pid, http in pinned.items():
            for _ in range(FURTHER_CALLS):
                reply = echo_on(http, bearer)
                assert local_address(reply) == addresses[pid], "the connection changed worker"
                statuses[pid].append(reply.status_code)
            seen = statuses[pid]
            assert 401 in seen, f"worker {pid} still served the credential: {seen}"
            after = seen[seen.index(401) :]
            assert after == [401] * len(after), f"worker {pid} served it again: {seen}"
            assert set(seen) <= {200, 401}, seen
            reply = echo_on(http, control)
            assert reply.status_code == 200 and reply.json()["meta"]["pid"] == pid, reply.text
            assert local_address(reply) == addresses[pid]


def test_a_revoked_token_is_refused_by_both_workers(two_worker_node, new_token):
    secret, control = new_token(), new_token()

    def revoke() -> None:
        assert revoke_api_tokens(tokens=ApiToken.objects.filter(prefix=secret[:11])) == 1

    assert_refused_on_both_workers(two_worker_node, secret, revoke, control)


def test_a_deactivated_users_jwt_is_refused_by_both_workers(two_worker_node, new_token):
    user, jwt = log_in_new_user(two_worker_node.url)

    def deactivate() -> None:
        user.is_active = False
        user.save()

    assert_refused_on_both_workers(two_worker_node, jwt, deactivate, new_token())


def test_with_two_workers_a_tool_logs_and_asks_in_both_eras(two_worker_node, new_token):
    """A 2025-era session's requests, and the client's answers to a tool's questions, reach the
    worker that holds the session whichever worker takes them; the 2026 era asks on any
    worker."""
    token = new_token()
    url = f"{two_worker_node.url}/mcp"
    logs: list = []

    async def on_log(params) -> None:
        logs.append(params)

    async def on_elicit(context, params):
        return types.ElicitResult(action="accept", content={"name": "Lin"})

    async def on_sample(context, params):
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(text="Nice."), model="m"
        )

    callbacks = {
        "logging_callback": on_log,
        "elicitation_callback": on_elicit,
        "sampling_callback": on_sample,
    }

    async def scenario():
        async with session_per_request_connections(url, token, **callbacks) as legacy:
            # The session's log level is kept where the session lives, whoever took the request.
            await legacy.set_logging_level("info")
            for _ in range(3):
                logs.clear()
                asked = await legacy.call_tool("ask_name", {"greeting": "Hi"})
                assert not asked.is_error, asked.content
                assert asked.structured_content["greeting"] == "Hi, Lin!"
                assert [entry.level for entry in logs] == ["info"]
        async with mcp_client(url, token, mode="auto", **callbacks) as modern:
            # Each round is a new request: it may land on either worker.
            for _ in range(3):
                reply = await modern.call_tool("ask_name", {"greeting": "Hi"})
                assert reply.structured_content["greeting"] == "Hi, Lin!"

    anyio.run(scenario)


def test_a_2025_sessions_broken_stream_resumes_whichever_worker_takes_the_reconnection(
    two_worker_node, new_token
):
    """The server ends a call's stream before answering; the SDK client reconnects with
    `Last-Event-ID` on a new connection (either worker) and gets the progress and the answer
    from the events kept where the session lives. On a toolset's endpoint too, and /mcp after
    it (each worker serves its relay socket once, for the whole app)."""
    token, admin = new_token(), new_token(scopes=("admin",))
    slug = f"relay-{uuid.uuid4().hex[:8]}"
    api = f"{two_worker_node.url}/api/v2/toolsets"
    auth = {"Authorization": f"Bearer {admin}", "Connection": "close"}
    body = {"slug": slug, "title": "Relayed", "tools": ["test_resumable_stream"]}
    created = httpx.post(api, json=body, headers=auth, timeout=30)
    assert created.status_code == 201, created.text
    before = relayed_total(two_worker_node.url)

    async def calls(url: str, count: int) -> None:
        seen: list[float] = []

        async def on_progress(progress, total, message) -> None:
            seen.append(progress)

        async with session_per_request_connections(url, token) as client:
            for _ in range(count):
                seen.clear()
                with anyio.fail_after(60):
                    reply = await client.call_tool(
                        "test_resumable_stream", {}, progress_callback=on_progress
                    )
                assert not reply.is_error
                assert reply.content[0].text == "answered after the stream closed"
                assert seen and seen[0] == 1

    try:
        # The toolset's endpoint first: a worker starts it on its first request, and /mcp's
        # relayed requests must still reach /mcp's sessions after that.
        anyio.run(calls, f"{two_worker_node.url}/mcp/{slug}", 2)
        anyio.run(calls, f"{two_worker_node.url}/mcp", 4)
    finally:
        httpx.delete(f"{api}/{slug}", headers=auth, timeout=30)
    assert relayed_total(two_worker_node.url) > before
