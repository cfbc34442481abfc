"""Whom queued work runs as: its submitter, the whole principal, stored with `to_dict` in the
task's or workflow's `submitter_principal` and read back with `from_dict` (apps.access), so
denied tools and toolsets travel with the work; or the queue itself, for work that the
platform's own code queued."""

from __future__ import annotations

from apps.access.principals import SCOPE_ADMIN, SCOPE_CALL, SCOPE_READ, Principal
from apps.taskqueue.models import Submitted


def queue_principal(label: str) -> Principal:
    """The queue itself, for work with no caller behind it: it may read and call tools but
    not administer the node."""
    return Principal(
        name=f"taskqueue:{label or 'anonymous'}"[:200],
        kind="system",
        scopes=frozenset({SCOPE_READ, SCOPE_CALL}),
    )


def submitter_of(submitter: Principal | None, submitted_by: str) -> tuple[Principal, str]:
    """The principal new work runs as, and whose work it is (`submitted_by`, for listings and
    idempotency keys: the submitter's name unless given, e.g. a workflow's for its steps)."""
    if submitter is None:
        return queue_principal(submitted_by), submitted_by[:200]
    return submitter, (submitted_by or submitter.name)[:200]


def runs_as(work: Submitted) -> Principal:
    """The principal a stored task or workflow runs as."""
    return Principal.from_dict(work.submitter_principal)


def owner_seen_by(principal: Principal | None) -> str | None:
    """Whose tasks and workflows `principal` may see and act on: its own (by principal name),
    or every one (None) for an admin and for the platform's own calls (no principal)."""
    if principal is None or principal.has_scope(SCOPE_ADMIN):
        return None
    return principal.name
