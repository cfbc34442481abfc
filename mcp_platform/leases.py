"""Leased work: the one mechanism behind jobs (`apps.jobs`) and P2P tasks (`apps.taskqueue`).

A row of work is queued, then claimed by one holder: the claim moves it to running, bumps its
fencing token and counts the attempt, and gives it a lease. The holder renews the lease while it
works and finishes the row with the token its claim got; every write of a holder is a
conditional UPDATE on (status running, its token), so a holder that lost the row (its lease ran
out and it was reaped, the row was cancelled or claimed again) changes nothing. The reaper fences
out the holders of expired leases by bumping the token; the row is then retried after
`backoff_delay`, or dead-lettered: `after_lost_attempt` decides which, the same way for both.

A lease is kept one of two ways, per model: an expiry time the claim and each renewal push
forward (`expires`, tasks: each has its own lease length), or a heartbeat time, the lease running
out a fixed time after it (`heartbeat`, jobs: one lease length for all).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

EXPIRES = "expires"
HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class Leases:
    """How one model keeps its leases: the names of its fields and of its states."""

    model: type[models.Model]
    token: str  # the fencing token, bumped by every claim and every fencing-out
    holder: str  # who holds (or last held) the lease
    lease: str  # the expiry (EXPIRES) or last heartbeat (HEARTBEAT) time
    kind: str  # EXPIRES or HEARTBEAT
    queued: str
    running: str
    dead: str  # the dead letter: failed for good
    status: str = "status"
    attempts: str = "attempts"

    def _lease_value(self, now: datetime, lease_seconds: float | None) -> datetime:
        if self.kind == HEARTBEAT:
            return now
        return now + timedelta(seconds=lease_seconds or 0.0)

    def held(self, pk: Any, token: int) -> models.QuerySet:
        """The row, while the holder of `token` still holds it (running, token current)."""
        return self.model.objects.filter(pk=pk, **{self.status: self.running, self.token: token})

    def claim(
        self,
        pk: Any,
        *,
        holder: str,
        now: datetime,
        lease_seconds: float | None = None,
        token: int | None = None,
        **also: Any,
    ) -> bool:
        """Take the queued row for `holder` (only if its token is still `token`, when given):
        running, a fresh token, one more attempt, a lease. False when another took it first."""
        queued = self.model.objects.filter(pk=pk, **{self.status: self.queued})
        if token is not None:
            queued = queued.filter(**{self.token: token})
        return bool(
            queued.update(
                **{
                    self.status: self.running,
                    self.token: F(self.token) + 1,
                    self.attempts: F(self.attempts) + 1,
                    self.holder: holder[:200],
                    self.lease: self._lease_value(now, lease_seconds),
                },
                **also,
            )
        )

    def claim_many(
        self,
        holders: dict[Any, str],
        *,
        now: datetime,
        lease_seconds: dict[Any, float],
        **also: Any,
    ) -> int:
        """`claim` for several queued rows at once (pk → holder, pk → lease length), in one
        UPDATE; how many it took. Only for rows the caller holds locked in its transaction
        (selected FOR UPDATE; on SQLite, its write transaction): none can be taken from under
        it, so every row still queued is claimed."""
        if not holders:
            return 0
        pk = self.model._meta.pk.name
        lease = {key: self._lease_value(now, lease_seconds.get(key)) for key in holders}
        same_lease = len(set(lease.values())) == 1
        fields = self.model._meta
        return self.model.objects.filter(
            **{f"{pk}__in": list(holders), self.status: self.queued}
        ).update(
            **{
                self.status: self.running,
                self.token: F(self.token) + 1,
                self.attempts: F(self.attempts) + 1,
                self.holder: _by_row(
                    pk, {k: v[:200] for k, v in holders.items()}, fields, self.holder
                ),
                self.lease: next(iter(lease.values()))
                if same_lease
                else _by_row(pk, lease, fields, self.lease),
            },
            **also,
        )

    def renew(
        self,
        pk: Any,
        token: int,
        *,
        now: datetime | None = None,
        lease_seconds: float | None = None,
    ) -> bool:
        """Extend the lease; False when `token` no longer holds the row (the lease is lost)."""
        now = now or timezone.now()
        return bool(
            self.held(pk, token).update(**{self.lease: self._lease_value(now, lease_seconds)})
        )

    def finish(self, pk: Any, token: int, *, status: str, **fields: Any) -> bool:
        """Record the outcome, only with the current `token`: the lease ends with it."""
        return bool(
            self.held(pk, token).update(
                **{self.status: status, self.lease: None, "finished_at": timezone.now()}, **fields
            )
        )

    def fence_out(self, pk: Any, token: int, *, still: Q | None = None, **fields: Any) -> bool:
        """Take the row from the holder of `token` (bump the token, so whatever it reports later
        is rejected), if it still holds it and `still` matches; `fields` are written with it."""
        return bool(
            self.held(pk, token)
            .filter(still or Q())
            .update(**{self.token: F(self.token) + 1}, **fields)
        )

    def expired(self, *, now: datetime, lease_seconds: float | None = None) -> models.QuerySet:
        """Running rows whose lease ran out (for HEARTBEAT, `lease_seconds` after it)."""
        cutoff = now - timedelta(seconds=lease_seconds or 0.0) if self.kind == HEARTBEAT else now
        return self.model.objects.filter(**{self.status: self.running, f"{self.lease}__lt": cutoff})


def _by_row(pk: str, values: dict[Any, Any], meta: Any, field: str) -> Case:
    """A per-row value for an UPDATE: CASE pk WHEN ... THEN ... END."""
    output = meta.get_field(field)
    return Case(
        *(
            When(**{pk: key}, then=Value(value, output_field=output))
            for key, value in values.items()
        ),
        output_field=output,
    )


@dataclass(frozen=True)
class Verdict:
    """What becomes of work after an attempt failed or was lost."""

    retry: bool
    why: str  # why it is not retried ("" when it is)


def after_lost_attempt(
    *,
    attempts: int,
    max_attempts: int,
    idempotent: bool,
    interrupted: bool,
    tool: str,
    noun: str,
    limit: str,
) -> Verdict:
    """Retry, or dead-letter. An attempt cut off mid-run (`interrupted`: its holder was lost)
    may or may not have taken effect, so it runs again only when its tool is idempotent: the
    work takes effect at most once. Past `max_attempts` nothing runs again. `noun` names the
    work in the reason ("job", "task"), `limit` what sets `max_attempts`."""
    if interrupted and not idempotent:
        return Verdict(
            retry=False,
            why=f"tool '{tool}' is not idempotent, so the {noun} is not run again "
            "(the call may or may not have taken effect)",
        )
    if attempts >= max_attempts:
        return Verdict(
            retry=False,
            why=f"it was attempted {attempts} time(s), the most {limit} allows",
        )
    return Verdict(retry=True, why="")
