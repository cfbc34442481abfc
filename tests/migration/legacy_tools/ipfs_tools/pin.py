"""Legacy IPFS tool: a plain def with untyped keyword parameters and legacy metadata."""

import hashlib
from json import dumps  # imported functions are not tools

__all__ = ["pin_to_ipfs"]


def pin_to_ipfs(content_path, recursive=True):
    """Pin content to IPFS and return its CID."""
    if not str(content_path).startswith("/"):
        return {"status": "error", "error": f"path must be absolute: {content_path}"}
    digest = hashlib.sha256(dumps([content_path, recursive]).encode()).hexdigest()
    return {"status": "success", "cid": f"bafy{digest[:20]}", "recursive": recursive}


pin_to_ipfs._mcp_metadata = {
    "runtime": "fastapi",
    "priority": 8,
    "timeout_seconds": 12,
    "io_intensive": True,
    "mcp_description": "Pin a file or directory to IPFS.",
    "cache_ttl": 60,
}


def unpin(cid):
    """Not in __all__: not a tool."""
    return {"status": "success", "cid": cid}
