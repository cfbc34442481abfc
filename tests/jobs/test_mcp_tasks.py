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
