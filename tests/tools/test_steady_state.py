"""The steady state of a call: after a warm-up, an echo call over REST and over /mcp makes no
database query and no hop to a thread (principal, tool and routing come from the versioned
caches; the call log is written in batches, off the call path; API requests skip Django's
session, CSRF and auth middleware), and a change is seen on the next call."""

from __future__ import annotations

import contextlib
import threading

import anyio
import httpx
import pytest
from asgiref.sync import SyncToAsync
from django.db import connection
from django.db.backends import utils as db_utils

from apps.access.models import ApiToken
from apps.access.services import create_api_token
from apps.tools import call_log, services
from mcp_platform import concurrency
from tests.harness import wait_until

# Threads that query on their own schedule, never for a request.
BACKGROUND_THREADS = {"version-watcher", "call-log-writer", "token-last-used"}

MCP_2026 = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "echo",
}
MCP_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.fixture
def request_queries(monkeypatch):
    """Every SQL statement run in any thread but the background ones, and every hop of a
    request to a thread (asgiref's sync_to_async, the DB threads), while counting."""
    seen: list[str] = []
    counting = threading.Event()
    original = db_utils.CursorWrapper._execute_with_wrappers

    def execute(self, sql, params, many, executor):
        if counting.is_set() and threading.current_thread().name not in BACKGROUND_THREADS:
            seen.append(sql)
        return original(self, sql, params, many, executor)

    monkeypatch.setattr(db_utils.CursorWrapper, "_execute_with_wrappers", execute)

    def hop(original, what):
        def counted(*args, **kwargs):
            if counting.is_set():
                seen.append(f"thread hop: {what}")
            return original(*args, **kwargs)

        return counted

    monkeypatch.setattr(SyncToAsync, "__call__", hop(SyncToAsync.__call__, "sync_to_async"))
    monkeypatch.setattr(concurrency, "_in_db_thread", hop(concurrency._in_db_thread, "db thread"))

    @contextlib.contextmanager
    def count():
        seen.clear()
        counting.set()
        try:
            yield seen
        finally:
            counting.clear()

    return count


@contextlib.asynccontextmanager
async def web_process():
    """The web process's ASGI application, started as Uvicorn starts it (its lifespan)."""
    from mcp_platform import asgi

    async with asgi.lifespan():
        transport = httpx.ASGITransport(app=asgi.application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            yield http


def _mcp_call(message: str) -> dict:
    params = {"name": "echo", "arguments": {"message": message}, "_meta": MCP_META}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


@pytest.mark.django_db(transaction=True)
def test_a_steady_state_echo_call_over_rest_and_mcp_makes_no_query(catalogue, request_queries):
    token, secret = create_api_token(name="steady", scopes=["tools:read", "tools:call"])
    bearer = {"Authorization": f"Bearer {secret}"}

    async def scenario():
        async with web_process() as http:
            for _ in range(2):  # warm-up: principal, catalogue, routing table
                warm = await http.post("/tools/execute/echo", json={"message": "w"}, headers=bearer)
                assert warm.status_code == 200, warm.text
                warm = await http.post("/mcp", json=_mcp_call("w"), headers={**bearer, **MCP_2026})
                assert warm.status_code == 200, warm.text
            with request_queries() as queries:
                rest = await http.post(
                    "/tools/execute/echo", json={"message": "steady"}, headers=bearer
                )
                v2 = await http.post(
                    "/api/v2/tools/echo/call", json={"message": "v2"}, headers=bearer
                )
                mcp = await http.post(
                    "/mcp", json=_mcp_call("steady"), headers={**bearer, **MCP_2026}
                )
            assert rest.json()["result"] == {"message": "steady"}
            assert v2.json()["structuredContent"] == {"message": "v2"}
            assert mcp.json()["result"]["structuredContent"] == {"message": "steady"}
            assert queries == []
            assert "cookie" not in rest.headers.get("vary", "").lower()  # no session middleware
            assert rest.headers["x-content-type-options"] == "nosniff"
            # The admin keeps Django's full stack: sessions, CSRF, clickjacking protection.
            admin = await http.get("/admin/login/")
            assert admin.status_code == 200 and admin.headers["x-frame-options"] == "DENY"
            assert "csrftoken" in admin.cookies

            # A change made in this process is seen on the very next call.
            def disable_echo() -> None:
                try:
                    services.update_tool(
                        tool=services.Tool.objects.get(name="echo"), changes={"enabled": False}
                    )
                finally:
                    connection.close()  # this thread's, so the test database can be dropped

            await anyio.to_thread.run_sync(disable_echo)
            gone = await http.post("/tools/execute/echo", json={"message": "x"}, headers=bearer)
            assert gone.status_code == 404

            # The token was used: noted off the request, by the last-used writer.
            def last_used() -> object:
                try:
                    return ApiToken.objects.get(pk=token.pk).last_used_at
                finally:
                    connection.close()

            await anyio.to_thread.run_sync(
                lambda: wait_until(last_used, timeout=30, what="last_used_at written")
            )

            def revoke() -> None:
                try:
                    token.revoked = True
                    token.save()
                finally:
                    connection.close()

            await anyio.to_thread.run_sync(revoke)
            refused = await http.post("/api/v2/tools/echo/call", json={}, headers=bearer)
            assert refused.status_code == 401

    try:
        anyio.run(scenario)
    finally:
        call_log.flush()
