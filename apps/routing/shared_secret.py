"""The shared secret between the web process and the Trio runtime of one node.

`MCP_PLATFORM_BRIDGE_SECRET` when set (several hosts, or a secrets manager); otherwise a random
secret generated once into `<data dir>/bridge_secret` (mode 0600), which both processes of a
node read because they share the data directory.
"""

from __future__ import annotations

import functools
import os
import secrets
import time

from django.conf import settings

ENV = "MCP_PLATFORM_BRIDGE_SECRET"
FILE_NAME = "bridge_secret"


@functools.cache
def bridge_secret() -> str:
    value = os.environ.get(ENV, "").strip()
    if value:
        return value
    path = settings.DATA_DIR / FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    # Another process may be writing it right now: wait for the content.
    for _ in range(100):
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.01)
    raise RuntimeError(f"bridge secret file {path} stays empty")


def is_valid(presented: str | None) -> bool:
    """Whether an `Authorization: Bearer ...` value carries the bridge secret."""
    if not presented or not presented.startswith("Bearer "):
        return False
    return is_secret(presented[len("Bearer ") :])


def is_secret(presented: object) -> bool:
    """Whether `presented` is the bridge secret itself (the bridge socket's hello)."""
    if not isinstance(presented, str) or not presented:
        return False
    return secrets.compare_digest(presented.encode(), bridge_secret().encode())
