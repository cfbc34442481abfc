"""MCP tasks (2025-11-25) backed by jobs: the catalogue's MCP server with task support
installed, served by its HTTP endpoint in this process, spoken to in raw JSON-RPC (the SDK's
client cannot start tasks); the node's real worker runs the jobs."""

from __future__ import annotations

import itertools

import anyio
import httpx
import pytest
from django.db import connection

from apps.jobs.mcp_tasks import RELATED_TASK_META, install_task_support
from apps.tools.mcp_http import McpHttpEndpoint
from apps.tools.mcp_server import CatalogueServer
from mcp_platform.concurrency import run_blocking
from tests.jobs import job_tools

pytestmark = pytest.mark.slow


class Rpc:
    def __init__(self, http: httpx.AsyncClient):
        self.http = http
        self.ids = itertools.count(1)

    async def reply(self, method: str, params: dict | None = None) -> dict:
        body = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params or {}}
        response = await self.http.post("/mcp", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def __call__(self, method: str, params: dict | None = None) -> dict:
        reply = await self.reply(method, params)
        assert "result" in reply, reply
        return reply["result"]

    async def wait_task(self, task_id: str, predicate) -> dict:
        with anyio.fail_after(30):
            while True:
                task = await self("tasks/get", {"taskId": task_id})
                if predicate(task):
                    return task
                await anyio.sleep(0.1)


def test_a_tool_runs_as_an_mcp_task_with_progress_result_and_cancel(
    test_job_tools, job_node, make_token
):
    token = make_token()

    async def scenario() -> None:
        catalogue = CatalogueServer(via="mcp")
        install_task_support(catalogue.server)
        endpoint = McpHttpEndpoint(catalogue, stateless=True)
        headers = {
            "Authorization": f"Bearer {token}",
            "MCP-Protocol-Version": "2025-11-25",
            "Accept": "application/json",
        }
        async with (
            endpoint.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=endpoint),
                base_url="http://localhost",
                headers=headers,
                timeout=60,
            ) as http,
        ):
            rpc = Rpc(http)
            init = await rpc(
                "initialize",
                {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "tasks-test", "version": "1"},
                },
            )
            assert init["capabilities"]["tasks"] == {
                "list": {},
                "cancel": {},
                "requests": {"tools": {"call": {}}},
            }
            tools = (await rpc("tools/list"))["tools"]
            sleep = next(tool for tool in tools if tool["name"] == "sleep")
            assert sleep["execution"] == {"taskSupport": "optional"}

            created = await rpc(
                "tools/call",
                {"name": "sleep", "arguments": {"seconds": 3}, "task": {"ttl": 600000}},
            )
            task = created["task"]
            assert task["status"] == "working" and task["ttl"] == 600000
            task_id = task["taskId"]
            partway = await rpc.wait_task(
                task_id, lambda t: "sleeping" in (t.get("statusMessage") or "")
            )
            assert partway["status"] == "working", partway
            result = await rpc("tasks/result", {"taskId": task_id})
            assert result["structuredContent"]["slept"] == 3
            assert result["isError"] is False
            assert result["_meta"][RELATED_TASK_META] == {"taskId": task_id}
            assert (await rpc("tasks/get", {"taskId": task_id}))["status"] == "completed"
            listed = await rpc("tasks/list")
            assert task_id in [t["taskId"] for t in listed["tasks"]]

            long = await rpc(
                "tools/call", {"name": "sleep", "arguments": {"seconds": 60}, "task": {}}
            )
            long_id = long["task"]["taskId"]
            await rpc.wait_task(long_id, lambda t: "sleeping" in (t.get("statusMessage") or ""))
            cancelled = await rpc("tasks/cancel", {"taskId": long_id})
            assert cancelled["status"] == "cancelled", cancelled
            again = await rpc.reply("tasks/cancel", {"taskId": long_id})
            assert again["error"]["code"] == -32602
            assert "already cancelled" in again["error"]["message"]

            unknown = await rpc.reply("tasks/get", {"taskId": "no-such-task"})
            assert unknown["error"]["code"] == -32602
            bad = await rpc.reply(
                "tools/call", {"name": "no_such_tool", "arguments": {}, "task": {}}
            )
            assert bad["error"]["code"] == -32602
        # The handlers' database connection lives in asgiref's thread: close it, as a server does.
        await run_blocking(lambda: connection.close())

    anyio.run(scenario)


def test_the_platforms_own_mcp_endpoint_serves_tasks(test_job_tools, job_node, make_token):
    """/mcp on a running node (not an endpoint built by the test) has task support installed:
    a task-augmented call runs as a job and its result comes back through tasks/result."""
    headers = {
        "Authorization": f"Bearer {make_token()}",
        "MCP-Protocol-Version": "2025-11-25",
        "Accept": "application/json",
    }

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=job_node.url, headers=headers, timeout=60) as http:
            rpc = Rpc(http)
            init = await rpc(
                "initialize",
                {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "tasks-on-node", "version": "1"},
                },
            )
            assert "tasks" in init["capabilities"]
            created = await rpc(
                "tools/call",
                {"name": "echo", "arguments": {"message": "as a task"}, "task": {"ttl": 60000}},
            )
            task_id = created["task"]["taskId"]
            await rpc.wait_task(task_id, lambda task: task["status"] == "completed")
            result = await rpc("tasks/result", {"taskId": task_id})
            assert result["structuredContent"] == {"message": "as a task"}

    anyio.run(scenario)


# --- 2026-07-28: the tasks extension (SEP-2663) ----------------------------------------------

TASKS = "io.modelcontextprotocol/tasks"


class ModernRpc(Rpc):
    """Raw 2026-07-28 JSON-RPC over HTTP: one POST per request, the envelope in `_meta`,
    declaring the tasks extension or not."""

    def __init__(self, http: httpx.AsyncClient, *, tasks: bool, capabilities: dict | None = None):
        super().__init__(http)
        self.extensions = {TASKS: {}} if tasks else {}
        self.capabilities = capabilities or {}

    async def reply(self, method: str, params: dict | None = None, headers=None) -> dict:
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {
                **self.capabilities,
                "extensions": self.extensions,
            },
        }
        body = {
            "jsonrpc": "2.0",
            "id": next(self.ids),
            "method": method,
            "params": {**(params or {}), "_meta": meta},
        }
        extra = {"Mcp-Method": method, **(headers or {})}
        if method == "tools/call":
            extra.setdefault("Mcp-Name", params["name"])
        if method in ("tasks/get", "tasks/update", "tasks/cancel"):
            extra.setdefault("Mcp-Name", params["taskId"])
        response = await self.http.post("/mcp", json=body, headers=extra)
        # A 2026 error says its kind in the HTTP status too (-32601 is 404, -32021 400...).
        reply = response.json()
        assert (response.status_code == 200) == ("result" in reply), response.text
        self.last_status = response.status_code
        return reply


def test_2026_tasks_extension_runs_server_directed_tasks_with_sep_2663_wire(
    test_job_tools, job_node, make_token
):
    headers = {
        "Authorization": f"Bearer {make_token()}",
        "MCP-Protocol-Version": "2026-07-28",
        "Accept": "application/json",
    }

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=job_node.url, headers=headers, timeout=60) as http:
            rpc = ModernRpc(http, tasks=True)
            discovered = await rpc("server/discover")
            assert discovered["capabilities"]["extensions"][TASKS] == {}
            assert "tasks" not in discovered["capabilities"]  # the 2025 slot is not used
            listed = (await rpc("tools/list"))["tools"]
            assert all("execution" not in tool for tool in listed)

            # A tool that may be a task becomes one: flat, `resultType: "task"`.
            created = await rpc(
                "tools/call", {"name": "job_ticks", "arguments": {"key": "m1", "seconds": 1}}
            )
            assert created["resultType"] == "task" and "task" not in created
            assert created["status"] == "working"
            assert isinstance(created["ttlMs"], int) and created["ttlMs"] > 0
            assert created["pollIntervalMs"] == 500
            assert "ttl" not in created and "pollInterval" not in created
            assert "result" not in created and "requestState" not in created
            task_id = created["taskId"]
            right_away = await rpc("tasks/get", {"taskId": task_id})  # durable on creation
            assert right_away["taskId"] == task_id and right_away["resultType"] == "complete"
            done = await rpc.wait_task(task_id, lambda t: t["status"] == "completed")
            assert done["result"]["structuredContent"]["ticks"] == 10
            assert done["result"]["isError"] is False
            assert "_meta" not in done["result"]  # no related-task key: the id is the root's

            # A tool that raised completed with `isError` (failed is for protocol errors).
            failing = await rpc(
                "tools/call", {"name": "job_fails", "arguments": {"reason": "boom"}}
            )
            failed = await rpc.wait_task(failing["taskId"], lambda t: t["status"] != "working")
            assert failed["status"] == "completed" and failed["result"]["isError"] is True
            assert "boom" in failed["result"]["content"][0]["text"] and "error" not in failed

            # A tool that forbids tasks answers at once, a legacy `task` param changes nothing.
            sync = await rpc(
                "tools/call",
                {"name": "job_sync_only", "arguments": {"text": "now"}, "task": {"ttl": 1000}},
            )
            assert sync["resultType"] == "complete" and "taskId" not in sync
            assert sync["structuredContent"] == {"text": "now"}

            # Cancel is an empty acknowledgement; tasks/get then shows `cancelled`.
            long = await rpc("tools/call", {"name": "job_task_only", "arguments": {"seconds": 60}})
            await rpc.wait_task(long["taskId"], lambda t: t["status"] == "working")
            ack = await rpc("tasks/cancel", {"taskId": long["taskId"]})
            assert ack["resultType"] == "complete"
            assert not {"taskId", "status", "result", "error"} & set(ack)
            await rpc.wait_task(long["taskId"], lambda t: t["status"] == "cancelled")
            again = await rpc("tasks/cancel", {"taskId": long["taskId"]})  # idempotent
            assert again["resultType"] == "complete"
            update = await rpc(
                "tasks/update", {"taskId": task_id, "inputResponses": {"unknown": {}}}
            )
            assert update["resultType"] == "complete"

            # The 2025 methods are gone; an unknown task and a mismatched Mcp-Name are refused.
            for method, params in (("tasks/result", {"taskId": task_id}), ("tasks/list", {})):
                assert (await rpc.reply(method, params))["error"]["code"] == -32601
            unknown = await rpc.reply("tasks/get", {"taskId": "no-such-task"})
            assert unknown["error"]["code"] == -32602
            misrouted = await rpc.reply(
                "tasks/get", {"taskId": task_id}, headers={"Mcp-Name": "another-task"}
            )
            assert misrouted["error"]["code"] == -32020 and rpc.last_status == 400

            # A client without the extension: plain results, and -32021 where only a task does.
            plain = ModernRpc(http, tasks=False)
            echoed = await plain(
                "tools/call", {"name": "job_ticks", "arguments": {"key": "m2", "seconds": 0.1}}
            )
            assert echoed["resultType"] == "complete" and "taskId" not in echoed
            required = await plain.reply(
                "tools/call", {"name": "job_task_only", "arguments": {"seconds": 0}}
            )
            assert required["error"]["code"] == -32021
            assert required["error"]["data"]["requiredCapabilities"]["extensions"] == {TASKS: {}}
            for method in ("tasks/get", "tasks/update", "tasks/cancel"):
                params = {"taskId": task_id, "inputResponses": {}}
                assert (await plain.reply(method, params))["error"]["code"] == -32021

    anyio.run(scenario)


def test_a_2026_task_waits_for_input_until_tasks_update_answers_every_question(
    test_job_tools, job_node, job_dir, make_token
):
    headers = {
        "Authorization": f"Bearer {make_token()}",
        "MCP-Protocol-Version": "2026-07-28",
        "Accept": "application/json",
    }

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=job_node.url, headers=headers, timeout=60) as http:
            rpc = ModernRpc(http, tasks=True, capabilities={"elicitation": {}})
            created = await rpc("tools/call", {"name": "job_asks", "arguments": {"key": "ask1"}})
            assert created["resultType"] == "task" and "inputRequests" not in created
            task_id = created["taskId"]

            # Both questions the tool asked at once wait, by the keys it gave them.
            waiting = await rpc.wait_task(task_id, lambda t: t["status"] != "working")
            assert waiting["status"] == "input_required", waiting
            requests = waiting["inputRequests"]
            assert set(requests) == {"name", "confirm"}
            assert requests["name"]["method"] == "elicitation/create"
            assert requests["name"]["params"]["message"] == "What is your name?"
            assert "result" not in waiting and "requestState" not in waiting

            # One answer: acknowledged, the other question still open, the tool not run again.
            ack = await rpc(
                "tasks/update",
                {
                    "taskId": task_id,
                    "inputResponses": {"name": {"action": "accept", "content": {"name": "Ada"}}},
                },
            )
            assert ack["resultType"] == "complete" and "status" not in ack
            partly = await rpc("tasks/get", {"taskId": task_id})
            assert partly["status"] == "input_required"
            assert set(partly["inputRequests"]) == {"confirm"}

            # An answer that is not an elicitation result is refused, naming the key.
            bad = await rpc.reply(
                "tasks/update", {"taskId": task_id, "inputResponses": {"confirm": {"action": 7}}}
            )
            assert bad["error"]["code"] == -32602 and "confirm" in bad["error"]["message"]

            # The last answer: the tool runs again from the start, each question answered.
            await rpc(
                "tasks/update",
                {
                    "taskId": task_id,
                    "inputResponses": {
                        "confirm": {"action": "accept", "content": {"confirm": True}}
                    },
                },
            )
            done = await rpc.wait_task(task_id, lambda t: t["status"] in ("completed", "failed"))
            assert done["status"] == "completed", done
            assert done["result"]["isError"] is False
            assert done["result"]["content"][0]["text"] == "Ada: confirmed=True"
            assert job_tools.lines(job_dir, "ask1", "answered") == ["run"]

            # A waiting task can be cancelled.
            other = await rpc("tools/call", {"name": "job_asks", "arguments": {"key": "ask2"}})
            await rpc.wait_task(other["taskId"], lambda t: t["status"] == "input_required")
            await rpc("tasks/cancel", {"taskId": other["taskId"]})
            cancelled = await rpc("tasks/get", {"taskId": other["taskId"]})
            assert cancelled["status"] == "cancelled" and "inputRequests" not in cancelled

            # A client that cannot be asked (no elicitation declared): the tool's error.
            mute = ModernRpc(http, tasks=True)
            asked = await mute("tools/call", {"name": "job_asks", "arguments": {"key": "ask3"}})
            ended = await mute.wait_task(asked["taskId"], lambda t: t["status"] != "working")
            assert ended["status"] == "completed" and ended["result"]["isError"] is True
            assert "elicitation" in ended["result"]["content"][0]["text"]

            # A tool that raises a CallError: its call could not be made, the task `failed`.
            broken = await rpc(
                "tools/call", {"name": "job_protocol_error", "arguments": {"reason": "no way"}}
            )
            failed = await rpc.wait_task(broken["taskId"], lambda t: t["status"] != "working")
            assert failed["status"] == "failed" and "result" not in failed
            assert failed["error"]["code"] == -32603 and "no way" in failed["error"]["message"]

    anyio.run(scenario)


def test_2025_tasks_follow_each_tools_task_support(test_job_tools, job_node, make_token):
    headers = {
        "Authorization": f"Bearer {make_token()}",
        "MCP-Protocol-Version": "2025-11-25",
        "Accept": "application/json",
    }

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=job_node.url, headers=headers, timeout=60) as http:
            rpc = Rpc(http)
            await rpc(
                "initialize",
                {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "task-support", "version": "1"},
                },
            )
            tools = {tool["name"]: tool for tool in (await rpc("tools/list"))["tools"]}
            assert tools["job_ticks"]["execution"] == {"taskSupport": "optional"}
            assert tools["job_task_only"]["execution"] == {"taskSupport": "required"}
            assert "execution" not in tools["job_sync_only"]
            refused = await rpc.reply(
                "tools/call", {"name": "job_sync_only", "arguments": {"text": "x"}, "task": {}}
            )
            assert refused["error"]["code"] == -32601
            assert "cannot run as a task" in refused["error"]["message"]
            plain = await rpc.reply(
                "tools/call", {"name": "job_task_only", "arguments": {"seconds": 0}}
            )
            assert plain["error"]["code"] == -32601
            assert "only as a task" in plain["error"]["message"]
            update = await rpc.reply("tasks/update", {"taskId": "x", "inputResponses": {}})
            assert update["error"]["code"] == -32601

    anyio.run(scenario)
