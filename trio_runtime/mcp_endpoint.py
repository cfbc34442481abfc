"""The Trio runtime's `/mcp`: the catalogue's MCP server for the tools routed to Trio, so P2P
clients skip the bridge. The SDK runs on Trio through anyio; calls run here, on Trio.

It learns of catalogue changes from the routing reloader (control call, Redis, polling), which
turns each new routing version into `notifications/tools/list_changed`.
"""

from __future__ import annotations

import trio

from apps.oauth.resource_metadata import metadata_mounts
from apps.routing.router import TRIO, cache, explain_route
from apps.tools.mcp_http import McpHttpEndpoint, shared_sessions_from_env
from apps.tools.mcp_server import CatalogueServer
from apps.tools.models import Tool
from trio_runtime.reloader import RoutingReloader
from trio_runtime.state import RuntimeState


def routed_to_trio(tool: Tool) -> bool:
    """Whether routing sends `tool` to Trio (blocking when the table is not loaded yet)."""
    table = cache.table or cache.get()
    return explain_route(tool, table).runtime == TRIO


endpoint = McpHttpEndpoint(
    CatalogueServer(via="mcp-trio", tool_filter=routed_to_trio, name="mcp-platform-trio"),
    stateless=shared_sessions_from_env(),  # one process: its sessions are its own
    watch=False,
)


async def serve_mcp(state: RuntimeState, reloader: RoutingReloader) -> None:
    """Run the endpoint's session managers for the runtime's life (started by `serve_runtime`
    in its services nursery)."""

    async def tools_changed(table) -> None:
        await endpoint.catalogue.watcher.notify()

    reloader.on_change(tools_changed)
    async with endpoint.lifespan():
        await trio.sleep_forever()


def mcp_mounts() -> dict[str, object]:
    """The runtime's MCP paths (served by trio_runtime/app.py): the endpoint, and where OAuth
    clients learn to get a token for it (RFC 9728)."""
    return {"/mcp": endpoint, **metadata_mounts()}
