"""Request and response bodies of the routing API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema

RuntimeName = Literal["asyncio", "trio", "fastapi"]


class RoutingRuleOut(Schema):
    id: int
    name_pattern: str
    category: str
    runtime: str
    priority: int
    enabled: bool
    note: str
    created_at: datetime
    updated_at: datetime


class RoutingRuleIn(Schema):
    name_pattern: str = ""
    category: str = ""
    runtime: RuntimeName
    priority: int = 0
    enabled: bool = True
    note: str = ""


class RoutingRulePatchIn(Schema):
    name_pattern: str | None = None
    category: str | None = None
    runtime: RuntimeName | None = None
    priority: int | None = None
    enabled: bool | None = None
    note: str | None = None


class RuntimeSettingsOut(Schema):
    default_runtime: str
    fallback_allowed: bool
    fallback_timeout: float
    trio_enabled: bool
    updated_at: datetime
    routing_version: int


class RuntimeSettingsPatchIn(Schema):
    default_runtime: RuntimeName | None = None
    fallback_allowed: bool | None = None
    fallback_timeout: float | None = None
    trio_enabled: bool | None = None


class RouteStepOut(Schema):
    step: int
    check: str
    result: str
    decided: bool


class RouteOut(Schema):
    tool: str
    runtime: str | None
    callable: bool
    decided_by: int
    reason: str
    routing_version: int
    steps: list[RouteStepOut]


class RuntimeInstanceOut(Schema):
    instance_id: str
    runtime: str
    host: str
    port: int
    pid: int
    peer_id: str
    started_at: datetime
    last_heartbeat: datetime
    routing_version: int
    status: str
    live: bool
    calls: int
    errors: int


class RuntimesOut(Schema):
    routing_version: int
    asyncio: dict
    instances: list[RuntimeInstanceOut]


class RuntimeHealthOut(Schema):
    asyncio: str
    trio: str
    routing_version: int
    trio_routing_version: int | None
    trio_pid: int | None = None
