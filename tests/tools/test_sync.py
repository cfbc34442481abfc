import dataclasses

import pytest

from apps.tools import registry
from apps.tools.models import Tool
from apps.tools.services import sync_tools, update_tool

pytestmark = pytest.mark.django_db


def _with_metadata(spec: registry.ToolSpec, **changes) -> registry.ToolSpec:
    return dataclasses.replace(spec, metadata={**spec.metadata, **changes})


def test_sync_creates_every_registered_tool():
    report = sync_tools()
    assert {"echo", "calculate", "sleep", "platform_status"} <= set(report.created)
    echo = Tool.objects.get(name="echo")
    assert echo.category == "builtin"
    assert echo.input_schema["required"] == ["message"]
    assert echo.idempotent_hint and echo.read_only_hint


def test_sync_keeps_an_admins_edit_and_follows_code_elsewhere():
    sync_tools()
    update_tool(
        tool=Tool.objects.get(name="echo"), changes={"timeout_seconds": 7.0, "enabled": False}
    )
    specs = registry.all_specs()
    specs["echo"] = _with_metadata(specs["echo"], timeout_seconds=12.0, priority=9)
    report = sync_tools(specs=specs)
    echo = Tool.objects.get(name="echo")
    assert echo.timeout_seconds == 7.0  # admin's value survives a code change
    assert echo.enabled is False
    assert echo.priority == 9  # untouched by the admin: follows code
    assert set(report.kept_admin_edits["echo"]) == {"timeout_seconds", "enabled"}


def test_sync_is_idempotent():
    sync_tools()
    report = sync_tools()
    assert not report.changed


def test_tool_whose_code_vanished_is_marked_missing_not_deleted_and_comes_back():
    sync_tools()
    specs = registry.all_specs()
    del specs["sleep"]
    report = sync_tools(specs=specs)
    assert report.missing == ["sleep"]
    assert Tool.objects.get(name="sleep").missing
    report = sync_tools()
    assert report.restored == ["sleep"]
    assert not Tool.objects.get(name="sleep").missing


def test_database_refuses_out_of_range_priority():
    from django.db import IntegrityError, transaction

    sync_tools()
    with pytest.raises(IntegrityError), transaction.atomic():
        Tool.objects.filter(name="echo").update(priority=42)


def test_an_edit_with_changes_writes_only_those_fields_and_keeps_a_concurrent_edit():
    sync_tools()
    stale = Tool.objects.get(name="echo")  # read before someone else's edit
    Tool.objects.filter(name="echo").update(enabled=False)
    update_tool(tool=stale, changes={"priority": 9})
    echo = Tool.objects.get(name="echo")
    assert echo.priority == 9
    assert echo.enabled is False
