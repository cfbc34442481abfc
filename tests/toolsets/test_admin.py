"""Toolsets curated in the admin's own forms: members inline, reserved slugs refused, a token
bound on its form, the list filtered and searched; each change audited and counted at once by
the token's principal (the access version)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.access.models import ApiToken
from apps.access.principal_cache import resolve_principal
from apps.access.services import create_api_token
from apps.audit.models import AuditEvent
from apps.toolsets.models import Toolset
from tests.admin_forms import submit_change_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    admin = get_user_model().objects.create_superuser("curator", "", "pw")
    client = Client()
    client.force_login(admin)
    return client


def _add(browser, slug: str, members: list[tuple[str, str]]):
    data = {
        "slug": slug,
        "title": "From the admin",
        "description": "",
        "members-TOTAL_FORMS": str(len(members)),
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, (tool, display_name) in enumerate(members):
        data[f"members-{index}-tool"] = tool
        data[f"members-{index}-display_name"] = display_name
        data[f"members-{index}-description"] = ""
    return browser.post("/admin/toolsets/toolset/add/", data)


def test_a_toolset_made_in_the_admin_binds_a_token_and_is_audited(browser):
    reply = _add(browser, "desk", [("echo", "Say it back"), ("bulk_0*", "")])
    assert reply.status_code == 302, reply.content[:2000]
    toolset = Toolset.objects.get(slug="desk")
    assert sorted(m.tool for m in toolset.members.all()) == ["bulk_0*", "echo"]

    token, secret = create_api_token(name="bound", scopes=["tools:read", "tools:call"])
    header = f"Bearer {secret}"
    assert resolve_principal(header).may_call("calculate")  # cached, unbound
    submit_change_form(browser, f"/admin/access/apitoken/{token.pk}/change/", toolsets=[toolset.pk])
    assert list(ApiToken.objects.get(pk=token.pk).toolsets.all()) == [toolset]
    principal = resolve_principal(header)  # the binding bumped the access version
    assert principal.may_call("echo") and not principal.may_call("calculate")

    targets = set(AuditEvent.objects.values_list("target", flat=True))
    assert any(target.startswith("toolsets.toolset:") for target in targets), targets
    assert any(target.startswith("toolsets.toolsetmember:") for target in targets), targets

    listing = browser.get("/admin/toolsets/toolset/?bound=yes&q=echo")
    assert listing.status_code == 200 and b"/mcp/desk" in listing.content
    assert b"/mcp/desk" not in browser.get("/admin/toolsets/toolset/?bound=no").content


def test_the_admin_refuses_a_reserved_slug(browser):
    for slug in ("tools", "p2p", "discover"):
        reply = _add(browser, slug, [("echo", "")])
        assert reply.status_code == 200 and b"is reserved" in reply.content
    assert not Toolset.objects.exists()
