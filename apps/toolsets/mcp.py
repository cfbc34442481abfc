"""Each toolset as its own MCP endpoint at `/mcp/<slug>`: the `/mcp` machinery (apps.tools
mcp_http and mcp_server) over a server narrowed to the toolset's tools.

A toolset's server is made on its first request and kept for the process's life (its own
sessions, `subscriptions/listen` streams and `list_changed`); it lists and calls only the
toolset's tools (the call path's `offered` filter), shown with the toolset's display names and
descriptions. Membership is read again whenever the access version moved (every toolset
change bumps it), so an edit takes effect at once here and within a second elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext

from apps.access.principal_cache import ACCESS_VERSION
from apps.tools import selectors as tool_selectors
from apps.tools.mcp_http import McpHttpEndpoint, _jsonrpc_error, _reply, web_sessions_from_env
from apps.tools.mcp_relay import SessionRelay
from apps.tools.mcp_server import CatalogueServer, CatalogueWatcher
from apps.tools.models import Tool
from apps.toolsets.models import RESERVED_SLUGS, Toolset, ToolsetMember
from apps.toolsets.selectors import member_for
from mcp_platform.concurrency import run_blocking

PATH = re.compile(r"^/mcp/([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)/?$")


class ToolsetWatcher(CatalogueWatcher):
    """The catalogue watcher of one toolset: it tells its clients only of changes to the
    toolset's own list (a member added or removed, a member tool enabled, disabled or edited,
    an override changed), not of every catalogue change."""

    def __init__(self, server: ToolsetServer):
        super().__init__(server.sessions, server.bus)
        self.server = server
        self.shown: Any = None  # what the toolset listed when last told

    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        self.shown = await run_blocking(self.server.fingerprint)
        await super().run(task_status=task_status)

    async def notify(self) -> None:
        shown = await run_blocking(self.server.fingerprint)
        if shown != self.shown:
            self.shown = shown
            await super().notify()


class ToolsetServer(CatalogueServer):
    """The catalogue server narrowed to one toolset, with its per-tool overrides."""

    def __init__(self, slug: str):
        self.slug = slug
        self._members: list[ToolsetMember] = []
        self._stamp: Any = None
        super().__init__(via="mcp", tool_filter=self.offers, name=f"mcp-platform/{slug}")
        self.watcher = ToolsetWatcher(self)

    def fingerprint(self) -> tuple:
        """What the toolset lists, to tell a change of it from other catalogue changes."""
        members = list(ToolsetMember.objects.filter(toolset__slug=self.slug))
        # The members with their overrides, then each member tool as it stands.
        shown = [(m.tool, m.display_name, m.description) for m in members]
        for tool in tool_selectors.callable_tools():
            if member_for(members, tool.name) is not None:
                shown.append((tool.name, tool.updated_at.isoformat(), ""))
        return tuple(shown)

    def offers(self, tool: Tool) -> bool:
        return member_for(self._members, tool.name) is not None

    def _refresh(self) -> None:
        stamp = ACCESS_VERSION.stamp()
        self._members = list(ToolsetMember.objects.filter(toolset__slug=self.slug))
        self._stamp = stamp

    async def refresh(self) -> None:
        stamp = ACCESS_VERSION.stamp_nowait()
        if stamp is None or stamp != self._stamp:
            await run_blocking(self._refresh)

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        await self.refresh()
        result = await super().list_tools(ctx, params)
        result.tools = [self._shown(tool) for tool in result.tools]
        return result

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        await self.refresh()
        return await super().call_tool(ctx, params)

    def _shown(self, tool: types.Tool) -> types.Tool:
        member = member_for(self._members, tool.name)
        if member is None or not (member.display_name or member.description):
            return tool
        update: dict[str, Any] = {}
        if member.display_name:
            update["title"] = member.display_name
            if tool.annotations is not None:
                update["annotations"] = tool.annotations.model_copy(
                    update={"title": member.display_name}
                )
        if member.description:
            update["description"] = member.description
        return tool.model_copy(update=update)


class ToolsetEndpoints:
    """The ASGI app of `/mcp/<slug>`: finds the toolset's endpoint (making and starting it on
    first use) and hands it the request; 404 for a slug no toolset has."""

    def __init__(self, *, stateless: bool = False, relay: SessionRelay | None = None):
        self.stateless, self.relay = stateless, relay
        self._endpoints: dict[str, McpHttpEndpoint] = {}
        self._started: dict[str, anyio.Event] = {}
        self._tasks: anyio.abc.TaskGroup | None = None
        self._known: tuple[Any, frozenset[str]] | None = None  # (access stamp, slugs)

    @staticmethod
    def claims(path: str) -> bool:
        """Whether `path` is a toolset's endpoint (the legacy /mcp/tools... routes are not)."""
        match = PATH.match(path)
        return match is not None and match[1] not in RESERVED_SLUGS

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                self._tasks = None
                self._endpoints.clear()
                self._started.clear()
                tasks.cancel_scope.cancel()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        slug = PATH.match(scope["path"])[1]
        if slug not in await self._slugs():
            await _reply(send, 404, _jsonrpc_error(-32600, f"No toolset '{slug}'"))
            return
        endpoint = await self._endpoint(slug)
        await endpoint(scope, receive, send)

    async def _slugs(self) -> frozenset[str]:
        stamp = ACCESS_VERSION.stamp_nowait()
        if stamp is None or self._known is None or self._known[0] != stamp:

            def read() -> tuple[Any, frozenset[str]]:
                stamp = ACCESS_VERSION.stamp()
                return stamp, frozenset(Toolset.objects.values_list("slug", flat=True))

            self._known = await run_blocking(read)
        return self._known[1]

    async def _endpoint(self, slug: str) -> McpHttpEndpoint:
        endpoint = self._endpoints.get(slug)
        if endpoint is None:
            endpoint = McpHttpEndpoint(
                ToolsetServer(slug), stateless=self.stateless, relay=self.relay
            )
            self._endpoints[slug] = endpoint
            if self._tasks is not None:  # else (no lifespan) the endpoint starts itself
                self._started[slug] = anyio.Event()
                await self._tasks.start(self._run, slug, endpoint)
        started = self._started.get(slug)
        if started is not None:
            await started.wait()
        return endpoint

    async def _run(self, slug: str, endpoint: McpHttpEndpoint, *, task_status) -> None:
        async with endpoint.lifespan():
            task_status.started()
            self._started[slug].set()
            await anyio.sleep_forever()


_stateless, _relay = web_sessions_from_env()
toolset_endpoints = ToolsetEndpoints(stateless=_stateless, relay=_relay)
