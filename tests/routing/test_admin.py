"""Routing in the admin: rules edited inline, the settings singleton, the runs-on column and
the explain page; every save goes through the services and bumps the routing version."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.routing import selectors
from apps.routing.models import RoutingRule, RuntimeSettings
from apps.tools.models import Tool


@pytest.fixture
def browser(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def make_tool(name: str, **fields) -> Tool:
    return Tool.objects.create(name=name, input_schema={"type": "object"}, **fields)


def test_rules_are_edited_inline_on_the_list(browser):
    rules = list(RoutingRule.objects.order_by("-priority", "id"))
    target = next(r for r in rules if r.name_pattern == "workflow_*")
    before = selectors.current_version()
    data = {
        "form-TOTAL_FORMS": str(len(rules)),
        "form-INITIAL_FORMS": str(len(rules)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, rule in enumerate(rules):
        data |= {
            f"form-{i}-id": str(rule.pk),
            f"form-{i}-name_pattern": rule.name_pattern,
            f"form-{i}-category": rule.category,
            f"form-{i}-runtime": "asyncio" if rule.pk == target.pk else rule.runtime,
            f"form-{i}-priority": str(rule.priority),
        }
        if rule.enabled:
            data[f"form-{i}-enabled"] = "on"
    response = browser.post(reverse("admin:routing_routingrule_changelist"), data)
    assert response.status_code == 302, response.content[:2000]
    target.refresh_from_db()
    assert target.runtime == "asyncio"
    assert selectors.current_version() > before


def test_adding_a_rule_in_the_admin_bumps_the_version_and_routes(browser):
    before = selectors.current_version()
    response = browser.post(
        reverse("admin:routing_routingrule_add"),
        {
            "name_pattern": "report_*",
            "category": "",
            "runtime": "trio",
            "priority": "5",
            "enabled": "on",
            "note": "reports on trio",
        },
    )
    assert response.status_code == 302
    assert selectors.current_version() == before + 1
    make_tool("report_daily")
    page = browser.get(reverse("admin:tools_tool_changelist"))
    assert b"runs on / why" in page.content.lower()
    assert b"report_*" in page.content  # the deciding rule, in the why column


def test_a_rule_matching_nothing_is_refused_by_the_form(browser):
    response = browser.post(
        reverse("admin:routing_routingrule_add"),
        {"name_pattern": "", "category": "", "runtime": "trio", "priority": "0"},
    )
    assert response.status_code == 200
    assert not RoutingRule.objects.filter(note="", name_pattern="", category="").exists()


def test_explain_page_shows_each_step_and_which_decided(browser):
    tool = make_tool("p2p_status")
    page = browser.get(reverse("admin:tools_tool_explain", args=[tool.pk]))
    assert page.status_code == 200
    route = page.context["route"]
    assert (route.runtime, route.decided_by) == ("trio", 3)
    html = page.content.decode()
    assert 'id="route-runtime">trio<' in html
    assert "p2p_*" in html and "tool&#x27;s own runtime" in html
    change = browser.get(reverse("admin:tools_tool_change", args=[tool.pk])).content.decode()
    assert reverse("admin:tools_tool_explain", args=[tool.pk]) in change


def test_tools_list_has_no_query_per_row(browser, django_assert_max_num_queries):
    for i in range(30):
        make_tool(f"bulk_tool_{i}")
    url = reverse("admin:tools_tool_changelist")
    browser.get(url)  # warm the routing table cache
    with django_assert_max_num_queries(12):
        assert browser.get(url).status_code == 200


def test_runtime_settings_is_a_singleton_edited_through_its_form(browser):
    listing = browser.get(reverse("admin:routing_runtimesettings_changelist"))
    assert listing.status_code == 302
    before = selectors.current_version()
    response = browser.post(
        listing.url,
        {
            "default_runtime": "trio",
            "fallback_allowed": "on",
            "fallback_timeout": "2",
            "trio_enabled": "on",
        },
    )
    assert response.status_code == 302
    settings = RuntimeSettings.objects.get(pk=1)
    assert settings.default_runtime == "trio" and settings.fallback_timeout == 2
    assert selectors.current_version() == before + 1
    assert browser.get(reverse("admin:routing_runtimesettings_add")).status_code == 403
