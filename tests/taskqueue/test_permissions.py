"""Tools that act on the caller's behalf check the caller, not only the tool itself: a token
allowed to queue tasks or forward calls may not reach tools it could not call directly."""

import pytest
import trio

from apps.access.principals import Principal
from apps.taskqueue.models import Task
from apps.tools.call_service import call_tool
from apps.tools.services import sync_tools

QUEUE_ONLY = Principal(
    name="token:queue-only",
    kind="token",
    scopes=frozenset({"tools:call"}),
    tool_patterns=("p2p_taskqueue_*", "p2p_workflow_*", "p2p_remote_call"),
)
QUEUE_AND_ECHO = Principal(
    name="token:queue-and-echo",
    kind="token",
    scopes=frozenset({"tools:call"}),
    tool_patterns=("p2p_taskqueue_*", "echo"),
)


def call_on_trio(name: str, arguments: dict, principal: Principal):
    """The real call path, run the way the Trio runtime runs it."""
    return trio.run(call_tool, name, arguments, principal, "test")


@pytest.fixture
def tools(transactional_db):
    sync_tools()


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("p2p_taskqueue_submit", {"tool": "echo", "arguments": {"message": "x"}}),
        (
            "p2p_workflow_submit",
            {"steps": [{"id": "a", "tool": "echo", "arguments": {"message": "x"}}]},
        ),
        ("p2p_remote_call", {"peer_id": "12D3KooWnobody", "tool": "echo", "arguments": {}}),
    ],
)
def test_a_caller_cannot_reach_a_tool_it_may_not_call_through_the_queue_or_a_peer(
    tools, tool, arguments
):
    result = call_on_trio(tool, arguments, QUEUE_ONLY)
    assert result.is_error
    assert "may not call tool 'echo'" in result.text
    assert not Task.objects.exists()


def test_a_permitted_submission_is_queued_under_the_callers_name(tools):
    result = call_on_trio(
        "p2p_taskqueue_submit", {"tool": "echo", "arguments": {"message": "x"}}, QUEUE_AND_ECHO
    )
    assert not result.is_error, result.text
    assert Task.objects.get().submitted_by == "token:queue-and-echo"
