"""Principals from bearer credentials, cached in process: the steady-state request reads none.

A layer around `services.authenticate_authorization_header` (which knows the credential
formats): the principal it returns is kept per credential, stamped with the access version
(`ACCESS_VERSION`), until the credential expires. Any change that can alter who a credential
is (token created, edited, revoked or deleted; user edited, deactivated, given a new password
or deleted) bumps the version in its transaction, so every process drops what it cached: this
process at once, the others within the version watcher's interval.

A token's `last_used_at` is written off the request, at most once a minute per token.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.access import services
from apps.access.models import AccessVersion, ApiToken
from apps.access.principals import Principal
from mcp_platform import versions
from mcp_platform.batches import BatchWriter
from mcp_platform.concurrency import run_blocking
from mcp_platform.versions import Stamp, Version

logger = logging.getLogger(__name__)

MAX_ENTRIES = 10_000  # credentials kept at once; past it the cache starts over
LAST_USED_RESOLUTION = 60.0  # seconds: `last_used_at` is written at most this often per token


def _read_version() -> int:
    row = AccessVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return row if row is not None else 1


ACCESS_VERSION = Version("access", _read_version)

_entries: dict[str, tuple[Stamp, Principal, float | None]] = {}


def bump_access_version() -> None:
    """Increment the access version in the caller's transaction (or now, in autocommit)."""
    with transaction.atomic():
        if not AccessVersion.objects.filter(pk=1).update(version=F("version") + 1):
            AccessVersion.objects.get_or_create(pk=1, defaults={"version": 2})
        ACCESS_VERSION.changed()


def on_credentials_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs) -> None:
    # A login stamps `last_login` alone: that changes nobody's rights.
    if update_fields is not None and set(update_fields) <= {"last_login", "last_used_at"}:
        return
    bump_access_version()


def on_credentials_deleted(sender: Any, **kwargs: Any) -> None:
    bump_access_version()


def cached_principal(header: str | None) -> Principal | None:
    """The cached principal of an `Authorization` value, or None when only a query can tell."""
    if not header:
        return services.anonymous_principal()
    stamp = ACCESS_VERSION.stamp_nowait()
    entry = _entries.get(header)
    if stamp is None or entry is None or entry[0] != stamp:
        return None
    _, principal, valid_until = entry
    if valid_until is not None and time.time() >= valid_until:
        return None
    _note_used(principal)
    return principal


def resolve_principal(header: str | None) -> Principal:
    """The principal of an `Authorization` value (blocking on a cache miss); raises
    services.AuthenticationFailed."""
    cached = cached_principal(header)
    if cached is not None:
        return cached
    stamp = ACCESS_VERSION.stamp()  # before resolving: a change meanwhile makes the entry stale
    principal = services.authenticate_authorization_header(header)
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    _entries[header] = (stamp, principal, _valid_until(principal, header))
    # Without a watcher (tests, commands, job workers) this is a blocking context already and
    # there is no writer thread worth keeping: write inline (still at most once a minute).
    _note_used(principal, inline=not versions.watching())
    return principal


def clear() -> None:
    """Forget every cached principal (tests start cold)."""
    _entries.clear()
    _last_noted.clear()


async def aresolve_principal(header: str | None) -> Principal:
    """`resolve_principal` for the doors: no thread hop when the principal is cached."""
    cached = cached_principal(header)
    if cached is not None:
        return cached
    return await run_blocking(resolve_principal, header)


def _valid_until(principal: Principal, header: str) -> float | None:
    if principal.valid_until is not None:
        return principal.valid_until
    if principal.kind == "jwt":
        # The signature and expiry were just checked; only the expiry is read again here.
        token = header.partition(" ")[2].strip()
        claims = jwt.decode(token, options={"verify_signature": False})
        return float(claims["exp"]) if "exp" in claims else None
    return None


# --- last_used_at, off the request ---------------------------------------------------------

_last_noted: dict[int, float] = {}


def _write_used(batch: list[tuple[int, Any]]) -> None:
    latest: dict[int, Any] = {}
    for token_id, when in batch:
        latest[token_id] = max(when, latest.get(token_id, when))
    for token_id, when in latest.items():
        try:
            ApiToken.objects.filter(pk=token_id).update(last_used_at=when)
        except Exception as exc:  # only a timestamp; the next minute writes it again
            logger.warning("could not note the use of token %s: %r", token_id, exc)


# At most one write a minute per token: its thread keeps no connection between batches, and
# writes within a second whatever the call log's interval (0 in tests: nothing until a flush).
last_used: BatchWriter[tuple[int, Any]] = BatchWriter(
    name="token-last-used",
    what="token uses",
    write=_write_used,
    keep_connection=False,
    interval=1.0,
)
flush_last_used = last_used.flush  # write every noted use now, in the calling thread


def _note_used(principal: Principal, *, inline: bool = False) -> None:
    token_id = principal.token_id
    if token_id is None:
        return
    now = time.monotonic()
    if now - _last_noted.get(token_id, -LAST_USED_RESOLUTION) < LAST_USED_RESOLUTION:
        return
    _last_noted[token_id] = now
    if inline:
        ApiToken.objects.filter(pk=token_id).update(last_used_at=timezone.now())
        return
    last_used.put((token_id, timezone.now()))
