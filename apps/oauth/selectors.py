"""Where the MCP resources are and where their metadata is published (RFC 9728)."""

from __future__ import annotations

# The paths mcp_platform.asgi mounts the MCP endpoint at; the first is the one a token is bound
# to when its client names no resource.
MCP_ENDPOINT_PATHS: tuple[str, ...] = ("/mcp",)
PROTECTED_RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource"


def mcp_endpoint_path(suffix: str) -> str | None:
    """The MCP endpoint whose metadata lives at the well-known path + `suffix` (RFC 9728 §3.1:
    the resource's path appended; the bare well-known path describes the main endpoint)."""
    suffix = suffix.strip("/")
    if not suffix:
        return MCP_ENDPOINT_PATHS[0]
    path = f"/{suffix}"
    return path if path in MCP_ENDPOINT_PATHS else None


def resource_metadata_url(*, origin: str, endpoint_path: str) -> str:
    """The RFC 9728 metadata URL of the MCP endpoint at `endpoint_path` on `origin`."""
    return f"{origin.rstrip('/')}{PROTECTED_RESOURCE_METADATA_PATH}{endpoint_path.rstrip('/')}"
