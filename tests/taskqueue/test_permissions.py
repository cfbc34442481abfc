"""Tools that act on the caller's behalf check the caller, not only the tool itself: a token
allowed to queue tasks or forward calls may not reach tools it could not call directly."""

import pytest
import trio

from apps.access.principals import Principal
from apps.taskqueue.models import Task
from apps.tools.call_service import CallDenied, call_tool
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
    task = Task.objects.get()
    assert task.submitted_by == "token:queue-and-echo"
    assert task.submitter_principal == QUEUE_AND_ECHO.to_dict()


def test_a_queued_task_runs_with_its_submitters_scopes_and_patterns(tools):
    """Nesting does not escape the patterns: a task that queues another tool runs as its
    submitter, so the inner submission of a forbidden tool is refused too."""
    from apps.taskqueue.workers import execute_locally

    nested = {"tool": "echo", "arguments": {"message": "x"}}
    outer = call_on_trio(
        "p2p_taskqueue_submit", {"tool": "p2p_taskqueue_submit", "arguments": nested}, QUEUE_ONLY
    )
    assert not outer.is_error, outer.text
    task = Task.objects.get()
    assert task.submitted_by == "token:queue-only"
    assert task.submitter_principal == QUEUE_ONLY.to_dict()
    ok, value = trio.run(execute_locally, task)
    assert not ok
    assert "may not call tool 'echo'" in str(value)
    assert Task.objects.count() == 1


def test_a_trusted_peer_may_read_this_nodes_p2p_state_but_never_act_as_this_node(tools):
    """Trust is not transitive: a peer cannot forward calls, queue work or change bootstrap
    nodes through this node, while ordinary and read-only tools stay open to it."""
    from apps.tools.selectors import tools_visible_to
    from trio_runtime.p2p.protocol import peer_principal

    peer = peer_principal("12D3KooWtrustedpeer")
    for acting in (
        "p2p_remote_call",
        "p2p_taskqueue_submit",
        "p2p_workflow_submit",
        "p2p_bootstrap_add",
        "p2p_peer_connect",
        "p2p_taskqueue_pause",
    ):
        assert not peer.may_call(acting), acting
    for allowed in ("echo", "p2p_node_status", "p2p_peer_list", "p2p_taskqueue_get"):
        assert peer.may_call(allowed), allowed
    visible = {tool.name for tool in tools_visible_to(peer)}
    assert "echo" in visible and "p2p_node_status" in visible
    assert "p2p_remote_call" not in visible
    with pytest.raises(CallDenied, match="may not call tool 'p2p_remote_call'"):
        call_on_trio("p2p_remote_call", {"peer_id": "x", "tool": "echo"}, peer)
