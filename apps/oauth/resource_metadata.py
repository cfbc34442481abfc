"""RFC 9728 metadata for an MCP endpoint served outside Django: the Trio runtime's `/mcp`.

Its tokens come from the web process's authorization server, so the document names that one;
a token is bound to the runtime's own URL (RFC 8707) and checked there as on the web process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from apps.oauth.selectors import MCP_ENDPOINT_PATHS, PROTECTED_RESOURCE_METADATA_PATH


def authorization_server_url(*, scheme: str, host: str) -> str:
    """The issuer of the web process's authorization server, as seen by a client that reached
    the runtime at `host`: MCP_PLATFORM_OAUTH_ISSUER, or the same host on the web port."""
    if settings.MCP_PLATFORM_OAUTH_ISSUER:
        return settings.MCP_PLATFORM_OAUTH_ISSUER
    hostname = urlsplit(f"//{host}").hostname or settings.MCP_PLATFORM_HOST
    if ":" in hostname:
        hostname = f"[{hostname}]"  # IPv6
    return f"{scheme}://{hostname}:{settings.MCP_PLATFORM_WEB_PORT}"


class ResourceMetadataApp:
    """An ASGI app answering the metadata of the MCP endpoint at `endpoint_path` on the origin
    the request came to."""

    def __init__(self, endpoint_path: str = MCP_ENDPOINT_PATHS[0]):
        self.endpoint_path = endpoint_path

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        host = Headers(scope=scope).get("host", "")
        scheme = scope.get("scheme", "http")
        body = {
            "resource": f"{scheme}://{host}{self.endpoint_path}",
            "authorization_servers": [authorization_server_url(scheme=scheme, host=host)],
            "scopes_supported": sorted(settings.OAUTH2_PROVIDER["SCOPES"]),
            "bearer_methods_supported": ["header"],
        }
        response = JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})
        await response(scope, receive, send)


def metadata_mounts() -> dict[str, ResourceMetadataApp]:
    """The well-known paths to mount beside an MCP endpoint served outside Django."""
    app = ResourceMetadataApp()
    return {
        f"{PROTECTED_RESOURCE_METADATA_PATH}{MCP_ENDPOINT_PATHS[0]}": app,
        PROTECTED_RESOURCE_METADATA_PATH: app,
    }
