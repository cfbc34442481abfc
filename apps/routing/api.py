"""REST endpoints of routing: /api/v2/routing (rules, settings, explain), /api/v2/runtimes,
and the open /health/runtime. Thin: each calls a service or a selector."""

from __future__ import annotations

import os

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status

from apps.access.principals import SCOPE_ADMIN, SCOPE_READ
from apps.routing import bridge, selectors, services
from apps.routing.models import RoutingRule
from apps.routing.schemas import (
    RoutingRuleIn,
    RoutingRuleOut,
    RoutingRulePatchIn,
    RuntimeHealthOut,
    RuntimeSettingsOut,
    RuntimeSettingsPatchIn,
    RuntimesOut,
)
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import ApiError, invalid_input, require_scope

routing_router = Router(tags=["routing"])
runtimes_router = Router(tags=["runtimes"])
health_router = Router(tags=["health"], auth=None)


def _rule(rule_id: int) -> RoutingRule:
    rule = selectors.rules().filter(pk=rule_id).first()
    if rule is None:
        raise ApiError(f"Routing rule {rule_id} not found", 404)
    return rule


@routing_router.get("/rules", response=list[RoutingRuleOut])
def list_rules(request: HttpRequest):
    require_scope(request.auth, SCOPE_READ)
    return list(selectors.rules())


@routing_router.post("/rules", response={201: RoutingRuleOut})
def create_rule(request: HttpRequest, payload: RoutingRuleIn):
    require_scope(request.auth, SCOPE_ADMIN)
    fields = payload.dict()
    fields["runtime"] = "asyncio" if fields["runtime"] == "fastapi" else fields["runtime"]
    try:
        return Status(201, services.create_rule(actor=request.auth.name, **fields))
    except (DjangoValidationError, ValueError) as exc:
        raise invalid_input(exc, "request") from None


@routing_router.get("/rules/{rule_id}", response=RoutingRuleOut)
def get_rule(request: HttpRequest, rule_id: int):
    require_scope(request.auth, SCOPE_READ)
    return _rule(rule_id)


@routing_router.patch("/rules/{rule_id}", response=RoutingRuleOut)
def update_rule(request: HttpRequest, rule_id: int, payload: RoutingRulePatchIn):
    require_scope(request.auth, SCOPE_ADMIN)
    changes = payload.dict(exclude_none=True)
    if changes.get("runtime") == "fastapi":
        changes["runtime"] = "asyncio"
    try:
        return services.update_rule(rule=_rule(rule_id), changes=changes, actor=request.auth.name)
    except (DjangoValidationError, ValueError) as exc:
        raise invalid_input(exc, "request") from None


@routing_router.delete("/rules/{rule_id}", response={204: None})
def delete_rule(request: HttpRequest, rule_id: int):
    require_scope(request.auth, SCOPE_ADMIN)
    services.delete_rules(rules=_rule(rule_id), actor=request.auth.name)
    return Status(204, None)


def _settings_out() -> dict:
    settings = selectors.runtime_settings()
    return {
        **{f: getattr(settings, f) for f in services.SETTINGS_FIELDS},
        "updated_at": settings.updated_at,
        "routing_version": selectors.current_version(),
    }


@routing_router.get("/settings", response=RuntimeSettingsOut)
def get_settings(request: HttpRequest):
    require_scope(request.auth, SCOPE_READ)
    return _settings_out()


@routing_router.patch("/settings", response=RuntimeSettingsOut)
def update_settings(request: HttpRequest, payload: RuntimeSettingsPatchIn):
    require_scope(request.auth, SCOPE_ADMIN)
    try:
        services.update_runtime_settings(
            changes=payload.dict(exclude_none=True), actor=request.auth.name
        )
    except (DjangoValidationError, ValueError) as exc:
        raise invalid_input(exc, "request") from None
    return _settings_out()


@runtimes_router.get("/", response=RuntimesOut)
def list_runtimes(request: HttpRequest):
    require_scope(request.auth, SCOPE_READ)
    instances = [
        {**{f.name: getattr(i, f.name) for f in i._meta.fields}, "live": selectors.is_live(i)}
        for i in selectors.runtime_instances()
    ]
    return {
        "routing_version": selectors.current_version(),
        "asyncio": {"status": "up", "pid": os.getpid()},
        "instances": instances,
    }


@health_router.get("/health/runtime", response=RuntimeHealthOut)
async def runtime_health(request: HttpRequest):
    """Both runtimes as this web process sees them: the Trio runtime is asked directly."""
    version = await run_blocking(selectors.current_version)
    probed = await bridge.probe()
    up = probed is not None and probed.get("status") == "up"
    return {
        "asyncio": "up",
        "trio": "up" if up else "down",
        "routing_version": version,
        "trio_routing_version": probed.get("routing_version") if probed else None,
        "trio_pid": probed.get("pid") if probed else None,
    }
