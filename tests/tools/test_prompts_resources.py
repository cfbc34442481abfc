"""Prompts and resources in the catalogue: registered in code, synced (admin edits kept),
written in the admin, served over MCP (official SDK client, both eras) and the management API."""

from __future__ import annotations

import base64
import json

import mcp_types as types
import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from mcp import Client as McpClient
from mcp.shared.exceptions import MCPError

from apps.access.principals import Principal
from apps.access.services import create_api_token
from apps.tools import registry, services
from apps.tools.mcp_server import CatalogueServer
from apps.tools.models import Prompt, Resource
from tests.admin_forms import submit_change_form

BUILTIN = "apps.tools.tools"
READER = Principal(name="reader", kind="token", scopes=frozenset({"tools:read"}))
CALLER_ONLY = Principal(name="caller", kind="token", scopes=frozenset({"tools:call"}))
MODES = ("legacy", "auto")  # 2025-11-25 sessions, and 2026-07-28 (negotiated by "auto")


def _builtin(specs: dict) -> dict:
    return {name: spec for name, spec in specs.items() if spec.func.__module__ == BUILTIN}


@pytest.fixture
def content(transactional_db):
    """The built-in tools, prompts and resources, synced (committed: handlers read in threads)."""
    services.sync_tools(specs=_builtin(registry.all_specs()))
    services.sync_prompts(specs=_builtin(registry.all_prompt_specs()))
    services.sync_resources(specs=_builtin(registry.all_resource_specs()))


def _session(principal: Principal, mode: str, scenario) -> object:
    server = CatalogueServer(principal=principal)

    async def run():
        async with McpClient(server.server, mode=mode) as client:
            return await scenario(client)

    return async_to_sync(run)()


def _error_code(principal: Principal, mode: str, request) -> int:
    async def scenario(client):
        with pytest.raises(MCPError) as error:
            await request(client)
        return error.value.error.code

    return _session(principal, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_a_client_lists_gets_reads_and_completes(content, mode):
    async def scenario(client):
        prompts = (await client.list_prompts()).prompts
        summarize = next(p for p in prompts if p.name == "summarize")
        rendered = await client.get_prompt(
            "summarize", {"text": "The cat sat.", "style": "bullets"}
        )
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        status = await client.read_resource("platform://status")
        icon = await client.read_resource("platform://icon.png")
        echo = await client.read_resource("platform://tools/echo")
        styles = await client.complete(
            types.PromptReference(name="summarize"),
            {"name": "style", "value": "b"},
        )
        names = await client.complete(
            types.ResourceTemplateReference(uri="platform://tools/{name}"),
            {"name": "name", "value": "ec"},
        )
        expected = "2026-07-28" if mode == "auto" else "2025-11-25"
        assert client.protocol_version == expected
        return summarize, rendered, resources, templates, status, icon, echo, styles, names

    summarize, rendered, resources, templates, status, icon, echo, styles, names = _session(
        READER, mode, scenario
    )
    assert summarize.title == "Summarize"
    assert [(a.name, a.required) for a in summarize.arguments] == [
        ("text", True),
        ("style", False),
    ]
    message = rendered.messages[0]
    assert message.role == "user" and "bullet points" in message.content.text
    assert "The cat sat." in message.content.text
    assert {r.uri for r in resources} == {"platform://status", "platform://icon.png"}
    assert [t.uri_template for t in templates] == ["platform://tools/{name}"]
    body = json.loads(status.contents[0].text)
    assert status.contents[0].mime_type == "application/json" and body["enabled_tools"] >= 4
    assert icon.contents[0].mime_type == "image/png"
    assert base64.b64decode(icon.contents[0].blob).startswith(b"\x89PNG")
    assert json.loads(echo.contents[0].text)["name"] == "echo"
    assert styles.completion.values == ["brief", "bullets"]
    assert names.completion.values == ["echo"]


@pytest.mark.parametrize("mode", MODES)
def test_what_cannot_be_served_is_a_json_rpc_error(content, mode):
    assert _error_code(READER, mode, lambda c: c.get_prompt("nope", {})) == -32602
    missing_text = _error_code(READER, mode, lambda c: c.get_prompt("summarize", {}))
    assert missing_text == -32602
    surplus = _error_code(
        READER, mode, lambda c: c.get_prompt("summarize", {"text": "t", "x": "y"})
    )
    assert surplus == -32602
    not_found = -32002 if mode == "legacy" else -32602  # SEP-2164 from 2026-07-28
    assert _error_code(READER, mode, lambda c: c.read_resource("platform://nope")) == not_found
    unknown_tool = _error_code(READER, mode, lambda c: c.read_resource("platform://tools/nope"))
    assert unknown_tool == not_found
    # Reading prompts and resources needs tools:read, as listing tools does.
    assert _error_code(CALLER_ONLY, mode, lambda c: c.read_resource("platform://status")) == -32001
    assert _error_code(CALLER_ONLY, mode, lambda c: c.get_prompt("summarize", {"text": "t"})) == (
        -32001
    )

    async def lists(client):
        return (await client.list_prompts()).prompts, (await client.list_resources()).resources

    assert _session(CALLER_ONLY, mode, lists) == ([], [])


@pytest.mark.parametrize(("mode", "code"), [("legacy", -32002), ("auto", -32602)])
def test_an_unknown_resource_is_an_error_naming_its_uri(content, mode, code):
    async def scenario(client):
        with pytest.raises(MCPError) as error:
            await client.read_resource("platform://nope")
        return error.value.error

    error = _session(READER, mode, scenario)
    assert (error.code, error.data) == (code, {"uri": "platform://nope"})


def test_disabled_prompts_and_resources_are_neither_listed_nor_served(content):
    Prompt.objects.filter(name="summarize").update(enabled=False)
    Resource.objects.filter(name="status").update(enabled=False)

    async def scenario(client):
        prompts = [p.name for p in (await client.list_prompts()).prompts]
        uris = [r.uri for r in (await client.list_resources()).resources]
        return prompts, uris

    prompts, uris = _session(READER, "legacy", scenario)
    assert "summarize" not in prompts and "platform://status" not in uris
    assert _error_code(READER, "legacy", lambda c: c.read_resource("platform://status")) == -32002


def test_sync_keeps_admin_edits_marks_vanished_code_and_leaves_admin_prompts(content):
    services.update_entry(entry=Prompt.objects.get(name="summarize"), changes={"title": "Shorten"})
    Prompt.objects.create(name="handwritten", template="Hi {who}", arguments=[{"name": "who"}])
    report = services.sync_prompts(specs=_builtin(registry.all_prompt_specs()))
    assert report.kept_admin_edits == {"summarize": ["title"]}
    assert Prompt.objects.get(name="summarize").title == "Shorten"
    report = services.sync_prompts(specs={})
    assert report.missing == ["summarize"]
    assert Prompt.objects.get(name="summarize").missing
    assert not Prompt.objects.get(name="handwritten").missing
    assert services.sync_resources(specs={}).missing == ["icon", "status", "tool"]
    report = services.sync_prompts(specs=_builtin(registry.all_prompt_specs()))
    assert report.restored == ["summarize"]


def test_a_prompt_written_in_the_admin_is_rendered_with_its_arguments(content, admin_user):
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        "/admin/tools/prompt/add/",
        {
            "name": "greet",
            "title": "Greet",
            "description": "Greet someone.",
            "enabled": "on",
            "arguments": json.dumps(
                [{"name": "who", "required": True, "values": ["Ada", "Alan", "Grace"]}]
            ),
            "template": "Write a greeting to {who}. Keep {this} as written.",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    async def scenario(client):
        listed = [p.name for p in (await client.list_prompts()).prompts]
        rendered = await client.get_prompt("greet", {"who": "Ada"})
        completed = await client.complete(
            types.PromptReference(name="greet"), {"name": "who", "value": "A"}
        )
        return listed, rendered, completed

    listed, rendered, completed = _session(READER, "auto", scenario)
    assert "greet" in listed
    assert rendered.messages[0].content.text == "Write a greeting to Ada. Keep {this} as written."
    assert completed.completion.values == ["Ada", "Alan"]

    bad = browser.post(
        "/admin/tools/prompt/add/",
        {"name": "bad", "arguments": '[{"nom": 1}]', "template": "x", "_save": "Save"},
    )
    assert bad.status_code == 200 and "name" in bad.content.decode()
    assert not Prompt.objects.filter(name="bad").exists()

    prompt = Prompt.objects.get(name="greet")
    submit_change_form(browser, f"/admin/tools/prompt/{prompt.pk}/change/", enabled=False)
    assert _error_code(READER, "legacy", lambda c: c.get_prompt("greet", {"who": "x"})) == -32602


def test_the_management_api_lists_and_toggles_prompts_and_resources(content):
    _, reader = create_api_token(name="r", scopes=["tools:read"])
    _, admin = create_api_token(name="a", scopes=["admin"])
    as_reader = Client(headers={"Authorization": f"Bearer {reader}"})
    as_admin = Client(headers={"Authorization": f"Bearer {admin}"})
    prompts = as_reader.get("/api/v2/prompts/").json()
    assert [p["name"] for p in prompts] == ["summarize"] and prompts[0]["from_code"]
    resources = {r["name"]: r for r in as_reader.get("/api/v2/resources/").json()}
    assert (
        resources["tool"]["is_template"] and resources["tool"]["uri"] == "platform://tools/{name}"
    )
    body = json.dumps({"enabled": False})
    refused = as_reader.patch("/api/v2/prompts/summarize", body, content_type="application/json")
    assert refused.status_code == 403
    done = as_admin.patch("/api/v2/prompts/summarize", body, content_type="application/json")
    assert done.status_code == 200 and done.json()["enabled"] is False
    done = as_admin.patch("/api/v2/resources/status", body, content_type="application/json")
    assert done.status_code == 200 and not Resource.objects.get(name="status").enabled
    gone = as_admin.patch("/api/v2/resources/nope", body, content_type="application/json")
    assert gone.status_code == 404
    assert as_admin.get("/api/v2/prompts/", headers={"Authorization": ""}).status_code == 401


def test_bad_registrations_are_refused():
    with pytest.raises(registry.ToolDefinitionError):
        registry.register_resource(lambda: "", uri="no-scheme", name="x1")
    with pytest.raises(registry.ToolDefinitionError):
        registry.register_resource(lambda other: "", uri="a://{name}", template=True, name="x2")
    with pytest.raises(registry.ToolDefinitionError):
        registry.register_prompt(lambda text: text, name="x3", arguments={"nope": ""})
    assert not {"x1", "x2"} & set(registry.all_resource_specs())


def test_admin_and_api_edits_of_prompts_and_resources_enter_the_audit_trail(content, admin_user):
    from apps.audit.models import AuditEvent

    browser = Client()
    browser.force_login(admin_user)
    prompt = Prompt.objects.get(name="summarize")
    submit_change_form(browser, f"/admin/tools/prompt/{prompt.pk}/change/", title="Shorten")
    event = AuditEvent.objects.get(target="tools.prompt:summarize", action="update")
    assert event.actor == "user:admin" and event.origin == "admin"
    assert event.changes == {"title": {"before": "Summarize", "after": "Shorten"}}

    _, admin = create_api_token(name="auditor", scopes=["admin"])
    as_admin = Client(headers={"Authorization": f"Bearer {admin}"})
    body = json.dumps({"enabled": False})
    reply = as_admin.patch("/api/v2/resources/icon", body, content_type="application/json")
    assert reply.status_code == 200
    event = AuditEvent.objects.get(target__startswith="tools.resource:", action="update")
    assert event.origin == "api" and event.changes == {"enabled": {"before": True, "after": False}}


def test_odd_requests_get_an_answer_not_a_crash(content):
    def broken(text: str) -> str:
        raise RuntimeError("a bug in the prompt's code")

    broken_spec = registry.register_prompt(broken, name="broken_prompt")
    try:
        specs = _builtin(registry.all_prompt_specs())
        services.sync_prompts(specs={**specs, "broken_prompt": broken_spec})

        async def unknown_argument(client):
            ref = types.PromptReference(name="summarize")
            return await client.complete(ref, {"name": "nope", "value": ""})

        assert _session(READER, "legacy", unknown_argument).completion.values == []
        unknown_template = _error_code(
            READER,
            "legacy",
            lambda c: c.complete(
                types.ResourceTemplateReference(uri="x://{y}"), {"name": "y", "value": ""}
            ),
        )
        assert unknown_template == -32002
        crash = _error_code(READER, "auto", lambda c: c.get_prompt("broken_prompt", {"text": "t"}))
        assert crash == -32603
    finally:
        registry.unregister_prompt("broken_prompt")
