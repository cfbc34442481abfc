"""/api/v2/routing (rules CRUD, settings, explain), /api/v2/runtimes, /health/runtime."""

from __future__ import annotations

import pytest

from apps.routing import selectors
from apps.routing.models import RoutingRule
from apps.tools.models import Tool

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(make_token, client_for):
    return client_for(make_token(scopes=("admin",)))


@pytest.fixture
def reader_api(make_token, client_for):
    return client_for(make_token(scopes=("tools:read",)))


def test_rules_crud(admin_api):
    before = selectors.current_version()
    created = admin_api.post(
        "/api/v2/routing/rules",
        {"name_pattern": "media_*", "runtime": "trio", "priority": 7},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["runtime"] == "trio" and rule["enabled"] is True
    assert selectors.current_version() == before + 1
    listed = admin_api.get("/api/v2/routing/rules").json()
    assert rule["id"] in [r["id"] for r in listed]
    patched = admin_api.patch(
        f"/api/v2/routing/rules/{rule['id']}",
        {"runtime": "fastapi"},
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["runtime"] == "asyncio"
    assert admin_api.get(f"/api/v2/routing/rules/{rule['id']}").json()["runtime"] == "asyncio"
    assert admin_api.delete(f"/api/v2/routing/rules/{rule['id']}").status_code == 204
    assert admin_api.get(f"/api/v2/routing/rules/{rule['id']}").status_code == 404
    assert selectors.current_version() == before + 3


def test_invalid_rule_is_a_422_naming_the_problem(admin_api):
    reply = admin_api.post(
        "/api/v2/routing/rules", {"runtime": "trio"}, content_type="application/json"
    )
    assert reply.status_code == 422
    body = reply.json()
    assert body["status_code"] == 422
    assert [e["field"] for e in body["errors"]] == ["name_pattern"]
    assert "name_pattern" in body["error"]
    # A value the schema takes but the rule refuses names its field the same way.
    reply = admin_api.post(
        "/api/v2/routing/rules",
        {"name_pattern": "x*", "runtime": "trio", "note": "n" * 301},
        content_type="application/json",
    )
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["note"]
    assert "note" in reply.json()["error"]
    assert not RoutingRule.objects.filter(name_pattern="x*").exists()


def test_writes_need_the_admin_scope(reader_api):
    assert reader_api.get("/api/v2/routing/rules").status_code == 200
    reply = reader_api.post(
        "/api/v2/routing/rules",
        {"name_pattern": "x*", "runtime": "trio"},
        content_type="application/json",
    )
    assert reply.status_code == 403
    assert not RoutingRule.objects.filter(name_pattern="x*").exists()


def test_explain_reports_the_deciding_step(admin_api):
    Tool.objects.create(name="run_p2p_report", input_schema={})
    Tool.objects.create(name="p2p_pinned", input_schema={}, runtime="asyncio")
    route = admin_api.get("/api/v2/routing/explain/run_p2p_report").json()
    assert (route["runtime"], route["decided_by"]) == ("asyncio", 5)
    assert [s["step"] for s in route["steps"]] == [1, 2, 3, 4, 5]
    pinned = admin_api.get("/api/v2/routing/explain/p2p_pinned").json()
    assert (pinned["runtime"], pinned["decided_by"]) == ("asyncio", 2)
    assert admin_api.get("/api/v2/routing/explain/nope").status_code == 404


def test_settings_read_and_patch(admin_api):
    reply = admin_api.patch(
        "/api/v2/routing/settings",
        {"default_runtime": "trio", "fallback_allowed": False},
        content_type="application/json",
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["default_runtime"] == "trio" and body["fallback_allowed"] is False
    assert body["routing_version"] == selectors.current_version()
    bad = admin_api.patch(
        "/api/v2/routing/settings", {"fallback_timeout": 0}, content_type="application/json"
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["fallback_timeout"]


def test_runtimes_and_runtime_health_without_a_trio_runtime(admin_api, client_for, settings):
    from apps.routing import services

    services.record_heartbeat(
        instance_id="trio@elsewhere:1",
        host="10.0.0.9",
        port=1,
        pid=42,
        started_at="2026-01-01T00:00:00Z",
        status="up",
        routing_version=1,
    )
    runtimes = admin_api.get("/api/v2/runtimes/").json()
    assert runtimes["asyncio"]["status"] == "up"
    assert [i["instance_id"] for i in runtimes["instances"]] == ["trio@elsewhere:1"]
    assert runtimes["instances"][0]["live"] is True
    health = client_for().get("/health/runtime").json()  # open, no token
    assert health["asyncio"] == "up" and health["routing_version"] == selectors.current_version()
