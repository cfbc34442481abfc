"""The baseline of bench_mcp.py: a plain server built with the same `mcp` SDK (low-level
`Server`, Streamable HTTP session manager, stateful, SSE replies) serving one `echo` tool with
the platform's descriptor and result shape. It checks the bearer token; no database, no
catalogue, no call log.

Served with `uvicorn bench.bare_mcp:app` (see common.uvicorn_command); the accepted token is
read from `BENCH_TOKEN`; `/health` answers for the start-up check.
"""

from __future__ import annotations

import hmac
import json
import os

import mcp_types as types
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

EXPECTED_AUTHORIZATION = f"Bearer {os.environ.get('BENCH_TOKEN', '')}".encode()

ECHO = types.Tool(
    name="echo",
    title="Echo",
    description="Return the message unchanged (async).",
    input_schema={
        "type": "object",
        "properties": {"message": {"type": "string"}},
        "required": ["message"],
    },
)


async def list_tools(ctx, params) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[ECHO])


async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    if params.name != "echo":
        raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name}")
    message = (params.arguments or {}).get("message")
    if not isinstance(message, str):
        return types.CallToolResult(
            content=[types.TextContent(text="message: Input should be a valid string")],
            is_error=True,
        )
    result = {"message": message}
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(result))], structured_content=result
    )


server = Server("bare-mcp", on_list_tools=list_tools, on_call_tool=call_tool)
manager = StreamableHTTPSessionManager(app=server)


async def _send(send, status: int, body: bytes, headers=()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        async with manager.run():
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/health":
        await _send(send, 200, b'{"status":"healthy"}')
        return
    if scope["path"].rstrip("/") != "/mcp":
        await _send(send, 404, b"")
        return
    authorization = dict(scope["headers"]).get(b"authorization", b"")
    if not hmac.compare_digest(authorization, EXPECTED_AUTHORIZATION):
        await _send(send, 401, b"", [(b"www-authenticate", b"Bearer")])
        return
    await manager.handle_request(scope, receive, send)
