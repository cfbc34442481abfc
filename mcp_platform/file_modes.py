"""Secrets at rest: the data directory and what the platform writes there are private to the
user it runs as (0700 / 0600), and a start on a directory or secret file others can read is
refused with the `chmod` that fixes it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Every file and directory this process creates is private (0600 / 0700): the SQLite database
# and its -wal/-shm, the broker's message files, the identity key, collected static files.
PRIVATE_UMASK = 0o077
SECRET_FILES = (
    "secret_key",
    "bridge_secret",
    "db.sqlite3",
    "db.sqlite3-wal",
    "db.sqlite3-shm",
    "p2p_identity.key",
)


def make_private() -> None:
    os.umask(PRIVATE_UMASK)


def ensure_data_dir(path: Path) -> None:
    """Create the data directory 0700 if it does not exist (an existing one is checked, not
    changed: see exposure_problems)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _exposed(path: Path) -> int:
    """The group/other permission bits of `path` (0 when private or absent)."""
    try:
        return stat.S_IMODE(path.stat().st_mode) & 0o077
    except FileNotFoundError:
        return 0


def exposure_problems(data_dir: Path) -> list[str]:
    """What other users can read or enter in the data directory, each with its fix."""
    problems = []
    if _exposed(data_dir):
        mode = stat.S_IMODE(data_dir.stat().st_mode)
        problems.append(
            f"the data directory {data_dir} is open to other users (mode {mode:o}): "
            f"run `chmod 700 {data_dir}`"
        )
    for name in SECRET_FILES:
        path = data_dir / name
        if _exposed(path):
            mode = stat.S_IMODE(path.stat().st_mode)
            problems.append(
                f"the secret file {path} is readable by other users (mode {mode:o}): "
                f"run `chmod 600 {path}`"
            )
    return problems
