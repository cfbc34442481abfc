"""The web process's ASGI application (mcp_platform/asgi.py), through its own routes: what each
path reaches, the body limit in front of them all, and the lifespan that starts and stops the
process's background threads."""

import asyncio
import gc
import json
import threading

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from mcp_platform import asgi


def _requests(*requests):
    async def run():
        transport = httpx.ASGITransport(app=asgi.application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return [await http.request(method, path, **kw) for method, path, kw in requests]

    return asyncio.run(run())


@pytest.mark.django_db(transaction=True)
def test_each_path_reaches_its_handler(make_token):
    secret = make_token()
    bearer = {"authorization": f"Bearer {secret}"}
    mcp_headers = {**bearer, "content-type": "application/json", "accept": "application/json"}
    ping = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ping"})
    mcp, mcp_slash, api, page = _requests(
        ("POST", "/mcp", {"content": ping, "headers": mcp_headers}),
        ("POST", "/mcp/", {"content": ping, "headers": mcp_headers}),
        ("GET", "/api/v2/tools/", {"headers": bearer}),
        ("GET", "/admin/login/", {}),
    )
    assert mcp.status_code == 200 and mcp.json()["id"] == 7
    assert mcp_slash.status_code == 200 and mcp_slash.json()["id"] == 7
    assert api.status_code == 200
    assert "set-cookie" not in api.headers  # the API's middleware only: no session, no CSRF
    assert page.status_code == 200
    assert "csrftoken" in page.headers.get("set-cookie", "")  # the pages' full stack


@pytest.mark.django_db(transaction=True)
def test_below_mcp_is_django_not_the_endpoint(make_token):
    (legacy,) = _requests(
        (
            "POST",
            "/mcp/tools/call",
            {"json": {"name": "echo", "arguments": {}}, "headers": {"content-type": "x"}},
        ),
    )
    assert legacy.status_code == 401  # the legacy REST door's answer, not the MCP endpoint's


def test_static_files_and_a_missing_one():
    root = settings.STATIC_ROOT
    root.mkdir(parents=True, exist_ok=True)
    served = root / "test-asgi.css"
    served.write_text("body { color: teal }")
    try:
        found, missing = _requests(
            ("GET", "/static/test-asgi.css", {}), ("GET", "/static/no-such-file.css", {})
        )
    finally:
        served.unlink()
    assert found.status_code == 200 and found.text == "body { color: teal }"
    assert missing.status_code == 404
    assert missing.json()["status_code"] == 404


def test_the_body_limit_answers_before_any_route():
    limit = settings.MCP_PLATFORM_MAX_BODY_BYTES
    too_big, bad_length = _requests(
        ("POST", "/mcp", {"headers": {"content-length": str(limit + 1)}, "content": b""}),
        ("POST", "/api/v2/tools", {"headers": {"content-length": "many"}, "content": b""}),
    )
    assert too_big.status_code == 413
    assert too_big.json()["max_bytes"] == limit
    assert bad_length.status_code == 400
    assert bad_length.json()["error"] == "Invalid Content-Length header"


@pytest.mark.django_db(transaction=True)
def test_websockets_reach_the_status_pages(admin_user):
    client = Client()
    client.force_login(admin_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    origin = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]

    async def run():
        anonymous = WebsocketCommunicator(asgi.application, "/ws/status/?topic=peers", origin)
        refused, code = await anonymous.connect()
        await anonymous.disconnect()
        staff = WebsocketCommunicator(
            asgi.application, "/ws/status/?topic=peers", [*origin, (b"cookie", cookie)]
        )
        accepted, _ = await staff.connect()
        hello = await staff.receive_json_from(timeout=10)
        await staff.disconnect()
        return refused, code, accepted, hello

    refused, code, accepted, hello = asyncio.run(run())
    assert (refused, code) == (False, 4403)  # the consumer's refusal of a non-staff user
    assert accepted and hello == {"type": "hello", "topic": "peers"}


def _threads() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


@pytest.mark.django_db(transaction=True)
def test_the_lifespan_starts_and_stops_the_background_threads(make_token, settings, monkeypatch):
    from apps.access.models import ApiToken
    from apps.tools.models import ToolCall
    from apps.tools.services import sync_tools

    settings.MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS = 60  # no write before the stop's flush
    sync_tools()
    secret = make_token()
    writers = {"call-log-writer", "audit-writer", "token-last-used", "version-watcher"}

    async def run():
        async with asgi.lifespan():
            running = _threads()
            transport = httpx.ASGITransport(app=asgi.application)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                reply = await http.post(
                    "/api/v2/tools/echo/call",
                    json={"message": "lifespan"},
                    headers={"authorization": f"Bearer {secret}"},
                )
        return running, reply, _threads()

    monkeypatch.setattr(asgi, "_heap_frozen", False)  # as in a new web process
    assert gc.get_freeze_count() == 0
    try:
        running, reply, after = asyncio.run(run())
        # Start-up's objects are out of the collector's scans (its full passes cost each call).
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # the rest of the session's objects stay collectable
    assert reply.status_code == 200, reply.text
    assert writers <= running
    assert not writers & after
    assert not any(name.startswith("db_") for name in after)
    # Stopping flushed the call log: the call is on record without waiting for an interval.
    assert ToolCall.objects.filter(tool_name="echo").exists()
    # ... and the token's use (noted off the request, written by the last-used writer's stop).
    assert ApiToken.objects.get(prefix=secret[:11]).last_used_at is not None
