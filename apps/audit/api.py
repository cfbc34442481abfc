"""The audit trail over HTTP: `/api/v2/audit` (list, verify, export) for auditors, and the
legacy `/audit/record` and `/audit/report`. Every route needs the `admin` scope, except
recording an event, which any caller with `tools:call` may do, as itself."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from ninja import Router

from apps.access.principals import SCOPE_ADMIN, SCOPE_CALL
from apps.audit import calls, selectors, services
from apps.audit.models import Origin
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import ApiError, now_iso, require_scope

router = Router(tags=["audit"])
legacy_router = Router(tags=["audit (legacy)"])

MAX_ITEMS = 1000
SEVERITIES = ("debug", "info", "notice", "warning", "error", "critical")


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise ApiError(f"{name} must be an ISO-8601 date-time, got {value!r}", 422)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


@router.get("/")
def list_events(
    request: HttpRequest,
    target: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    limit: int = 100,
):
    """Events, newest first: `{items, count}` (`count` is every match, `items` at most
    `limit`, up to 1000). `target` ending in `:` matches a prefix (`tools.tool:`)."""
    require_scope(request.auth, SCOPE_ADMIN)
    calls.flush()
    found = selectors.events(target=target, actor=actor, action=action, since=_when(since, "since"))
    items = [selectors.event_dict(e) for e in found[: max(1, min(limit, MAX_ITEMS))]]
    return {"items": items, "count": found.count()}


@router.get("/verify")
def verify(request: HttpRequest):
    """`{ok, checked, first_bad}`: first_bad is the seq of the first event that breaks the
    chain (edited, or following a deleted one), else null."""
    require_scope(request.auth, SCOPE_ADMIN)
    return services.verify_chain().as_dict()


@router.get("/export")
def export(request: HttpRequest):
    """The whole chain as JSON lines, oldest first (`application/x-ndjson`)."""
    require_scope(request.auth, SCOPE_ADMIN)
    calls.flush()
    response = StreamingHttpResponse(selectors.export_lines(), content_type="application/x-ndjson")
    response["Content-Disposition"] = 'attachment; filename="audit.jsonl"'
    return response


# ---------------------------------------------------------------- legacy


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body or request.content_type != "application/json":
        return {}
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(f"Malformed JSON body: {exc}", 400) from None
    return body if isinstance(body, dict) else {}


def _text(value: Any) -> str | None:
    """A body value given as a string or a number; anything else counts as absent."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)


@legacy_router.post("/audit/record")
async def record(
    request: HttpRequest,
    action: str | None = None,
    resource_id: str | None = None,
    resource_type: str | None = None,
    severity: str | None = None,
):
    """Record a client-reported event as the caller. The legacy sent `action`, `resource_id`,
    `resource_type`, `severity` in the query and `details`, `tags` in the body; any of them
    may come in a JSON body."""
    require_scope(request.auth, SCOPE_CALL)
    body = _body(request)
    action = action or _text(body.get("action"))
    resource_id = resource_id or _text(body.get("resource_id"))
    resource_type = resource_type or _text(body.get("resource_type"))
    severity = (severity or _text(body.get("severity")) or "info").lower()
    details, tags = body.get("details") or {}, body.get("tags") or []
    if not action or not action.strip() or len(action) > 32:
        raise ApiError("action is required (a string of at most 32 characters)", 422)
    if severity not in SEVERITIES:
        raise ApiError(f"severity must be one of {', '.join(SEVERITIES)}", 422)
    if not isinstance(details, dict) or not isinstance(tags, list):
        raise ApiError("details must be an object and tags a list", 422)
    target = f"{resource_type or 'resource'}:{resource_id or ''}"
    event = await run_blocking(
        services.record_event,
        actor=request.auth.name,
        origin=Origin.API,
        source=request.META.get("REMOTE_ADDR", ""),
        action=action.strip(),
        target=target,
        changes={
            "client_reported": True,
            "severity": severity,
            "tags": [str(t) for t in tags],
            "details": details,
        },
    )
    return {
        "status": "success",
        "event_id": event.seq,
        "timestamp": event.at.isoformat(),
        "action": event.action,
        "resource_id": resource_id,
        "resource_type": resource_type,
        "severity": severity,
        "hash": event.hash,
    }


def _report(
    report_type: str, start: datetime | None, end: datetime | None, limit: int
) -> dict[str, Any]:
    calls.flush()
    found = selectors.events(since=start, until=end)
    if report_type == "security":
        found = found.exclude(action="tool.call")
    elif report_type == "calls":
        found = found.filter(action="tool.call")
    rows = list(found.values_list("action", "actor", "origin"))
    verification = services.verify_chain()
    return {
        "status": "success",
        "report_type": report_type,
        "generated_at": now_iso(),
        "period": {
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        },
        "total_events": len(rows),
        "by_action": dict(Counter(r[0] for r in rows)),
        "by_actor": dict(Counter(r[1] for r in rows)),
        "by_origin": dict(Counter(r[2] for r in rows)),
        "integrity": verification.as_dict(),
        "events": [selectors.event_dict(e) for e in found[:limit]],
    }


REPORT_TYPES = ("comprehensive", "security", "calls")


@legacy_router.get("/audit/report")
async def report(
    request: HttpRequest,
    report_type: str = "comprehensive",
    start_time: str | None = None,
    end_time: str | None = None,
    output_format: str = "json",
    limit: int = 100,
):
    """A summary of the trail over a period (by action, actor, origin), its integrity, and
    the latest events. `report_type`: comprehensive (all), security (changes), calls."""
    require_scope(request.auth, SCOPE_ADMIN)
    if report_type not in REPORT_TYPES:
        raise ApiError(f"report_type must be one of {', '.join(REPORT_TYPES)}", 422)
    if output_format != "json":
        raise ApiError(
            "output_format must be json (export JSON lines at /api/v2/audit/export)", 422
        )
    return await run_blocking(
        _report,
        report_type,
        _when(start_time, "start_time"),
        _when(end_time, "end_time"),
        max(0, min(limit, MAX_ITEMS)),
    )
