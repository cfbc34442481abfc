"""Reads of routing: the version, the table, rules, settings, runtime instances."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet, Subquery
from django.utils import timezone

from apps.routing.models import (
    RoutingRule,
    RoutingVersion,
    RuntimeInstance,
    RuntimeSettings,
    RuntimeStatus,
)
from apps.routing.router import RoutingTable, RuleView
from mcp_platform.versions import Version

# A runtime whose heartbeat is older than this is considered down.
HEARTBEAT_STALE_SECONDS = 5.0


def current_version() -> int:
    row = RoutingVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return row if row is not None else 1


# What in-process caches of routing and the catalogue are keyed by (mcp_platform.versions).
ROUTING_VERSION = Version("routing", current_version)


def runtime_settings() -> RuntimeSettings:
    """The settings singleton (created with defaults on first read)."""
    settings, _ = RuntimeSettings.objects.get_or_create(pk=1)
    return settings


def rules() -> QuerySet[RoutingRule]:
    return RoutingRule.objects.order_by("-priority", "id")


def load_routing_table() -> RoutingTable:
    """A snapshot of the enabled rules and the settings, labelled with the routing version.

    The version is read first: a table is never labelled newer than what it holds.
    """
    version = current_version()
    enabled = rules().filter(enabled=True)
    settings = runtime_settings()
    return RoutingTable(
        version=version,
        rules=tuple(
            RuleView(r.id, r.name_pattern, r.category, r.runtime, r.priority) for r in enabled
        ),
        default_runtime=settings.default_runtime,
        fallback_allowed=settings.fallback_allowed,
        fallback_timeout=settings.fallback_timeout,
        trio_enabled=settings.trio_enabled,
    )


def version_subquery() -> Subquery:
    """The routing version, as a subquery (the admin annotates tool rows with it)."""
    return Subquery(RoutingVersion.objects.filter(pk=1).values("version")[:1])


def runtime_instances() -> QuerySet[RuntimeInstance]:
    return RuntimeInstance.objects.order_by("-last_heartbeat")


def live_instance(runtime: str = "trio") -> RuntimeInstance | None:
    """The freshest runtime instance whose heartbeat is recent and which says it is up."""
    cutoff = timezone.now() - timedelta(seconds=HEARTBEAT_STALE_SECONDS)
    return (
        RuntimeInstance.objects.filter(
            runtime=runtime, last_heartbeat__gte=cutoff, status=RuntimeStatus.UP
        )
        .order_by("-last_heartbeat")
        .first()
    )


def is_live(instance: RuntimeInstance) -> bool:
    age = (timezone.now() - instance.last_heartbeat).total_seconds()
    return instance.status == RuntimeStatus.UP and age <= HEARTBEAT_STALE_SECONDS


def runtimes_check() -> dict:
    """The runtimes for /health/ready: asyncio (this process) and the Trio runtime's heartbeat.

    Never raises; the Trio runtime being down degrades the node, it does not make it unready.
    """
    try:
        instance = runtime_instances().filter(runtime="trio").first()
        enabled = runtime_settings().trio_enabled
    except Exception as exc:
        return {"status": "down", "critical": False, "error": str(exc)}
    trio: dict = {"status": "down", "enabled": enabled}
    if instance is not None:
        trio.update(
            status="up" if is_live(instance) else "down",
            pid=instance.pid,
            instance=instance.instance_id,
            last_heartbeat=instance.last_heartbeat.isoformat(),
            routing_version=instance.routing_version,
        )
    return {
        "status": "up" if trio["status"] == "up" else "degraded",
        "critical": False,
        "asyncio": {"status": "up"},
        "trio": trio,
    }
