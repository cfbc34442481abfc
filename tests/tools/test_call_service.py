import time

import pytest
from asgiref.sync import async_to_sync

from apps.access.principals import SYSTEM, Principal
from apps.tools import registry
from apps.tools.call_service import CallDenied, InvalidArguments, ToolNotFound, call_tool
from apps.tools.models import Tool
from apps.tools.services import sync_tools, update_tool

pytestmark = pytest.mark.django_db

call = async_to_sync(call_tool)


@pytest.fixture
def flaky(catalogue):
    """A tool that fails its first `failures` runs, registered with the given metadata."""
    registered = []

    def make(name: str, failures: int, **metadata):
        runs = {"count": 0}

        def impl() -> dict:
            runs["count"] += 1
            if runs["count"] <= failures:
                raise ConnectionError(f"transient failure {runs['count']}")
            return {"runs": runs["count"]}

        registry.register(impl, name=name, **metadata)
        registered.append(name)
        sync_tools()
        return runs

    yield make
    for name in registered:
        registry.unregister(name)


def test_async_and_sync_tools_return_one_result_type(catalogue):
    echoed = call("echo", {"message": "hi"}, SYSTEM, "test")
    assert echoed.to_mcp() == {
        "content": [{"type": "text", "text": '{"message": "hi"}'}],
        "structuredContent": {"message": "hi"},
        "isError": False,
    }
    summed = call("calculate", {"a": 2, "b": 5, "operation": "multiply"}, SYSTEM, "test")
    assert summed.structured_content == {
        "operation": "multiply",
        "a": 2.0,
        "b": 5.0,
        "result": 10.0,
    }
    assert summed.meta["runtime"] == "asyncio"


def test_validation_error_names_the_field_and_the_problem(catalogue):
    with pytest.raises(InvalidArguments) as error:
        call("calculate", {"a": "two", "operation": "power"}, SYSTEM, "test")
    fields = {e["field"]: e["problem"] for e in error.value.details["errors"]}
    assert set(fields) == {"a", "b", "operation"}
    assert "valid number" in fields["a"]
    assert fields["b"] == "Field required"
    assert "'add'" in fields["operation"]
    assert "a: Input should be a valid number" in error.value.message


def test_unexpected_argument_and_non_object_arguments_are_refused(catalogue):
    with pytest.raises(InvalidArguments, match="colour: Extra inputs are not permitted"):
        call("echo", {"message": "x", "colour": "red"}, SYSTEM, "test")
    with pytest.raises(InvalidArguments, match="expected a JSON object, got list"):
        call("echo", ["x"], SYSTEM, "test")


def test_tool_failure_is_an_error_result_not_an_exception(catalogue):
    result = call("calculate", {"a": 1, "b": 0, "operation": "divide"}, SYSTEM, "test")
    assert result.is_error
    assert "ZeroDivisionError: division by zero" in result.text


def test_timeout_stops_the_call_within_the_timeout_and_a_margin(catalogue):
    update_tool(tool=Tool.objects.get(name="sleep"), changes={"timeout_seconds": 0.5})
    started = time.monotonic()
    result = call("sleep", {"seconds": 30}, SYSTEM, "test")
    elapsed = time.monotonic() - started
    assert result.is_error and result.outcome == "timeout"
    assert "timed out after 0.5s" in result.text
    assert elapsed < 5, f"a 0.5s timeout took {elapsed:.1f}s"


def test_idempotent_tool_is_retried_at_most_max_retries_plus_one_times(flaky):
    runs = flaky(
        "flaky_idem", failures=10, idempotent_hint=True, retry_policy="fixed", max_retries=2
    )
    result = call("flaky_idem", {}, SYSTEM, "test")
    assert result.is_error
    assert runs["count"] == 3
    assert result.meta["attempts"] == 3


def test_idempotent_tool_succeeds_after_transient_failures(flaky):
    runs = flaky(
        "flaky_recovers",
        failures=2,
        idempotent_hint=True,
        retry_policy="exponential",
        max_retries=3,
    )
    result = call("flaky_recovers", {}, SYSTEM, "test")
    assert not result.is_error and result.structured_content == {"runs": 3}
    assert runs["count"] == 3


def test_non_idempotent_tool_runs_once_whatever_its_policy(flaky):
    runs = flaky(
        "flaky_once", failures=10, idempotent_hint=False, retry_policy="fixed", max_retries=5
    )
    result = call("flaky_once", {}, SYSTEM, "test")
    assert result.is_error
    assert runs["count"] == 1


def test_unknown_disabled_and_missing_tools_are_not_found(catalogue):
    with pytest.raises(ToolNotFound):
        call("no_such_tool", {}, SYSTEM, "test")
    update_tool(tool=Tool.objects.get(name="echo"), changes={"enabled": False})
    with pytest.raises(ToolNotFound):
        call("echo", {"message": "x"}, SYSTEM, "test")
    # Code gone at the next sync: the tool is marked missing (and the catalogue version moves).
    sync_tools(specs={n: s for n, s in registry.all_specs().items() if n != "calculate"})
    with pytest.raises(ToolNotFound):
        call("calculate", {"a": 1, "b": 2}, SYSTEM, "test")


def test_legacy_dotted_category_name_resolves(catalogue):
    result = call("builtin.echo", {"message": "dotted"}, SYSTEM, "test")
    assert result.structured_content == {"message": "dotted"}


def test_principal_needs_the_call_scope_and_a_matching_pattern(catalogue):
    reader = Principal(name="reader", kind="token", scopes=frozenset({"tools:read"}))
    with pytest.raises(CallDenied, match="lacks the 'tools:call' scope"):
        call("echo", {"message": "x"}, reader, "test")
    echo_only = Principal(
        name="e", kind="token", scopes=frozenset({"tools:call"}), tool_patterns=("echo*",)
    )
    assert not call("echo", {"message": "x"}, echo_only, "test").is_error
    with pytest.raises(CallDenied, match="may not call tool 'calculate'"):
        call("calculate", {"a": 1, "b": 1}, echo_only, "test")


def test_every_call_is_recorded_off_the_call_path(
    catalogue, flushed_calls, django_assert_num_queries
):
    from apps.tools.models import ToolCall

    call("echo", {"message": "warm-up"}, SYSTEM, "test")  # loads the catalogue and routing
    before = ToolCall.objects.count()
    # Only the catalogue version is read (no version watcher runs here); no write while calling.
    with django_assert_num_queries(1):
        call("echo", {"message": "logged"}, SYSTEM, "test", request_id="req-logged")
    with pytest.raises(InvalidArguments):
        call("echo", {}, SYSTEM, "test", request_id="req-invalid")
    assert ToolCall.objects.count() == before
    calls = flushed_calls()
    logged = calls.get(request_id="req-logged")
    assert (logged.tool_name, logged.outcome, logged.runtime, logged.caller, logged.via) == (
        "echo",
        "success",
        "asyncio",
        "system",
        "test",
    )
    assert logged.duration_ms >= 0
    invalid = calls.get(request_id="req-invalid")
    assert invalid.outcome == "invalid" and "message: Field required" in invalid.error
