import pytest
from django.urls import reverse

from apps.tools.models import Tool, ToolCall

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:tools_tool_changelist"


@pytest.fixture
def admin_client_logged(client, admin_user, catalogue):
    client.force_login(admin_user)
    return client


def run_action(client, action: str, names: list[str]):
    ids = [str(pk) for pk in Tool.objects.filter(name__in=names).values_list("pk", flat=True)]
    return client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": ids}, follow=True
    )


def test_changelist_filters_and_search(admin_client_logged):
    page = admin_client_logged.get(reverse(CHANGELIST), {"q": "calc"})
    assert [t.name for t in page.context["cl"].result_list] == ["calculate"]
    Tool.objects.filter(name="sleep").update(enabled=False)
    disabled = admin_client_logged.get(reverse(CHANGELIST), {"enabled__exact": "0"})
    assert [t.name for t in disabled.context["cl"].result_list] == ["sleep"]
    Tool.objects.filter(name="echo").update(missing=True)
    missing = admin_client_logged.get(reverse(CHANGELIST), {"missing__exact": "1"})
    assert [t.name for t in missing.context["cl"].result_list] == ["echo"]


def test_bulk_actions_enable_disable_and_set_runtime(admin_client_logged):
    page = run_action(admin_client_logged, "disable_tools", ["echo", "sleep"])
    assert "Disabled 2 tools." in page.content.decode()
    assert set(Tool.objects.filter(enabled=False).values_list("name", flat=True)) == {
        "echo",
        "sleep",
    }
    run_action(admin_client_logged, "enable_tools", ["echo"])
    assert Tool.objects.get(name="echo").enabled
    run_action(admin_client_logged, "run_on_trio", ["calculate", "echo"])
    assert set(Tool.objects.filter(runtime="trio").values_list("name", flat=True)) == {
        "calculate",
        "echo",
    }
    run_action(admin_client_logged, "route_automatically", ["echo"])
    assert Tool.objects.get(name="echo").runtime == "auto"


def test_inline_toggles_on_the_list_save_through_the_form(admin_client_logged):
    tools = list(Tool.objects.order_by("name"))
    data = {
        "form-TOTAL_FORMS": str(len(tools)),
        "form-INITIAL_FORMS": str(len(tools)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, tool in enumerate(tools):
        data[f"form-{index}-id"] = str(tool.pk)
        data[f"form-{index}-runtime"] = (
            "asyncio" if tool.name == "platform_status" else tool.runtime
        )
        if tool.name != "calculate":
            data[f"form-{index}-enabled"] = "on"
    reply = admin_client_logged.post(reverse(CHANGELIST), data)
    assert reply.status_code == 302, reply.content[:500]
    assert not Tool.objects.get(name="calculate").enabled
    assert Tool.objects.get(name="platform_status").runtime == "asyncio"


def test_an_invalid_edit_is_refused_with_the_field_named(admin_client_logged):
    from tests.admin_forms import change_form_data

    url = reverse("admin:tools_tool_change", args=[Tool.objects.get(name="echo").pk])
    reply = admin_client_logged.post(url, change_form_data(admin_client_logged, url, priority=11))
    assert reply.status_code == 200
    assert "priority" in reply.context["adminform"].form.errors
    assert Tool.objects.get(name="echo").priority == 5


def test_call_log_is_read_only_and_filterable(admin_client_logged):
    from django.utils import timezone

    ToolCall.objects.create(
        tool_name="echo",
        runtime="asyncio",
        outcome="success",
        started_at=timezone.now(),
        duration_ms=1,
    )
    ToolCall.objects.create(
        tool_name="sleep",
        runtime="asyncio",
        outcome="timeout",
        started_at=timezone.now(),
        duration_ms=9,
    )
    url = reverse("admin:tools_toolcall_changelist")
    page = admin_client_logged.get(url, {"outcome__exact": "timeout"})
    assert [c.tool_name for c in page.context["cl"].result_list] == ["sleep"]
    call = ToolCall.objects.get(tool_name="echo")
    change = admin_client_logged.get(reverse("admin:tools_toolcall_change", args=[call.pk]))
    assert change.status_code == 200 and not change.context["has_change_permission"]
    assert admin_client_logged.get(reverse("admin:tools_toolcall_add")).status_code == 403
