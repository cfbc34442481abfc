"""The catalogue as an MCP server: the official SDK's low-level `Server` speaks the protocol; we
supply `tools/list` (paginated, filtered per caller) and `tools/call` (through the call service).

Transports build on `build_server`: Streamable HTTP (`apps.tools.mcp_http`), stdio
(`manage.py mcp_stdio`) and the Trio runtime's endpoint, which passes a filter for the tools
routed to it. Catalogue changes reach connected clients as `notifications/tools/list_changed`
through a `CatalogueWatcher`: poked on commit of a change made in this process, and polling the
routing version (bumped by every catalogue change) for changes made by any other process.

Prompts and resources (`prompts/*`, `resources/*`, `completion/complete`) are served through
`content_service`; the same watcher announces their lists as changed, and `resources/updated`
to the sessions subscribed to a URI.
"""

from __future__ import annotations

import base64
import binascii
import logging
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
import sniffio
from django.db import transaction
from mcp.server import Server
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

import mcp_platform
from apps.access.principals import Principal
from apps.tools import call_service, content_service, mcp_interaction, registry, selectors
from apps.tools.call_errors import CallError, RateLimited, ToolNotFound
from apps.tools.models import Tool
from apps.tools.signals import catalogue_changed
from mcp_platform import tracing
from mcp_platform.concurrency import run_blocking

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
WATCH_INTERVAL = 0.5  # seconds between routing-version polls: changes arrive within a second
FORBIDDEN = -32001  # JSON-RPC code for "authenticated, but not allowed" (as MCP++ used it)
RESOURCE_NOT_FOUND = -32002  # resources/read of an unknown URI, up to 2025-11-25
STATELESS_ERA = "2026-07-28"  # from this version on, an unknown URI is -32602 (SEP-2164)
PRINCIPAL_SCOPE_KEY = "mcp_platform.principal"  # where the HTTP endpoint puts the caller
RESULT_META_KEY = "dev.mcp-platform/call"  # runtime, pid, fallback, duration of a call

ToolFilter = Callable[[Tool], bool]


class PlatformServer(Server):
    """The SDK server, advertising `tools.listChanged` on every transport.

    The HTTP session manager starts sessions without initialization options, so the default
    (no list_changed) would be advertised to 2025-era clients; this makes it the default.
    """

    def create_initialization_options(
        self, notification_options=None, experimental_capabilities=None, extensions=None
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options
            or NotificationOptions(
                tools_changed=True, prompts_changed=True, resources_changed=True
            ),
            experimental_capabilities,
            extensions,
        )


def encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def decode_cursor(cursor: str | None) -> str:
    """The last tool name of the previous page ('' for the first); -32602 for a bad cursor."""
    if not cursor:
        return ""
    try:
        name = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        name = ""
    if not name or encode_cursor(name) != cursor:  # only cursors this server handed out
        raise MCPError(INVALID_PARAMS, f"Invalid cursor {cursor[:64]!r}")
    return name


def tools_page(
    principal: Principal, *, after: str, limit: int, tool_filter: ToolFilter | None = None
) -> tuple[list[Tool], bool]:
    """Up to `limit` tools the principal may list, named after `after`, and whether more follow.

    Keyset pagination on the name: pages stay consistent while the catalogue changes.
    """
    page: list[Tool] = []
    for tool in selectors.callable_tools().filter(name__gt=after).iterator(chunk_size=500):
        if not principal.may_list(tool.name) or (tool_filter and not tool_filter(tool)):
            continue
        if len(page) == limit:
            return page, True
        page.append(tool)
    return page, False


class SessionRegistry:
    """The connections (2025-era sessions, stdio) that can receive server notifications.

    The SDK keeps no public list of them; a middleware records each connection the first time
    it carries a request, and the connection's own exit stack forgets it when it closes.
    """

    def __init__(self) -> None:
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        # The resource URIs each connection subscribed to (forgotten with the connection).
        self._uris: weakref.WeakKeyDictionary[Connection, set[str]] = weakref.WeakKeyDictionary()

    def __len__(self) -> int:
        return len(self._connections)

    async def middleware(
        self, ctx: ServerRequestContext[Any], call_next: CallNext
    ) -> HandlerResult:
        # `_connection` is private, but the only handle on a session's back-channel in SDK 2.3.0.
        connection: Connection = ctx.session._connection
        if connection.has_standalone_channel and connection not in self._connections:
            self._connections.add(connection)
            connection.exit_stack.callback(self._connections.discard, connection)
        return await call_next(ctx)

    async def send_tool_list_changed(self) -> None:
        for connection in list(self._connections):
            await connection.send_tool_list_changed()  # never raises; a gone stream drops it

    # Prompts and resources: list_changed, and resources/updated to the sessions subscribed to
    # a URI (2025 era; 2026-era clients subscribe on their `subscriptions/listen` stream).
    def subscribe(self, ctx: ServerRequestContext[Any], uri: str) -> None:
        connection: Connection = ctx.session._connection
        self._uris.setdefault(connection, set()).add(uri)

    def unsubscribe(self, ctx: ServerRequestContext[Any], uri: str) -> None:
        self._uris.get(ctx.session._connection, set()).discard(uri)

    def subscribed_uris(self) -> set[str]:
        return set().union(*self._uris.values())

    async def send_content_changed(self) -> None:
        for connection in list(self._connections):
            await connection.send_prompt_list_changed()
            await connection.send_resource_list_changed()
            for uri in sorted(self._uris.get(connection, ())):
                await connection.send_resource_updated(uri)


class CatalogueWatcher:
    """Tells every connected client of one server that the tool list changed.

    `run` (a background task for the server's lifetime) wakes when a change committed in this
    process (`poke`, thread-safe) or when the routing version moved (polled), and notifies
    2025-era sessions and 2026-era `subscriptions/listen` streams.
    """

    def __init__(self, sessions: SessionRegistry, bus: InMemorySubscriptionBus):
        self.sessions = sessions
        self.bus = bus
        self.version: int | None = None
        self.notifications = 0
        self._wake: Callable[[], None] | None = None
        self._poked = False

    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        event = anyio.Event()

        def wake() -> None:
            self._poked = True
            event.set()

        self._wake = _threadsafe(wake)
        _watchers.add(self)
        try:
            self.version = await _routing_version()
            task_status.started()
            while True:
                with anyio.move_on_after(WATCH_INTERVAL):
                    await event.wait()
                event = anyio.Event()
                poked, self._poked = self._poked, False
                version = await _routing_version()
                if poked or version != self.version:
                    self.version = version
                    await self.notify()
        finally:
            _watchers.discard(self)
            self._wake = None

    def poke(self) -> None:
        """Wake the watcher now (from any thread)."""
        if self._wake is not None:
            self._wake()

    async def notify(self) -> None:
        self.notifications += 1
        logger.info(
            "tools/list_changed to %d session(s) and the listen streams", len(self.sessions)
        )
        await self.sessions.send_tool_list_changed()
        await self.bus.publish(ToolsListChanged())
        await self.notify_content()

    async def notify_content(self) -> None:
        """Prompts and resources share the catalogue's version: any change may have touched
        them, so their lists are announced as changed too, and subscribed resources updated."""
        await self.sessions.send_content_changed()
        await self.bus.publish(PromptsListChanged())
        await self.bus.publish(ResourcesListChanged())
        try:
            uris = await run_blocking(_fixed_resource_uris)
        except Exception as exc:  # the lists were announced; the next change retries
            logger.warning("could not read the resource URIs: %r", exc)
            uris = []
        for uri in sorted({*uris, *self.sessions.subscribed_uris()}):
            await self.bus.publish(ResourceUpdated(uri))


def _fixed_resource_uris() -> list[str]:
    return list(selectors.servable_resources(templates=False).values_list("uri", flat=True))


_watchers: weakref.WeakSet[CatalogueWatcher] = weakref.WeakSet()


def _threadsafe(func: Callable[[], None]) -> Callable[[], None]:
    """`func` made callable from any thread: it runs soon on the current event loop."""
    if sniffio.current_async_library() == "trio":
        import trio

        token = trio.lowlevel.current_trio_token()
        return lambda: token.run_sync_soon(func)
    import asyncio

    loop = asyncio.get_running_loop()

    def call() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(func)

    return call


async def _routing_version() -> int | None:
    from apps.routing.selectors import ROUTING_VERSION, current_version

    stamp = ROUTING_VERSION.stamp_nowait()
    if stamp is not None:  # the version watcher reads it already: no query of our own
        return stamp[0]
    try:
        return await run_blocking(current_version)
    except Exception as exc:  # a database hiccup must not end the watcher; the next poll retries
        logger.warning("could not read the routing version: %r", exc)
        return None


def _on_catalogue_changed(sender: Any, **kwargs: Any) -> None:
    transaction.on_commit(lambda: [watcher.poke() for watcher in list(_watchers)])


catalogue_changed.connect(_on_catalogue_changed, dispatch_uid="tools.mcp_server.list_changed")


def header_schema(name: str) -> dict[str, Any] | None:
    """The input schema of a tool that mirrors arguments into `Mcp-Param-*` headers (the SDK
    validates those headers against it), or None when the tool declares none."""
    spec = registry.get_spec(name)
    return spec.input_schema if spec is not None and spec.declares_headers else None


def _principal(ctx: ServerRequestContext[Any], default: Principal | None) -> Principal:
    request = ctx.request
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY) if request is not None else None
    principal = principal or default
    if principal is None:  # the HTTP endpoint always sets one; this is a wiring mistake
        raise MCPError(INTERNAL_ERROR, "Internal server error")
    return principal


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def mcp_error(exc: CallError, *, name: Any, as_result: bool = True) -> Any:
    """How a CallError leaves MCP (the call path's table): a JSON-RPC error (MCPError) or, for
    `tools/call` where the table says so, a result with `isError`."""
    codes = exc.codes
    if as_result and codes.mcp_is_result:
        return _error_result(exc.message)
    message = f"Unknown tool: {name}" if isinstance(exc, ToolNotFound) else exc.message
    if isinstance(exc, RateLimited):  # when to retry, for the client to read
        return MCPError(codes.mcp_code, message, exc.details)
    return MCPError(codes.mcp_code, message)


class CatalogueServer:
    """One MCP server over the catalogue, with what its transports need to run it."""

    def __init__(
        self,
        *,
        via: str = "mcp",
        principal: Principal | None = None,
        tool_filter: ToolFilter | None = None,
        page_size: int = PAGE_SIZE,
        name: str = "mcp-platform",
    ):
        self.via = via
        self.default_principal = principal
        self.tool_filter = tool_filter
        self.page_size = page_size
        self.sessions = SessionRegistry()
        self.bus = InMemorySubscriptionBus()
        self.watcher = CatalogueWatcher(self.sessions, self.bus)
        self.log_levels = mcp_interaction.LogLevels()
        with warnings.catch_warnings():  # logging/setLevel: deprecated in 2026, served in 2025
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            self.server = self._build_server(name)
        self.server.middleware.append(self.sessions.middleware)
        # The 2026 era's requestState (a tool's questions, apps.tools.mcp_interaction): sealed.
        self.server.middleware.append(
            mcp_interaction.request_state_boundary(name, self._state_owner)
        )

    def _build_server(self, name: str) -> PlatformServer:
        return PlatformServer(
            name,
            version=mcp_platform.__version__,
            title="MCP Platform",
            instructions="Tools of the MCP Platform catalogue, as an administrator enabled them.",
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            # 2026-07-28 clients hear of catalogue changes on a `subscriptions/listen` stream.
            on_subscriptions_listen=ListenHandler(self.bus),
            # The SDK checks `Mcp-Param-*` headers (2026-07-28) against the called tool's
            # schema: read from the code registry, not by re-listing the catalogue per call.
            get_tool_input_schema=header_schema,
            on_list_prompts=self.list_prompts,
            on_get_prompt=self.get_prompt,
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.list_resource_templates,
            on_read_resource=self.read_resource,
            on_subscribe_resource=self.subscribe_resource,
            on_unsubscribe_resource=self.unsubscribe_resource,
            on_completion=self.complete,
            on_set_logging_level=self.set_logging_level,
        )

    def _state_owner(self, ctx: ServerRequestContext[Any]) -> str:
        principal = _principal(ctx, self.default_principal)
        return f"{principal.kind}:{principal.name}"

    async def set_logging_level(
        self, ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        """2025 era: the least severe level of the tool log entries this session receives."""
        self.log_levels.set(ctx, params.level)
        return types.EmptyResult()

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = _principal(ctx, self.default_principal)
        after = decode_cursor(params.cursor if params else None)
        tools, more = await run_blocking(
            tools_page, principal, after=after, limit=self.page_size, tool_filter=self.tool_filter
        )
        return types.ListToolsResult(
            tools=[types.Tool.model_validate(selectors.tool_descriptor(t)) for t in tools],
            next_cursor=encode_cursor(tools[-1].name) if more and tools else None,
        )

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Tool failures and timeouts are results with `isError`; a call that cannot be made
        leaves as the call path's table says (`DoorCodes.mcp_code`, or a result with `isError`
        where `mcp_is_result`). A tool's log entries and questions go to the client
        (mcp_interaction): in the 2026 era a question ends the call with an InputRequiredResult."""
        principal = _principal(ctx, self.default_principal)
        asker = mcp_interaction.McpAsker(ctx, params, self.log_levels)

        async def progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(done, total, message)

        try:
            # The call joins the trace the client sent with this HTTP request, if any.
            with tracing.continued(ctx.request.headers if ctx.request is not None else None):
                result = await call_service.call_tool(
                    params.name,
                    params.arguments or {},
                    principal,
                    self.via,
                    progress=progress,
                    offered=self.tool_filter,
                    asker=asker,
                )
        except CallError as exc:
            refusal = mcp_error(exc, name=params.name)
            if isinstance(refusal, MCPError):
                raise refusal from None
            return refusal
        except Exception:
            logger.exception("tools/call %s failed unexpectedly", params.name)
            raise MCPError(INTERNAL_ERROR, "Internal server error") from None
        asking = mcp_interaction.reply(ctx, result)
        if asking is not None:
            return asking
        reply = result.to_mcp()
        reply["_meta"] = {RESULT_META_KEY: result.meta}
        return types.CallToolResult.model_validate(reply)

    # --- Prompts and resources (content_service does the work; reading needs tools:read) ---

    async def _page(self, ctx, params, rows: Callable[[], Any]) -> tuple[list[Any], str | None]:
        principal = _principal(ctx, self.default_principal)
        if not principal.has_scope(content_service.SCOPE_READ):
            return [], None  # like tools/list: nothing to see without tools:read
        after = decode_cursor(params.cursor if params else None)
        limit = self.page_size

        def page() -> list[Any]:
            return list(rows().filter(name__gt=after)[: limit + 1])

        found = await run_blocking(page)
        more = len(found) > limit
        found = found[:limit]
        return found, encode_cursor(found[-1].name) if more and found else None

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompts, cursor = await self._page(ctx, params, selectors.servable_prompts)
        return types.ListPromptsResult(
            prompts=[types.Prompt.model_validate(selectors.prompt_descriptor(p)) for p in prompts],
            next_cursor=cursor,
        )

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        resources, cursor = await self._page(
            ctx, params, lambda: selectors.servable_resources(templates=False)
        )
        return types.ListResourcesResult(
            resources=[
                types.Resource.model_validate(selectors.resource_descriptor(r)) for r in resources
            ],
            next_cursor=cursor,
        )

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        templates, cursor = await self._page(
            ctx, params, lambda: selectors.servable_resources(templates=True)
        )
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate.model_validate(selectors.resource_descriptor(r))
                for r in templates
            ],
            next_cursor=cursor,
        )

    async def _content(
        self, ctx: ServerRequestContext[Any], what: str, work: Any, *, uri: str | None = None
    ) -> dict[str, Any]:
        """Run a content_service call; its refusals leave as JSON-RPC errors. Something not
        found is -32002 up to 2025-11-25 and -32602 from 2026-07-28 (SEP-2164), naming the
        `uri` asked for in the error's data."""
        try:
            return await work
        except (MCPError, content_service.ContentInputRequired):
            raise
        except content_service.ContentError as exc:
            not_found = (
                INVALID_PARAMS if ctx.protocol_version >= STATELESS_ERA else RESOURCE_NOT_FOUND
            )
            code = {"denied": FORBIDDEN, "not_found": not_found}.get(exc.kind, INVALID_PARAMS)
            data = {"uri": uri} if uri is not None and exc.kind == "not_found" else None
            raise MCPError(code, exc.message, data) from None
        except Exception:
            logger.exception("%s failed unexpectedly", what)
            raise MCPError(INTERNAL_ERROR, "Internal server error") from None

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        """A prompt with a ToolContext may ask the client, as a tool does (mcp_interaction)."""
        principal = _principal(ctx, self.default_principal)
        asker = mcp_interaction.McpAsker(ctx, params, self.log_levels)

        async def rendered() -> dict[str, Any]:
            arguments = dict(params.arguments or {})
            try:
                return await content_service.get_prompt(params.name, arguments, principal, asker)
            except content_service.ContentNeedsInput as exc:
                mcp_interaction.refuse_undeclared(ctx, exc.unavailable.missing_capability)
                raise

        try:
            result = await self._content(ctx, f"prompts/get {params.name}", rendered())
        except content_service.ContentInputRequired as asking:
            return mcp_interaction.input_required(asking.pending)
        return types.GetPromptResult.model_validate(result)

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        principal = _principal(ctx, self.default_principal)
        result = await self._content(
            ctx,
            f"resources/read {params.uri}",
            content_service.read_resource(str(params.uri), principal),
            uri=str(params.uri),
        )
        return types.ReadResourceResult.model_validate(result)

    async def subscribe_resource(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        principal = _principal(ctx, self.default_principal)
        if not principal.has_scope(content_service.SCOPE_READ):
            raise MCPError(FORBIDDEN, f"caller '{principal.name}' lacks scope 'tools:read'")
        self.sessions.subscribe(ctx, str(params.uri))
        return types.EmptyResult()

    async def unsubscribe_resource(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self.sessions.unsubscribe(ctx, str(params.uri))
        return types.EmptyResult()

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        principal = _principal(ctx, self.default_principal)
        ref = params.ref
        is_prompt = isinstance(ref, types.PromptReference)
        result = await self._content(
            ctx,
            "completion/complete",
            content_service.complete(
                ref_type="prompt" if is_prompt else "resource",
                ref=ref.name if is_prompt else ref.uri,
                argument=params.argument.name,
                value=params.argument.value,
                context=dict((params.context.arguments or {}) if params.context else {}),
                principal=principal,
            ),
        )
        return types.CompleteResult(completion=types.Completion.model_validate(result))
