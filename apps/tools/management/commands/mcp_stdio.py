"""`manage.py mcp_stdio`: the catalogue over MCP on stdin/stdout, for desktop clients."""

from __future__ import annotations

import os

import anyio
from django.core.management.base import BaseCommand, CommandError
from mcp.server.stdio import stdio_server

from apps.access.principals import ALL_SCOPES, Principal
from apps.access.services import AuthenticationFailed, authenticate_bearer
from apps.tools import call_log
from apps.tools.mcp_server import CatalogueServer

# Whoever can run manage.py holds the database and the secret key already: the local operator.
LOCAL_OPERATOR = Principal(name="stdio:local", kind="system", scopes=frozenset(ALL_SCOPES))


class Command(BaseCommand):
    help = (
        "Serve the tool catalogue over MCP on stdin/stdout (Claude Desktop, Claude Code, "
        "the MCP Inspector). Logs go to stderr; stdout carries only the protocol."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--token",
            default=os.environ.get("MCP_PLATFORM_TOKEN", ""),
            help="Act as this API token or JWT (its scopes and tool patterns apply); "
            "default: the local operator, with every scope. Env: MCP_PLATFORM_TOKEN.",
        )

    def handle(self, *args, token: str, **options) -> None:
        principal = LOCAL_OPERATOR
        if token:
            try:
                principal = authenticate_bearer(token)
            except AuthenticationFailed as exc:
                raise CommandError(f"--token refused: {exc}") from None
        catalogue = CatalogueServer(via="stdio", principal=principal)
        try:
            anyio.run(serve_stdio, catalogue)
        except KeyboardInterrupt:
            pass
        finally:
            call_log.stop()


async def serve_stdio(catalogue: CatalogueServer) -> None:
    """Serve until the client closes stdin, telling it of catalogue changes meanwhile."""
    server = catalogue.server
    async with stdio_server() as (read, write), anyio.create_task_group() as tasks:
        await tasks.start(catalogue.watcher.run)
        await server.run(read, write, server.create_initialization_options())
        tasks.cancel_scope.cancel()
