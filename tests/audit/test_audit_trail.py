"""The audit trail: who changed what (admin form, management API, importer), every tool call,
a hash chain that an edited or deleted row breaks, and the ways auditors read it."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.audit import calls, chain, services
from apps.audit.models import AuditEvent
from apps.tools.models import Tool
from tests.admin_forms import submit_change_form
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.django_db


def post_json(client, path, body, method="post"):
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def admin_client_logged_in(client, admin_user):
    assert client.login(username="admin", password=ADMIN_PASSWORD)
    return client


@pytest.fixture
def auditor(client_for, make_token):
    return client_for(make_token(scopes=["admin"]))


def _principal_name(secret: str) -> str:
    from apps.access.services import authenticate_authorization_header

    return authenticate_authorization_header(f"Bearer {secret}").name


def test_an_admin_form_change_leaves_an_event_with_the_admin_as_actor(
    admin_client_logged_in, catalogue
):
    tool = Tool.objects.get(name="echo")
    url = reverse("admin:tools_tool_change", args=[tool.pk])
    submit_change_form(admin_client_logged_in, url, timeout_seconds=12.5)

    event = AuditEvent.objects.get(target="tools.tool:echo", action="update")
    assert event.actor == "user:admin"
    assert event.origin == "admin"
    assert event.source == "127.0.0.1"
    assert event.changes == {"timeout_seconds": {"before": 30.0, "after": 12.5}}


def test_a_management_api_change_leaves_an_event_with_the_token_as_actor(
    client_for, make_token, catalogue
):
    secret = make_token(scopes=["admin"])
    reply = post_json(client_for(secret), "/api/v2/tools/echo", {"enabled": False}, "patch")
    assert reply.status_code == 200, reply.content
    event = AuditEvent.objects.get(target="tools.tool:echo")
    assert event.actor == _principal_name(secret) and event.actor.startswith("token:test:")
    assert event.origin == "api" and event.action == "update"
    assert event.changes == {"enabled": {"before": True, "after": False}}


def test_bulk_admin_action_and_token_creation_are_recorded_with_secrets_redacted(
    admin_client_logged_in, catalogue
):
    changelist = reverse("admin:tools_tool_changelist")
    ids = list(Tool.objects.filter(name__in=["echo", "sleep"]).values_list("pk", flat=True))
    admin_client_logged_in.post(changelist, {"action": "disable_tools", "_selected_action": ids})
    disabled = AuditEvent.objects.filter(action="update", target__startswith="tools.tool:")
    assert sorted(e.target for e in disabled) == ["tools.tool:echo", "tools.tool:sleep"]
    assert all(e.actor == "user:admin" for e in disabled)

    from apps.access.services import create_api_token
    from apps.audit.context import acting_as

    with acting_as("user:admin", origin="admin"):
        create_api_token(name="ci", scopes=["tools:read"])
    created = AuditEvent.objects.get(action="create", target__startswith="access.apitoken:")
    assert created.changes["token_hash"]["after"] == "[redacted]"
    assert created.changes["scopes"]["after"] == ["tools:read"]


def test_an_oauth_client_change_is_recorded_with_its_secret_redacted(db):
    from oauth2_provider.models import get_application_model

    from apps.audit.context import acting_as

    with acting_as("user:admin", origin="admin"):
        client = get_application_model().objects.create(
            name="Claude",
            client_type="confidential",
            authorization_grant_type="authorization-code",
            redirect_uris="http://127.0.0.1:5555/callback",
            client_secret="s3cret-value",
        )
        client.name = "Claude Desktop"
        client.save()
    created, renamed = AuditEvent.objects.filter(
        target__startswith="oauth2_provider.application:"
    ).order_by("pk")
    assert (created.action, created.actor) == ("create", "user:admin")
    assert created.changes["client_secret"]["after"] == "[redacted]"
    assert renamed.changes["name"] == {"before": "Claude", "after": "Claude Desktop"}


def test_background_writes_without_an_actor_are_not_recorded(catalogue):
    Tool.objects.filter(name="echo").update(priority=9)
    tool = Tool.objects.get(name="echo")
    tool.priority = 8
    tool.save()
    assert not AuditEvent.objects.exists()


def test_each_tool_call_leaves_an_event_with_caller_outcome_and_hashed_arguments(
    client_for, token, catalogue
):
    authed = client_for(token)
    assert post_json(authed, "/tools/execute/echo", {"message": "psst"}).status_code == 200
    assert post_json(authed, "/tools/execute/echo", {}).status_code == 422
    assert calls.flush() == 2
    ok, refused = AuditEvent.objects.filter(action="tool.call").order_by("seq")
    assert ok.actor == _principal_name(token) and ok.origin == "call"
    assert ok.target == "tool:echo" and ok.source == "rest"
    assert ok.changes["outcome"] == "success" and ok.changes["runtime"] == "asyncio"
    assert ok.changes["duration_ms"] >= 0 and ok.changes["request_id"]
    assert ok.changes["arguments_sha256"] == calls.arguments_digest({"message": "psst"})
    assert "arguments" not in ok.changes
    assert refused.changes["outcome"] != "success"


def test_tool_with_audit_arguments_stores_them_with_secrets_redacted(client_for, token, catalogue):
    Tool.objects.filter(name="echo").update(audit_arguments=True)
    post_json(client_for(token), "/tools/execute/echo", {"message": "kept"})
    calls.flush()
    event = AuditEvent.objects.get(action="tool.call")
    assert event.changes["arguments"] == {"message": "kept"}

    schema = {
        "type": "object",
        "properties": {
            "user": {"type": "string"},
            "pin": {"type": "string", "writeOnly": True},
            "login": {
                "type": "object",
                "properties": {"word": {"type": "string", "format": "password"}},
            },
        },
    }
    arguments = {"user": "ann", "pin": "1234", "login": {"word": "x"}, "api_key": "k"}
    assert calls.redact(arguments, schema) == {
        "user": "ann",
        "pin": "[redacted]",
        "login": {"word": "[redacted]"},
        "api_key": "[redacted]",
    }


def test_nul_bytes_a_client_sends_are_stored_replaced_and_lose_no_record(
    client_for, token, catalogue
):
    """PostgreSQL refuses NUL in text and JSON: one such call must not fail the whole batch
    (the call log's and the audit trail's) on the embedded database or on PostgreSQL."""
    from apps.tools import call_log
    from apps.tools.models import ToolCall

    call_log.writer.discard()  # earlier tests' records
    Tool.objects.filter(name="echo").update(audit_arguments=True)
    authed = client_for(token)
    assert post_json(authed, "/tools/execute/echo", {"message": "a\x00b"}).status_code == 200
    assert post_json(authed, "/tools/execute/echo", {"message": "plain"}).status_code == 200
    assert (
        authed.post("/tools/execute/%00", data="{}", content_type="application/json").status_code
        == 404
    )
    assert calls.flush() == 3
    assert call_log.flush() == 3
    nul_call, plain_call, missing = AuditEvent.objects.filter(action="tool.call").order_by("seq")
    assert nul_call.changes["arguments"] == {"message": "a\ufffdb"}
    assert plain_call.changes["arguments"] == {"message": "plain"}
    assert missing.target == "tool:\ufffd"
    assert sorted(ToolCall.objects.values_list("tool_name", flat=True)) == [
        "echo",
        "echo",
        "\ufffd",
    ]
    assert chain.verify().ok


def _three_events():
    for n in range(3):
        services.record_event(actor="user:a", origin="api", action="test", target=f"t:{n}")
    return list(AuditEvent.objects.order_by("seq"))


def test_verify_reports_the_first_edited_event_over_the_api_and_the_command(auditor, catalogue):
    _first, second, _third = _three_events()
    assert auditor.get("/api/v2/audit/verify").json() == {
        "ok": True,
        "checked": 3,
        "first_bad": None,
        "problem": None,
    }
    call_command("verify_audit", stdout=io.StringIO())

    # Tampering straight in the database, as someone with SQL access would.
    AuditEvent.objects.filter(pk=second.pk).update(actor="user:someone-else")
    body = auditor.get("/api/v2/audit/verify").json()
    assert body["ok"] is False and body["first_bad"] == second.seq and body["checked"] == 1
    with pytest.raises(CommandError, match=f"broken at event {second.seq}"):
        call_command("verify_audit", stdout=io.StringIO())


def test_verify_reports_a_deleted_event_and_a_cut_tail(auditor):
    _first, second, third = _three_events()
    AuditEvent.objects.filter(pk=second.pk).delete()
    assert auditor.get("/api/v2/audit/verify").json()["first_bad"] == second.seq
    AuditEvent.objects.filter(pk=third.pk).delete()
    assert auditor.get("/api/v2/audit/verify").json()["first_bad"] == second.seq


def test_retention_prunes_with_a_checkpoint_and_the_chain_still_verifies(settings):
    old = _three_events()
    AuditEvent.objects.filter(seq__in=[e.seq for e in old[:2]]).update(
        at=timezone.now() - timedelta(days=400)
    )
    # Moving `at` broke those two events' hashes: pruning them removes the damage with them.
    settings.MCP_PLATFORM_AUDIT_RETENTION_DAYS = 365
    assert services.prune_expired() == 2
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == [
        "test",
        "checkpoint",
    ]
    checkpoint = AuditEvent.objects.get(action="checkpoint")
    assert checkpoint.changes["pruned"] == 2 and checkpoint.changes["through_seq"] == old[1].seq
    result = chain.verify()
    assert result.ok and result.checked == 2
    settings.MCP_PLATFORM_AUDIT_RETENTION_DAYS = 0
    assert services.prune_expired() == 0


def test_list_filters_by_target_actor_action_and_since(auditor, client_for, token, catalogue):
    services.record_event(actor="user:a", origin="api", action="update", target="tools.tool:echo")
    services.record_event(actor="user:b", origin="api", action="delete", target="peers.peer:x")
    post_json(client_for(token), "/tools/execute/echo", {"message": "m"})

    everything = auditor.get("/api/v2/audit/").json()
    assert everything["count"] == 3 and len(everything["items"]) == 3
    assert everything["items"][0]["action"] == "tool.call"  # newest first, flushed on read
    assert auditor.get("/api/v2/audit/?actor=user:b").json()["items"][0]["target"] == (
        "peers.peer:x"
    )
    assert auditor.get("/api/v2/audit/?target=tools.tool:echo").json()["count"] == 1
    assert auditor.get("/api/v2/audit/?target=tools.tool:").json()["count"] == 1
    assert auditor.get("/api/v2/audit/?action=tool.call").json()["count"] == 1
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert auditor.get("/api/v2/audit/", {"since": later}).json() == {"items": [], "count": 0}
    assert auditor.get("/api/v2/audit/?since=yesterday").status_code == 422


def test_export_is_json_lines_in_chain_order(auditor):
    _three_events()
    reply = auditor.get("/api/v2/audit/export")
    assert reply["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in b"".join(reply.streaming_content).splitlines()]
    assert [line["target"] for line in lines] == ["t:0", "t:1", "t:2"]
    assert lines[1]["prev_hash"] == lines[0]["hash"]

    out = io.StringIO()
    call_command("export_audit", stdout=out)
    assert [json.loads(line)["seq"] for line in out.getvalue().splitlines()] == [
        line["seq"] for line in lines
    ]


def test_audit_routes_need_the_admin_scope(client, client_for, make_token):
    caller = client_for(make_token())
    for path in ("/api/v2/audit/", "/api/v2/audit/verify", "/api/v2/audit/export"):
        assert client.get(path).status_code == 401
        assert caller.get(path).status_code == 403


def test_the_admin_shows_events_read_only_and_filterable(admin_client_logged_in, catalogue):
    _three_events()
    changelist = reverse("admin:audit_auditevent_changelist")
    page = admin_client_logged_in.get(changelist, {"origin__exact": "api"})
    assert page.status_code == 200 and b"t:2" in page.content
    event = AuditEvent.objects.order_by("seq").first()
    detail = admin_client_logged_in.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert admin_client_logged_in.get(reverse("admin:audit_auditevent_add")).status_code == 403
    exported = admin_client_logged_in.post(
        changelist, {"action": "export_json_lines", "_selected_action": [event.pk]}
    )
    assert exported["Content-Type"] == "application/x-ndjson"
    before = AuditEvent.objects.count()
    admin_client_logged_in.post(
        reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
    )
    assert AuditEvent.objects.count() == before


def test_an_import_records_its_changes_as_the_importer(catalogue, admin_user):
    from pathlib import Path

    from apps.migration.services import import_legacy_config

    text = (Path(__file__).parent.parent / "migration" / "samples" / "target.yaml").read_text()
    result = import_legacy_config(text=text, source_name="target.yaml", actor=admin_user)
    assert not result.error
    events = AuditEvent.objects.filter(origin="importer")
    assert events.exists()
    assert {e.actor for e in events} == {"user:admin"}
    assert chain.verify().ok


def test_trusting_a_peer_is_recorded_with_before_and_after(admin_client_logged_in):
    from apps.audit.context import acting_as
    from apps.peers.models import Peer
    from apps.peers.services import set_peer_intent

    peer = Peer.objects.create(peer_id="12D3KooWPeerForAudit")
    assert not AuditEvent.objects.exists()  # created by nobody in particular: not recorded
    with acting_as("user:admin", origin="admin"):
        set_peer_intent(peers=[peer], trusted=True)
        set_peer_intent(peers=[peer], trusted=True)  # no change, no event
    event = AuditEvent.objects.get(target__startswith="peers.peer:")
    assert event.changes == {"trusted": {"before": False, "after": True}}
    assert event.actor == "user:admin"


def test_a_tool_declared_with_audit_arguments_has_its_arguments_stored(
    client_for, token, catalogue
):
    from apps.tools import registry
    from apps.tools.services import sync_tools

    def sign_in(user: str, password: str) -> dict:
        """Pretend to sign in."""
        return {"user": user}

    spec = registry.register(sign_in, name="audited_sign_in", audit_arguments=True)
    try:
        sync_tools(specs={"audited_sign_in": spec})
        assert Tool.objects.get(name="audited_sign_in").audit_arguments is True
        reply = post_json(
            client_for(token), "/tools/execute/audited_sign_in", {"user": "ann", "password": "pw"}
        )
        assert reply.status_code == 200, reply.content
        calls.flush()
        event = AuditEvent.objects.get(action="tool.call")
        assert event.changes["arguments"] == {"user": "ann", "password": "[redacted]"}
    finally:
        registry.unregister("audited_sign_in")


def test_a_routing_rule_created_then_deleted_over_the_api_leaves_both_events(auditor):
    created = post_json(
        auditor, "/api/v2/routing/rules", {"name_pattern": "p2p_*", "runtime": "trio"}
    )
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    assert auditor.delete(f"/api/v2/routing/rules/{rule_id}").status_code == 204
    create, delete = AuditEvent.objects.filter(target__startswith="routing.routingrule:").order_by(
        "seq"
    )
    assert (create.action, delete.action) == ("create", "delete")
    assert create.changes["name_pattern"] == {"before": None, "after": "p2p_*"}
    assert delete.changes["runtime"] == {"before": "trio", "after": None}
    assert create.origin == delete.origin == "api"
    assert auditor.get("/api/v2/audit/verify").json()["ok"] is True
