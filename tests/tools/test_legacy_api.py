import json

import pytest
from django.urls import reverse

from apps.tools.models import Tool
from apps.tools.services import update_tool
from tests.admin_forms import submit_change_form
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.django_db


def post_json(client, path, body, **headers):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


def login(client, username="admin", password=ADMIN_PASSWORD):
    return post_json(client, "/auth/login", {"username": username, "password": password})


def test_login_with_admin_credentials_then_list_and_execute_in_legacy_shapes(
    client, catalogue, admin_user, client_for
):
    reply = login(client)
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    authed = client_for(body["access_token"])

    listing = authed.get("/tools/list").json()
    assert listing == {
        "tools": ["calculate", "echo", "platform_status", "sleep"],
        "count": 4,
        "categories": ["builtin"],
    }
    executed = post_json(authed, "/tools/execute/echo", {"message": "hello"})
    assert executed.status_code == 200
    assert executed.json() == {"tool": "echo", "status": "success", "result": {"message": "hello"}}

    # Renewal takes the refresh token (issue 13: an access token renews nothing).
    assert authed.post("/auth/refresh").status_code == 401
    refreshed = client_for(body["refresh_token"]).post("/auth/refresh")
    assert refreshed.status_code == 200 and refreshed.json()["access_token"]


def test_wrong_password_and_unknown_user_get_401(client, admin_user):
    for username, password in (("admin", "wrong"), ("nobody", "x"), ("admin", "")):
        reply = login(client, username, password)
        assert reply.status_code in (401, 422), (username, password)
    reply = login(client, "admin", "wrong")
    assert reply.status_code == 401
    assert reply.json()["error"] == "Invalid username or password"
    assert reply.json()["status_code"] == 401 and reply.json()["timestamp"]


def test_no_token_or_bad_token_gets_401_with_www_authenticate(client, client_for, catalogue):
    reply = client.get("/tools/list")
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert reply.json()["error"] == "Missing bearer token"
    for bad in ("mcpp_not-a-real-token", "eyJhbGciOiJIUzI1NiJ9.e30.bad"):
        reply = client_for(bad).post(
            "/tools/execute/echo", data="{}", content_type="application/json"
        )
        assert reply.status_code == 401


def test_expired_and_revoked_tokens_get_401(client_for, make_token, catalogue):
    from datetime import timedelta

    from django.utils import timezone

    from apps.access.models import ApiToken

    expired = make_token(expires_at=timezone.now() - timedelta(seconds=1))
    assert client_for(expired).get("/tools/list").status_code == 401
    revoked = make_token()
    ApiToken.objects.filter(prefix=revoked[:11]).update(revoked=True)
    assert client_for(revoked).get("/tools/list").status_code == 401


def test_token_without_call_scope_gets_403_on_execute(client_for, make_token, catalogue):
    reader = client_for(make_token(scopes=["tools:read"]))
    assert reader.get("/tools/list").status_code == 200
    reply = post_json(reader, "/tools/execute/echo", {"message": "x"})
    assert reply.status_code == 403
    assert "tools:call" in reply.json()["error"]


def test_token_limited_to_a_pattern_sees_and_calls_only_those_tools(
    client_for, make_token, catalogue
):
    limited = client_for(make_token(allowed_tools="echo*"))
    assert limited.get("/tools/list").json()["tools"] == ["echo"]
    assert post_json(limited, "/tools/execute/echo", {"message": "x"}).status_code == 200
    assert post_json(limited, "/tools/execute/calculate", {"a": 1, "b": 2}).status_code == 403


def test_api_token_last_use_is_written_at_most_once_a_minute(client_for, make_token, catalogue):
    from datetime import UTC, datetime

    from apps.access import principal_cache
    from apps.access.models import ApiToken

    secret = make_token()
    api = client_for(secret)
    token = ApiToken.objects.get(prefix=secret[:11])
    assert token.last_used_at is None
    assert api.get("/tools/list").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    # Mark the row, so that any later write shows, and use the token again within the minute.
    marker = datetime(2000, 1, 1, tzinfo=UTC)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=marker)
    for _ in range(5):
        assert api.get("/tools/list").status_code == 200
    principal_cache.flush_last_used()
    assert ApiToken.objects.get(pk=token.pk).last_used_at == marker
    # A minute on (the cache's note of its last write made a minute older), the next use writes
    # again; dropping the cached principal makes that request resolve it, writing inline.
    principal_cache._last_noted[token.pk] -= principal_cache.LAST_USED_RESOLUTION
    principal_cache._entries.clear()
    assert api.get("/tools/list").status_code == 200
    principal_cache.flush_last_used()
    assert ApiToken.objects.get(pk=token.pk).last_used_at > marker


def test_disabling_a_tool_in_the_admin_form_takes_effect_at_once(
    client, client_for, token, catalogue, admin_user
):
    api = client_for(token)
    assert post_json(api, "/tools/execute/echo", {"message": "x"}).status_code == 200
    client.force_login(admin_user)
    echo = Tool.objects.get(name="echo")
    submit_change_form(client, reverse("admin:tools_tool_change", args=[echo.pk]), enabled=False)
    assert Tool.objects.get(name="echo").enabled is False
    assert "echo" not in api.get("/tools/list").json()["tools"]
    reply = post_json(api, "/tools/execute/echo", {"message": "x"})
    assert reply.status_code == 404
    assert reply.json()["error"] == "Tool 'echo' not found"


def test_execute_reports_validation_tool_errors_and_timeouts(client_for, token, catalogue):
    api = client_for(token)
    invalid = post_json(api, "/tools/execute/calculate", {"a": "x", "b": 1})
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [
        {
            "field": "a",
            "problem": "Input should be a valid number, unable to parse string as a number",
        }
    ]
    failed = post_json(api, "/tools/execute/calculate", {"a": 1, "b": 0, "operation": "divide"})
    assert failed.status_code == 500
    assert failed.json()["error"].startswith("Tool execution failed: ")
    update_tool(tool=Tool.objects.get(name="sleep"), changes={"timeout_seconds": 0.2})
    timed_out = post_json(api, "/tools/execute/sleep", {"seconds": 10})
    assert timed_out.status_code == 504
    assert "timed out after 0.2s" in timed_out.json()["error"]


def test_mcp_tools_list_and_call_legacy_shapes(client_for, token, catalogue):
    api = client_for(token)
    for method in (api.get, api.post):
        listing = method("/mcp/tools/list").json()
        assert listing["jsonrpc"] == "2.0"
        tools = {t["name"]: t for t in listing["result"]["tools"]}
        assert set(tools) == {"calculate", "echo", "platform_status", "sleep"}
        assert tools["calculate"]["outputSchema"]["properties"]["result"] == {
            "title": "Result",
            "type": "number",
        }
        assert tools["echo"]["annotations"]["readOnlyHint"] is True
    called = post_json(api, "/mcp/tools/call", {"name": "echo", "arguments": {"message": "m"}})
    assert called.json() == {
        "jsonrpc": "2.0",
        "result": {
            "content": [{"type": "text", "text": '{"message": "m"}'}],
            "structuredContent": {"message": "m"},
            "isError": False,
        },
    }
    legacy_key = post_json(api, "/mcp/tools/call", {"tool": "echo", "arguments": {"message": "t"}})
    assert legacy_key.json()["result"]["structuredContent"] == {"message": "t"}
    failing = post_json(
        api,
        "/mcp/tools/call",
        {"name": "calculate", "arguments": {"a": 1, "b": 0, "operation": "divide"}},
    )
    assert failing.status_code == 200 and failing.json()["result"]["isError"] is True
    missing = post_json(api, "/mcp/tools/call", {"arguments": {}})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == -32602
    unknown = post_json(api, "/mcp/tools/call", {"name": "nope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32601


def test_discover_lists_tools_and_endpoints(client_for, token, catalogue):
    body = client_for(token).get("/mcp/discover").json()
    assert body["server"] == "mcp-platform"
    assert "echo" in body["tools"]
    assert body["endpoints"]["jsonrpc"] == "/mcp"
    assert body["p2p"]["status"] in {"active", "disabled"}


def test_health_and_metrics_are_open(client, client_for, token, catalogue):
    health = client.get("/health").json()
    assert health["status"] == "healthy" and health["version"] and "uptime_seconds" in health
    ready = client.get("/health/ready")
    assert ready.json()["checks"]["database"]["status"] == "up"
    post_json(client_for(token), "/tools/execute/echo", {"message": "m"})
    metrics = client.get("/metrics").content.decode()
    assert (
        'mcp_platform_tool_calls_total{outcome="success",runtime="asyncio",tool="echo"}' in metrics
    )
    assert "mcp_platform_tool_call_duration_seconds_bucket" in metrics


def test_openapi_swagger_and_redoc_are_served(client):
    spec = client.get("/openapi.json").json()
    assert "/tools/execute/{tool_name}" in spec["paths"]
    assert spec["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200
    assert b"redoc" in client.get("/redoc").content.lower()
    assert "/api/v2/tools/" in client.get("/api/v2/openapi.json").json()["paths"]


# The legacy operator and workflow routes: (method, path, scope that opens them).
LEGACY_OPERATOR_ROUTES = [
    ("get", "/admin/stats", "admin"),
    ("get", "/admin/health", "admin"),
    ("get", "/cache/stats", "admin"),
    ("post", "/cache/clear", "admin"),
    ("post", "/workflows/execute", "tools:call"),
    ("get", "/workflows/status/00000000-0000-0000-0000-000000000000", "tools:read"),
    ("post", "/audit/record", "tools:call"),
    ("get", "/audit/report", "admin"),
    ("get", "/api/v2/audit/", "admin"),
    ("get", "/api/v2/audit/verify", "admin"),
    ("get", "/api/v2/audit/export", "admin"),
]


@pytest.mark.parametrize(("method", "path", "scope"), LEGACY_OPERATOR_ROUTES)
def test_legacy_operator_routes_need_a_bearer_token_with_their_scope(
    client, client_for, make_token, catalogue, method, path, scope
):
    bodies = {
        "/workflows/execute": {
            "workflow_name": "w",
            "steps": [{"tool": "echo", "parameters": {"message": "m"}}],
        },
        "/audit/record": {"action": "checked"},
    }

    def send(http):
        if method == "get":
            return http.get(path)
        return post_json(http, path, bodies.get(path, {}))

    anonymous = send(client)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert send(client_for("mcpp_not-a-real-token")).status_code == 401
    others = [s for s in ("tools:read", "tools:call") if s != scope]
    if scope != "tools:read":
        assert send(client_for(make_token(scopes=others))).status_code == 403
    allowed = send(client_for(make_token(scopes=[scope])))
    assert allowed.status_code not in (401, 403), (path, allowed.content)
