"""Resolution order, explain, the routing version, and the per-version table cache."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.routing import selectors, services
from apps.routing.models import RoutingRule
from apps.routing.router import ToolNotRoutable, cache, explain_route, resolve_runtime
from apps.tools import services as tool_services
from apps.tools.models import Tool

LEGACY_FAMILIES = {"p2p_*", "workflow_*", "taskqueue_*", "peer_*", "bootstrap_*"}


def make_tool(name: str, **fields) -> Tool:
    fields.setdefault("input_schema", {"type": "object", "properties": {}})
    return Tool.objects.create(name=name, **fields)


def table():
    return cache.get()


@pytest.mark.django_db
def test_migration_seeds_legacy_family_rules_to_trio_and_the_singletons():
    seeded = {r.name_pattern: r.runtime for r in RoutingRule.objects.all()}
    assert set(seeded) >= LEGACY_FAMILIES
    assert {seeded[p] for p in LEGACY_FAMILIES} == {"trio"}
    assert selectors.runtime_settings().default_runtime == "asyncio"
    assert selectors.current_version() >= 1


@pytest.mark.django_db
def test_seeded_rules_route_the_legacy_families_to_trio():
    for name in (
        "p2p_list_peers",
        "workflow_run",
        "taskqueue_submit",
        "peer_ping",
        "bootstrap_add",
    ):
        assert resolve_runtime(make_tool(name), table()) == "trio", name


@pytest.mark.django_db
def test_rule_glob_is_anchored_so_p2p_rule_does_not_catch_run_p2p_report():
    services.create_rule(name_pattern="p2p_*", runtime="trio", priority=50)
    route = explain_route(make_tool("run_p2p_report"), table())
    assert route.runtime == "asyncio"
    assert route.decided_by == 5
    assert resolve_runtime(make_tool("p2p_report"), table()) == "trio"


@pytest.mark.django_db
def test_tool_own_runtime_beats_any_rule_and_explain_names_step_2():
    services.create_rule(name_pattern="pinned_*", runtime="trio", priority=100)
    route = explain_route(make_tool("pinned_tool", runtime="asyncio"), table())
    assert route.runtime == "asyncio"
    assert route.decided_by == 2
    assert [s.step for s in route.steps] == [1, 2]
    assert route.steps[-1].decided and "asyncio" in route.reason


@pytest.mark.django_db
def test_legacy_fastapi_runtime_means_asyncio():
    route = explain_route(Tool(name="old_style", runtime="fastapi"), table())  # as legacy code says
    assert (route.runtime, route.decided_by) == ("asyncio", 2)


@pytest.mark.django_db
def test_rules_by_priority_then_id_and_by_category():
    low = services.create_rule(category="media", runtime="asyncio", priority=1)
    high = services.create_rule(category="media", runtime="trio", priority=9)
    route = explain_route(make_tool("transcode", category="media"), table())
    assert (route.runtime, route.decided_by) == ("trio", 3)
    assert f"rule #{high.pk}" in route.reason
    services.update_rule(rule=high, changes={"enabled": False})
    route = explain_route(make_tool("transcode2", category="media"), table())
    assert f"rule #{low.pk}" in route.reason and route.runtime == "asyncio"
    both = services.create_rule(name_pattern="x_*", category="other", runtime="trio", priority=99)
    # A rule with a pattern and a category needs both to match.
    assert (
        f"rule #{both.pk}"
        not in explain_route(make_tool("x_one", category="media"), table()).reason
    )
    assert f"rule #{both.pk}" in explain_route(make_tool("x_two", category="other"), table()).reason


@pytest.mark.django_db
def test_requires_p2p_goes_to_trio_then_default_runtime_decides():
    route = explain_route(make_tool("needs_peers", requires_p2p=True), table())
    assert (route.runtime, route.decided_by) == ("trio", 4)
    assert explain_route(make_tool("plain"), table()).runtime == "asyncio"
    services.update_runtime_settings(changes={"default_runtime": "trio"})
    route = explain_route(make_tool("plain2"), table())
    assert (route.runtime, route.decided_by) == ("trio", 5)
    assert [s.step for s in route.steps] == [1, 2, 3, 4, 5]


@pytest.mark.django_db
def test_disabled_or_missing_tool_is_not_callable():
    disabled = make_tool("off_tool", enabled=False, runtime="trio")
    route = explain_route(disabled, table())
    assert route.runtime is None and route.decided_by == 1
    with pytest.raises(ToolNotRoutable):
        resolve_runtime(make_tool("gone_tool", missing=True), table())


@pytest.mark.django_db
def test_every_change_to_tools_rules_or_settings_bumps_the_version():
    tool = make_tool("versioned")
    seen = [selectors.current_version()]

    def bumped() -> bool:
        seen.append(selectors.current_version())
        return seen[-1] == seen[-2] + 1

    tool_services.update_tool(tool=tool, changes={"runtime": "trio"})
    assert bumped()
    tool_services.set_tools_enabled(tools=Tool.objects.filter(pk=tool.pk), enabled=False)
    assert bumped()
    rule = services.create_rule(name_pattern="v_*", runtime="trio")
    assert bumped()
    services.update_rule(rule=rule, changes={"priority": 3})
    assert bumped()
    services.delete_rules(rules=rule)
    assert bumped()
    services.update_runtime_settings(changes={"fallback_timeout": 2.5})
    assert bumped()


@pytest.mark.django_db(transaction=True)
def test_version_bump_is_part_of_the_changing_transaction():
    tool = make_tool("rolled_back")
    before = selectors.current_version()
    with pytest.raises(RuntimeError), transaction.atomic():
        tool_services.update_tool(tool=tool, changes={"runtime": "trio"})
        assert selectors.current_version() == before + 1
        raise RuntimeError("abort")
    assert selectors.current_version() == before
    tool.refresh_from_db()
    assert tool.runtime == "auto"
    with pytest.raises(RuntimeError, match="inside the changing transaction"):
        services.bump_routing_version(reason="outside")


@pytest.mark.django_db
def test_resolving_a_route_costs_no_query_when_the_version_is_cached(django_assert_num_queries):
    tool = make_tool("cached_tool")
    services.create_rule(name_pattern="cached_*", runtime="trio")
    version = selectors.current_version()
    cache.get(version)  # first use of this version loads the table
    with django_assert_num_queries(0):
        for _ in range(3):
            assert resolve_runtime(tool, cache.peek(version)) == "trio"
    services.create_rule(name_pattern="cached_tool", runtime="asyncio", priority=99)
    fresh = cache.get(selectors.current_version())  # the version moved: reloaded once
    assert fresh.version == version + 1 and resolve_runtime(tool, fresh) == "asyncio"
