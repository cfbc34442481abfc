"""Least privilege for the tools that act as the node: a caller sees and acts on its own
tasks and workflows only (unless it has `admin`), idempotency keys are per submitter, and
tools that change the node itself declare `required_scope="admin"`, which the call path
enforces for every door (REST, MCP, P2P, queue)."""

import pytest
import trio

from apps.access.principals import Principal
from apps.taskqueue.models import Task
from apps.tools import registry
from apps.tools.call_service import CallDenied, call_tool
from apps.tools.models import Tool
from apps.tools.services import sync_tools

ALICE = Principal(name="user:alice", kind="jwt", scopes=frozenset({"tools:read", "tools:call"}))
BOB = Principal(name="user:bob", kind="jwt", scopes=frozenset({"tools:read", "tools:call"}))
ADMIN = Principal(name="user:root", kind="jwt", scopes=frozenset({"tools:call", "admin"}))
NODE_ACTING = (
    ("p2p_taskqueue_pause", {}),
    ("p2p_taskqueue_resume", {}),
    ("p2p_bootstrap_add", {"multiaddr": "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWnobody"}),
    ("p2p_bootstrap_remove", {"multiaddr": "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWnobody"}),
    ("p2p_peer_connect", {"address": "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWnobody"}),
    ("p2p_peer_disconnect", {"peer_id": "12D3KooWnobody"}),
)


def call(name: str, arguments: dict, principal: Principal):
    """The real call path, run the way the Trio runtime runs it."""
    return trio.run(call_tool, name, arguments, principal, "test")


@pytest.fixture
def tools(transactional_db):
    sync_tools()


def submit(principal: Principal, key: str | None = None) -> str:
    arguments = {"tool": "echo", "arguments": {"message": "secret of " + principal.name}}
    if key:
        arguments["idempotency_key"] = key
    result = call("p2p_taskqueue_submit", arguments, principal)
    assert not result.is_error, result.text
    return result.structured_content["task_id"]


@pytest.mark.parametrize(("tool", "arguments"), NODE_ACTING)
def test_a_caller_without_admin_cannot_act_as_the_node(tools, tool, arguments):
    with pytest.raises(CallDenied, match=f"Tool '{tool}' needs the 'admin' scope"):
        call(tool, arguments, ALICE)


def test_the_required_scope_is_declared_in_code_and_stored_on_the_tool(tools):
    stored = dict(Tool.objects.values_list("name", "required_scope"))
    for tool, _ in NODE_ACTING:
        assert registry.get_spec(tool).metadata["required_scope"] == "admin"
        assert stored[tool] == "admin"
    assert stored["p2p_taskqueue_get"] == "" and stored["echo"] == ""
    with pytest.raises(registry.ToolDefinitionError, match="unknown required_scope"):
        registry.register(lambda: None, name="w13_bad_scope", required_scope="root")


def test_admin_may_pause_and_resume_the_queue(tools):
    from apps.taskqueue.services import is_paused

    assert not call("p2p_taskqueue_pause", {}, ADMIN).is_error
    assert is_paused()
    assert not call("p2p_taskqueue_resume", {}, ADMIN).is_error
    assert not is_paused()


def test_a_caller_sees_and_acts_on_its_own_tasks_only(tools):
    alices = submit(ALICE)
    bobs = submit(BOB)
    for tool in ("p2p_taskqueue_get", "p2p_taskqueue_cancel", "p2p_taskqueue_retry"):
        refused = call(tool, {"task_id": alices}, BOB)
        assert refused.is_error and f"no task {alices}" in refused.text, tool
    listed = call("p2p_taskqueue_list", {}, BOB).structured_content
    assert [t["task_id"] for t in listed["tasks"]] == [bobs]
    assert "secret of user:alice" not in str(listed)
    own = call("p2p_taskqueue_get", {"task_id": alices}, ALICE)
    assert not own.is_error and own.structured_content["task_id"] == alices
    everyone = call("p2p_taskqueue_list", {}, ADMIN).structured_content
    assert {t["task_id"] for t in everyone["tasks"]} == {alices, bobs}
    assert not call("p2p_taskqueue_cancel", {"task_id": alices}, ALICE).is_error
    assert Task.objects.get(pk=alices).status == "cancelled"


def test_a_caller_sees_and_acts_on_its_own_workflows_only(tools):
    steps = [{"id": "a", "tool": "echo", "arguments": {"message": "x"}}]
    made = call("p2p_workflow_submit", {"steps": steps}, ALICE)
    assert not made.is_error, made.text
    workflow_id = made.structured_content["workflow_id"]
    for tool in (
        "p2p_workflow_status",
        "p2p_workflow_result",
        "p2p_workflow_dependencies",
        "p2p_workflow_cancel",
    ):
        refused = call(tool, {"workflow_id": workflow_id}, BOB)
        assert refused.is_error and "no workflow" in refused.text, tool
    assert call("p2p_workflow_list", {}, BOB).structured_content["count"] == 0
    assert call("p2p_workflow_list", {}, ALICE).structured_content["count"] == 1
    # The workflow's step tasks are Alice's too, not Bob's.
    step_task = call("p2p_taskqueue_list", {}, ALICE).structured_content["tasks"]
    assert len(step_task) == 1
    assert call("p2p_taskqueue_list", {}, BOB).structured_content["count"] == 0
    assert not call("p2p_workflow_status", {"workflow_id": workflow_id}, ADMIN).is_error


def test_idempotency_keys_are_per_submitter(tools):
    first = submit(ALICE, key="nightly")
    assert submit(ALICE, key="nightly") == first
    bobs = submit(BOB, key="nightly")
    assert bobs != first
    assert Task.objects.count() == 2


def test_rest_refuses_a_node_acting_tool_to_a_call_token_and_lists_its_scope(
    tools, make_token, client_for
):
    client = client_for(make_token())
    reply = client.post(
        "/api/v2/tools/p2p_taskqueue_pause/call", data={}, content_type="application/json"
    )
    assert reply.status_code == 403
    assert "needs the 'admin' scope" in reply.json()["error"]
    listed = client.post(
        "/mcp/tools/list", data={"jsonrpc": "2.0", "id": 1}, content_type="application/json"
    ).json()
    by_name = {t["name"]: t for t in listed["result"]["tools"]}
    assert by_name["p2p_taskqueue_pause"]["_meta"] == {"requiredScope": "admin"}
    assert "_meta" not in by_name["p2p_taskqueue_get"]


def test_mcp_tools_list_carries_the_required_scope(transactional_db, make_token):
    import asyncio

    import httpx

    from apps.tools.mcp_http import McpHttpEndpoint
    from apps.tools.mcp_server import CatalogueServer

    sync_tools()
    token = make_token(scopes=("tools:read", "tools:call", "admin"))
    endpoint = McpHttpEndpoint(CatalogueServer(via="mcp"), watch=False)

    async def list_all() -> dict:
        tools, cursor = {}, None
        async with endpoint.lifespan():
            transport = httpx.ASGITransport(app=endpoint)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                for _ in range(50):
                    params = {"cursor": cursor} if cursor else {}
                    reply = await http.post(
                        "/mcp",
                        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params},
                        headers={"authorization": f"Bearer {token}", "accept": "application/json"},
                    )
                    result = reply.json()["result"]
                    tools.update({t["name"]: t for t in result["tools"]})
                    cursor = result.get("nextCursor")
                    if not cursor:
                        break
        return tools

    tools = asyncio.run(list_all())
    assert tools["p2p_taskqueue_pause"]["_meta"] == {"requiredScope": "admin"}
    assert not (tools["p2p_taskqueue_get"].get("_meta") or {}).get("requiredScope")
