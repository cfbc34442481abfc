"""The hash chain: append events under the head row's lock, verify the chain, prune it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditChain, AuditEvent, Origin
from mcp_platform.storable import storable

GENESIS = "0" * 64
VERIFY_BATCH = 2000


@dataclass
class Draft:
    """An event not yet in the chain."""

    actor: str
    origin: str
    action: str
    target: str
    changes: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    at: datetime | None = None


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def plain(value: Any) -> Any:
    """`value` as the database's JSON gives it back (NUL bytes replaced, see
    mcp_platform/storable.py), so a hash covers exactly what is stored."""
    return json.loads(canonical(storable(value)))


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    origin: str,
    source: str,
    action: str,
    target: str,
    changes: Any,
    prev_hash: str,
) -> str:
    payload = canonical(
        [seq, at.isoformat(), actor, origin, source, action, target, changes, prev_hash]
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _hash_of(event: AuditEvent) -> str:
    return event_hash(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        origin=event.origin,
        source=event.source,
        action=event.action,
        target=event.target,
        changes=event.changes,
        prev_hash=event.prev_hash,
    )


def _head() -> AuditChain:
    head = AuditChain.objects.select_for_update().filter(pk=1).first()
    if head is None:  # the migration creates it; a flushed test database has none
        AuditChain.objects.get_or_create(pk=1)
        head = AuditChain.objects.select_for_update().get(pk=1)
    return head


def append(drafts: list[Draft]) -> list[AuditEvent]:
    """Add events at the end of the chain, in order, in one transaction. The head row's lock
    makes concurrent writers (web workers, the Trio runtime) take turns."""
    if not drafts:
        return []
    with transaction.atomic():
        head = _head()
        events = []
        for draft in drafts:
            at = (draft.at or timezone.now()).astimezone(UTC)
            changes = plain(draft.changes)
            seq = head.last_seq + 1
            event = AuditEvent(
                seq=seq,
                at=at,
                actor=storable(draft.actor)[:200],
                origin=draft.origin,
                source=storable(draft.source)[:200],
                action=draft.action[:32],
                target=storable(draft.target)[:300],
                changes=changes,
                prev_hash=head.last_hash,
            )
            event.hash = _hash_of(event)
            head.last_seq, head.last_hash = seq, event.hash
            events.append(event)
        AuditEvent.objects.bulk_create(events)
        head.save(update_fields=["last_seq", "last_hash"])
    return events


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad: int | None
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad": self.first_bad,
            "problem": self.problem or None,
        }


def verify() -> Verification:
    """Walk the chain from its anchor: each event must follow the one before (seq and
    prev_hash) and hash to what it says. `first_bad` is the seq of the first event that
    does not, or of the head when events are missing at the end."""
    head = AuditChain.objects.filter(pk=1).first() or AuditChain()
    expected_seq, expected_prev = head.anchor_seq + 1, head.anchor_hash
    checked = 0
    last_seen = head.anchor_seq
    while True:
        batch = list(
            AuditEvent.objects.filter(seq__gte=expected_seq).order_by("seq")[:VERIFY_BATCH]
        )
        for event in batch:
            if event.seq != expected_seq:
                return Verification(False, checked, expected_seq, "an event is missing")
            if event.prev_hash != expected_prev:
                return Verification(False, checked, event.seq, "does not follow the event before")
            if _hash_of(event) != event.hash:
                return Verification(False, checked, event.seq, "its content was changed")
            checked += 1
            expected_seq, expected_prev, last_seen = event.seq + 1, event.hash, event.seq
        if len(batch) < VERIFY_BATCH:
            break
    if last_seen != head.last_seq or expected_prev != head.last_hash:
        return Verification(False, checked, last_seen + 1, "events are missing at the end")
    return Verification(True, checked, None)


def prune(*, before: datetime) -> int:
    """Delete the events older than `before` (a prefix of the chain), move the anchor to the
    last one deleted, and record a checkpoint event saying so; returns how many went."""
    with transaction.atomic():
        head = _head()
        doomed = AuditEvent.objects.filter(at__lt=before, seq__lte=head.last_seq)
        last = doomed.order_by("-seq").first()
        if last is None:
            return 0
        # Only a prefix: an older event after a newer one (clock skew) waits for the next run.
        newer_before = AuditEvent.objects.filter(seq__lt=last.seq, at__gte=before).first()
        through = newer_before.seq - 1 if newer_before is not None else last.seq
        if through <= head.anchor_seq:
            return 0
        anchor = AuditEvent.objects.get(seq=through)
        count, _ = AuditEvent.objects.filter(seq__lte=through).delete()
        head.anchor_seq, head.anchor_hash = anchor.seq, anchor.hash
        head.save(update_fields=["anchor_seq", "anchor_hash"])
        append(
            [
                Draft(
                    actor="system",
                    origin=Origin.SYSTEM,
                    action="checkpoint",
                    target="audit",
                    changes={
                        "pruned": count,
                        "through_seq": anchor.seq,
                        "through_hash": anchor.hash,
                    },
                )
            ]
        )
    return count
