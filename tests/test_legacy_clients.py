"""Requests as the legacy `ipfs_datasets_py` server's own clients send them (its TestClient tests,
the curl lines of its deployment guide and runbooks, its health-check scripts), replayed against
the platform: each gets the status and shape the legacy client expects.

Written from the legacy's documented behaviour (docs/migration.md lists every route)."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.django_db

BROWSER_ORIGIN = "http://dashboard.example"


def post_json(client, path, body, **headers):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


def preflight(client, path: str, method: str = "POST", headers: str = "authorization,content-type"):
    return client.options(
        path,
        headers={
            "Origin": BROWSER_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


# --- 1. CORS on the REST surface --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/health", "GET"),
        ("/tools/execute/echo", "POST"),
        ("/mcp/tools/call", "POST"),
        ("/auth/login", "POST"),
        ("/tools/list", "GET"),
        ("/api/v2/tools/", "GET"),
    ],
)
def test_preflight_is_answered_before_auth_with_the_legacy_cors_headers(
    client, settings, path, method
):
    settings.CORS_ALLOW_ALL_ORIGINS = True
    reply = preflight(client, path, method)
    assert reply.status_code == 200
    assert reply["Access-Control-Allow-Origin"] == "*"
    allowed_methods = {m.strip() for m in reply["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= allowed_methods
    allowed_headers = {h.strip() for h in reply["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-request-id"} <= allowed_headers


def test_cors_origin_list_allows_listed_origins_only(client, settings, catalogue, token):
    settings.CORS_ALLOW_ALL_ORIGINS = False
    settings.CORS_ALLOWED_ORIGINS = [BROWSER_ORIGIN]
    assert preflight(client, "/tools/list", "GET")["Access-Control-Allow-Origin"] == BROWSER_ORIGIN
    other = client.options(
        "/tools/list",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in other

    # The actual request carries the header too, and a 401 says why to the browser.
    listed = client.get(
        "/tools/list", headers={"Origin": BROWSER_ORIGIN, "Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200
    assert listed["Access-Control-Allow-Origin"] == BROWSER_ORIGIN
    refused = client.get("/tools/list", headers={"Origin": BROWSER_ORIGIN})
    assert refused.status_code == 401
    assert refused["Access-Control-Allow-Origin"] == BROWSER_ORIGIN
    assert "www-authenticate" in refused["Access-Control-Expose-Headers"].lower()


def test_without_cors_origins_no_cross_origin_headers_and_admin_never_gets_them(client, settings):
    settings.CORS_ALLOW_ALL_ORIGINS = False
    settings.CORS_ALLOWED_ORIGINS = []
    assert "Access-Control-Allow-Origin" not in preflight(client, "/health", "GET")
    settings.CORS_ALLOW_ALL_ORIGINS = True
    assert "Access-Control-Allow-Origin" not in preflight(client, "/admin/login/", "POST")


# --- 2. Legacy metric names and readiness checks ----------------------------------------------

LEGACY_METRICS = {
    "mcp_requests_total": "counter",
    "mcp_errors_total": "counter",
    "mcp_active_requests": "gauge",
    "mcp_avg_response_time_ms": "gauge",
    "mcp_uptime_seconds": "gauge",
    "process_cpu_percent": "gauge",
    "process_memory_percent": "gauge",
}


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def test_metrics_carry_the_legacy_names_and_types_beside_the_platforms_own(client):
    client.get("/health")
    text = client.get("/metrics").content.decode()
    for name, kind in LEGACY_METRICS.items():
        family = name.removesuffix("_total")
        assert f"# TYPE {name} {kind}" in text or f"# TYPE {family} {kind}" in text, name
        _sample(text, name)
    assert "mcp_platform_tool_calls_total" in text or "# TYPE mcp_platform_tool_calls" in text

    before = _sample(text, "mcp_requests_total")
    for _ in range(3):
        client.get("/health")
    after = client.get("/metrics").content.decode()
    # The three health checks and the first /metrics scrape are counted.
    assert _sample(after, "mcp_requests_total") >= before + 4
    assert _sample(after, "mcp_avg_response_time_ms") > 0
    assert _sample(after, "mcp_uptime_seconds") > 0
    assert 0 < _sample(after, "process_memory_percent") <= 100
    # The scrape itself is in flight while it is written.
    assert _sample(after, "mcp_active_requests") >= 1


def test_ready_has_the_legacy_check_keys_beside_the_new_ones(client, catalogue):
    reply = client.get("/health/ready")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert {"database", "runtimes", "metrics_collector", "tool_manager"} <= set(checks)
    assert checks["metrics_collector"]["status"] == "ok"
    assert checks["tool_manager"] == {"status": "ok", "categories": 1}


# --- 4. /mcp/tools/call in the params form -----------------------------------------------------


def test_mcp_tools_call_accepts_the_params_form(client_for, token, catalogue):
    authed = client_for(token)
    for body in (
        {"params": {"name": "echo", "arguments": {"message": "hi"}}},
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "hi"}},
        },
        {"name": "echo", "arguments": {"message": "hi"}},
        {"tool": "echo", "arguments": {"message": "hi"}},
    ):
        reply = post_json(authed, "/mcp/tools/call", body)
        assert reply.status_code == 200, (body, reply.content)
        result = reply.json()
        assert result["jsonrpc"] == "2.0"
        assert result["result"]["structuredContent"] == {"message": "hi"}
        assert result["result"]["isError"] is False

    missing = post_json(authed, "/mcp/tools/call", {"params": {"arguments": {}}})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == -32602
    unknown = post_json(authed, "/mcp/tools/call", {"params": {"name": "nope"}})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32601
    bad = post_json(authed, "/mcp/tools/call", {"params": "echo"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == -32602


# --- 6. The landing page ----------------------------------------------------------------------


def test_root_shows_the_landing_page_with_the_mcp_url_and_links(client, catalogue):
    reply = client.get("/", headers={"Accept": "text/html"})
    assert reply.status_code == 200
    page = reply.content.decode()
    assert "MCP Platform" in page
    assert "http://testserver/mcp" in page
    for link in ('href="/admin/"', 'href="/docs"', 'href="/peers/"', 'href="/runtimes/"'):
        assert link in page
    assert 'href="/health/ready"' in page and 'href="/metrics"' in page
    # In the admin's style: its stylesheet and header.
    assert "admin/css/base.css" in page and 'id="header"' in page


# --- 5. The routes that were gone -------------------------------------------------------------


def test_admin_stats_and_health_answer_bearer_admins_before_the_django_admin(
    client, client_for, make_token, catalogue
):
    admin = client_for(make_token(scopes=["admin"]))
    stats = admin.get("/admin/stats")
    assert stats.status_code == 200, stats.content
    body = stats.json()
    assert body["status"] == "success"
    assert {"system", "requests", "tools", "calls_last_hour", "task_queue", "peers"} <= set(body)
    assert body["tools"]["enabled"] == 4 and body["tools"]["categories"] == 1
    assert 0 < body["system"]["memory_percent"] <= 100

    report = admin.get("/admin/health")
    assert report.status_code == 200
    assert report.json()["status"] in ("healthy", "degraded")
    assert {"database", "metrics_collector", "tool_manager"} <= set(report.json()["checks"])

    # Not a login redirect: the legacy 401 and 403.
    anonymous = client.get("/admin/stats")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    caller = client_for(make_token(scopes=["tools:read", "tools:call"]))
    assert caller.get("/admin/health").status_code == 403
    # The Django admin is still where it was.
    assert client.get("/admin/").status_code == 302


def test_workflows_execute_then_status_on_the_platforms_workflows(
    client_for, token, make_token, catalogue
):
    authed = client_for(token)
    reply = post_json(
        authed,
        "/workflows/execute",
        {
            "workflow_name": "greet",
            "steps": [
                {"tool": "echo", "parameters": {"message": "one"}},
                {"tool": "echo", "parameters": {"message": "two"}},
            ],
            "parameters": {},
        },
    )
    assert reply.status_code == 200, reply.content
    started = reply.json()
    assert started["status"] == "started"
    assert started["workflow_name"] == "greet" and started["steps_count"] == 2
    task_id = started["task_id"]

    status = authed.get(f"/workflows/status/{task_id}")
    assert status.status_code == 200
    body = status.json()
    assert body["task_id"] == task_id and body["workflow_name"] == "greet"
    assert body["status"] == "running"
    # Run in order, as the legacy engine did: the second waits for the first.
    first, second = body["steps"]
    assert (first["id"], first["status"]) == ("step_1", "queued")
    assert (second["depends_on"], second["status"]) == (["step_1"], "pending")

    from apps.taskqueue.models import Workflow

    assert Workflow.objects.get(pk=task_id).submitted_by  # runs as the caller

    assert authed.get("/workflows/status/not-a-workflow").status_code == 404
    # Another caller does not see it (as if it did not exist); an admin does.
    stranger = client_for(make_token()).get(f"/workflows/status/{task_id}")
    assert stranger.status_code == 404, stranger.content
    admin = client_for(make_token(scopes=("tools:read", "admin"))).get(
        f"/workflows/status/{task_id}"
    )
    assert admin.status_code == 200 and admin.json()["task_id"] == task_id
    bad = post_json(authed, "/workflows/execute", {"workflow_name": "x", "steps": []})
    assert bad.status_code == 400 and "Invalid workflow" in bad.json()["error"]
    missing = post_json(authed, "/workflows/execute", {"steps": [{"tool": "echo"}]})
    assert missing.status_code == 422


def test_workflow_with_a_tool_the_caller_may_not_call_is_refused(client_for, make_token, catalogue):
    limited = client_for(make_token(allowed_tools="echo"))
    reply = post_json(
        limited,
        "/workflows/execute",
        {"workflow_name": "sneaky", "steps": [{"tool": "calculate", "parameters": {}}]},
    )
    assert reply.status_code == 403


def test_cache_stats_and_clear_on_the_platforms_caches(client_for, make_token, catalogue):
    from django.core.cache import cache

    from apps.routing.router import cache as routing_cache

    admin = client_for(make_token(scopes=["admin"]))
    routing_cache.get()
    cache.set("legacy-client-test", 1)
    stats = admin.get("/cache/stats")
    assert stats.status_code == 200
    body = stats.json()
    assert body["status"] == "success"
    assert body["caches"]["routing"]["loaded"] is True
    assert body["caches"]["default"]["backend"] in ("LocMemCache", "RedisCache")

    cleared = admin.post("/cache/clear?cache_type=routing")
    assert cleared.status_code == 200 and cleared.json()["cleared"] == ["routing"]
    assert admin.get("/cache/stats").json()["caches"]["routing"]["loaded"] is False
    assert cache.get("legacy-client-test") == 1

    everything = admin.post("/cache/clear")
    assert everything.json()["cleared"] == ["routing", "default"]
    assert cache.get("legacy-client-test") is None

    assert admin.post("/cache/clear?cache_type=nope").status_code == 400
    assert admin.post("/cache/clear?pattern=tool:*").status_code == 400
    caller = client_for(make_token())
    assert caller.post("/cache/clear").status_code == 403


def test_audit_record_then_report_on_the_audit_trail(client_for, token, make_token, catalogue):
    from apps.audit.models import AuditEvent

    caller = client_for(token)
    # As the legacy client sent it: scalars in the query, details and tags in the body.
    reply = post_json(
        caller,
        "/audit/record?action=dataset.export&resource_id=ds-1&resource_type=dataset"
        "&severity=warning",
        {"details": {"rows": 10}, "tags": ["export"]},
    )
    assert reply.status_code == 200, reply.content
    recorded = reply.json()
    assert recorded["status"] == "success" and recorded["event_id"] >= 1
    assert (recorded["action"], recorded["resource_id"], recorded["resource_type"]) == (
        "dataset.export",
        "ds-1",
        "dataset",
    )
    event = AuditEvent.objects.get(seq=recorded["event_id"])
    assert event.target == "dataset:ds-1" and event.actor.startswith("token:test:")
    assert event.changes["client_reported"] is True and event.changes["tags"] == ["export"]

    in_body = post_json(caller, "/audit/record", {"action": "login", "severity": "info"})
    assert in_body.status_code == 200
    assert post_json(caller, "/audit/record", {"details": {}}).status_code == 422
    assert post_json(caller, "/audit/record?action=x&severity=loud", {}).status_code == 422

    auditor = client_for(make_token(scopes=["admin"]))
    report = auditor.get("/audit/report", {"report_type": "comprehensive"})
    assert report.status_code == 200, report.content
    body = report.json()
    assert body["status"] == "success" and body["report_type"] == "comprehensive"
    assert body["total_events"] == 2
    assert body["by_action"] == {"dataset.export": 1, "login": 1}
    assert body["integrity"]["ok"] is True
    assert [e["action"] for e in body["events"]] == ["login", "dataset.export"]
    later = auditor.get("/audit/report", {"start_time": "2999-01-01T00:00:00"}).json()
    assert later["total_events"] == 0
    assert auditor.get("/audit/report", {"report_type": "nope"}).status_code == 422
    assert caller.get("/audit/report").status_code == 403


# --- 7. Every legacy route has an answer (docs/migration.md, "Legacy requests") --------------

OUT_OF_SCOPE = [
    ("post", "/embeddings/generate", {"text": "hello"}),
    ("post", "/embeddings/batch", ["a", "b"]),
    ("post", "/search/semantic", {"query": "q", "collection_name": "c"}),
    ("post", "/search/hybrid?query=q&collection_name=c", {}),
    ("post", "/analysis/clustering", {"vectors": [[0.1]], "analysis_type": "clustering"}),
    ("post", "/analysis/quality", [[0.1]]),
    ("post", "/datasets/load", {"source": "squad"}),
    ("post", "/datasets/process", {"dataset_source": "d", "operations": []}),
    ("post", "/datasets/save", {"dataset_data": "d", "destination": "/tmp/x"}),
    ("post", "/datasets/convert?dataset_id=d&target_format=csv", {}),
    ("post", "/ipfs/pin", {"content_source": "x"}),
    ("get", "/ipfs/get/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", None),
    ("post", "/vectors/create-index", {"vectors": [[0.1]]}),
    ("post", "/vectors/search?index_id=i", [0.1]),
    ("get", "/mcp/interfaces", None),
    ("post", "/mcp/execute", {"tool": "echo", "arguments": {"message": "x"}}),
    ("get", "/mcp/dag/frontier", None),
    ("post", "/mcp/ucan/delegate", {"audience": "did:key:z"}),
    ("post", "/mcp/policy/evaluate", {"intent_cid": "x"}),
    ("get", "/mcp/events/stream", None),
]


@pytest.mark.parametrize(("method", "path", "body"), OUT_OF_SCOPE)
def test_out_of_scope_legacy_routes_get_a_legacy_404(client_for, token, method, path, body):
    authed = client_for(token)
    reply = authed.get(path) if method == "get" else post_json(authed, path, body)
    assert reply.status_code == 404
    error = reply.json()
    assert error["status_code"] == 404 and error["error"].startswith("Not found")
    assert error["timestamp"]


def test_api_docs_are_where_legacy_clients_look(client):
    assert client.get("/openapi.json").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/admin/stats", "/workflows/execute", "/audit/record", "/cache/clear"):
        assert path in paths
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200


def test_migration_guide_lists_every_replayed_route():
    from pathlib import Path

    guide = (Path(__file__).parent.parent / "docs" / "migration.md").read_text()
    table = guide.split("## Legacy requests", 1)[1].split("\n## ", 1)[0]
    for _, path, _ in OUT_OF_SCOPE:
        stem = path.split("?")[0].rsplit("/", 1)[0] if path.startswith("/ipfs/get") else path
        assert stem.split("?")[0] in table, path
    for path in (
        "/admin/stats",
        "/admin/health",
        "/workflows/execute",
        "/workflows/status/{task_id}",
        "/audit/record",
        "/audit/report",
        "/cache/stats",
        "/cache/clear",
        "/health/ready",
        "/mcp/tools/call",
    ):
        assert f"`{path}`" in table or path in table, path


# --- The same, against a real node (`manage.py runplatform`, Uvicorn) -------------------------


@pytest.mark.slow
def test_a_real_node_answers_legacy_browser_dashboard_and_operator_clients(
    transactional_db, tmp_path
):
    import httpx

    from apps.access.services import create_api_token
    from apps.tools.services import sync_tools
    from tests.harness import PlatformProcess

    sync_tools()
    _, secret = create_api_token(name="legacy", scopes=["admin"])
    auth = {"Authorization": f"Bearer {secret}"}
    node = PlatformProcess(tmp_path / "node", env={"MCP_CORS_ORIGINS": BROWSER_ORIGIN})
    node.start()
    try:
        with httpx.Client(base_url=node.url, timeout=30) as http:
            allowed = http.options(
                "/tools/execute/echo",
                headers={
                    "Origin": BROWSER_ORIGIN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            )
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == BROWSER_ORIGIN
            called = http.post(
                "/tools/execute/echo",
                json={"message": "from the browser"},
                headers={**auth, "Origin": BROWSER_ORIGIN},
            )
            assert called.status_code == 200
            assert called.headers["access-control-allow-origin"] == BROWSER_ORIGIN

            metrics = http.get("/metrics").text
            assert _sample(metrics, "mcp_requests_total") >= 2
            assert "# TYPE mcp_avg_response_time_ms gauge" in metrics

            landing = http.get("/", headers={"Accept": "text/html"})
            assert landing.status_code == 200 and f"{node.url}/mcp" in landing.text

            stats = http.get("/admin/stats", headers=auth)
            assert stats.status_code == 200 and stats.json()["status"] == "success"
            assert http.get("/admin/stats").status_code == 401

            # The call above reached the audit trail through the batched writer.
            import time

            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                events = http.get("/api/v2/audit/?action=tool.call", headers=auth).json()
                if events["count"]:
                    break
                time.sleep(0.2)
            assert events["items"][0]["target"] == "tool:echo"
            assert events["items"][0]["actor"].startswith("token:legacy:")
            assert http.get("/api/v2/audit/verify", headers=auth).json()["ok"] is True
    finally:
        node.stop()
    assert "Traceback" not in node.output, node.output[-3000:]


JUNK_REQUESTS = [
    (
        "/workflows/execute",
        {"workflow_name": "x", "steps": [{"tool": "echo", "max_attempts": "x"}]},
    ),
    ("/workflows/execute", {"workflow_name": "x", "steps": [{"tool": 5}]}),
    ("/workflows/execute", {"workflow_name": "x", "steps": [{"tool": "echo", "parameters": "s"}]}),
    ("/workflows/execute", {"workflow_name": "x", "steps": [{"tool": "echo", "depends_on": 3}]}),
    ("/workflows/execute", {"workflow_name": ["x"], "steps": "all"}),
    ("/audit/record", {"action": 5, "severity": 3}),
    ("/audit/record", {"action": {"a": 1}, "details": [1], "tags": "t"}),
    ("/audit/record", {"action": "x" * 100}),
    ("/audit/record", ["not", "an", "object"]),
    ("/cache/clear", {"cache_type": ["routing"], "pattern": {"p": 1}}),
    ("/mcp/tools/call", {"params": {"name": 5}}),
    ("/mcp/tools/call", {"params": None}),
    ("/mcp/tools/call", {"params": {"name": "echo", "arguments": "x"}}),
]


@pytest.mark.parametrize(("path", "body"), JUNK_REQUESTS)
def test_junk_to_the_new_routes_is_refused_never_a_500(
    client_for, make_token, catalogue, path, body
):
    reply = post_json(client_for(make_token(scopes=["admin"])), path, body)
    assert 400 <= reply.status_code < 500, (path, body, reply.status_code, reply.content[:300])
    assert reply["Content-Type"].startswith("application/json")
