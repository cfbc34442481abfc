"""Legacy migration: import a legacy config (plan, then apply in one transaction), export the
current state in the target legacy shape. Every import is recorded as a MigrationRun."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from django.conf import settings

from apps.audit.context import acting_as
from apps.audit.models import Origin
from apps.migration import legacy_keys
from apps.migration.legacy_config import read_legacy_config, source_hash
from apps.migration.models import MigrationRun, RunStatus
from apps.migration.parsing import LegacyConfigError
from apps.migration.plans import (
    RULE_NOTE,
    Plan,
    Section,
    build_plan,
    current_p2p_settings,
    current_runtime_settings,
    family_rule,
)
from apps.peers.models import BootstrapNode, P2PSettings
from apps.routing import services as routing_services
from apps.routing.models import RoutingRule, RuntimeSettings, TargetRuntime
from apps.tools.models import Tool
from apps.tools.services import set_tools_enabled

logger = logging.getLogger(__name__)

# The priority the routing app seeds its legacy family rules with.
LEGACY_RULE_PRIORITY = 10


@dataclass
class ImportResult:
    """What an import did: its recorded run, its plan (None for an invalid file), any error."""

    run: MigrationRun
    plan: Plan | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def _record(
    *,
    status: str,
    text: str,
    source_name: str,
    plan: Plan | None,
    log: str,
    actor: Any,
    actor_name: str,
    via: str,
) -> MigrationRun:
    user = actor if getattr(actor, "pk", None) else None
    return MigrationRun.objects.create(
        status=status,
        source_name=source_name[:500],
        source_hash=source_hash(text),
        source=text,
        shape=plan.shape if plan else "",
        plan=plan.to_dict() if plan else {},
        changes=len(plan.changes) if plan else 0,
        log=log,
        actor=user,
        actor_name=(actor_name or (user.get_username() if user else ""))[:200],
        via=via,
    )


def import_legacy_config(
    *,
    text: str,
    source_name: str = "",
    dry_run: bool = False,
    actor: Any = None,
    actor_name: str = "",
    via: str = "command",
) -> ImportResult:
    """Read a legacy config, plan it against the database, and (unless `dry_run`) apply the plan
    in one transaction. Always records a MigrationRun; never raises for a bad file or a failed
    apply: the result's `error` says what went wrong, and a failed apply wrote nothing."""
    record = {
        "text": text,
        "source_name": source_name,
        "actor": actor,
        "actor_name": actor_name,
        "via": via,
    }
    try:
        config = read_legacy_config(text, source_name)
    except LegacyConfigError as exc:
        run = _record(status=RunStatus.INVALID, plan=None, log=str(exc), **record)
        return ImportResult(run, None, str(exc))
    if dry_run:
        plan = build_plan(config)
        run = _record(status=RunStatus.DRY_RUN, plan=plan, log=plan.render(), **record)
        return ImportResult(run, plan)
    plan = None
    try:
        # One transaction, one routing version bump for the whole import.
        with routing_services.one_routing_change(reason=f"import of {source_name or 'upload'}"):
            _lock_settings()
            plan = build_plan(config)
            if not plan.is_noop:
                name = actor_name or str(actor or "import_legacy_config")
                with acting_as(_audit_actor(actor, name), origin=Origin.IMPORTER, source=via):
                    apply_plan(plan, actor_name=name)
    except Exception as exc:
        logger.exception(
            "legacy config import of %s failed; rolled back", source_name or "(upload)"
        )
        error = f"Apply failed, nothing was written (rolled back): {type(exc).__name__}: {exc}"
        log = f"{plan.render()}\n\n{error}" if plan else error
        run = _record(status=RunStatus.FAILED, plan=plan, log=log, **record)
        return ImportResult(run, plan, error)
    status = RunStatus.UNCHANGED if plan.is_noop else RunStatus.APPLIED
    run = _record(status=status, plan=plan, log=plan.render(), **record)
    logger.info(
        "legacy config %s: %s (%d changes)", source_name or "(upload)", status, len(plan.changes)
    )
    return ImportResult(run, plan)


def _lock_settings() -> None:
    """Hold the singletons while planning and applying, so a concurrent edit cannot interleave."""
    list(RuntimeSettings.objects.select_for_update().filter(pk=1))
    list(P2PSettings.objects.select_for_update().filter(pk=1))


def _save_p2p_settings(changes: list) -> None:
    # apps.peers has no services yet: write the singleton here, inside the import's transaction.
    if not changes:
        return
    row, _ = P2PSettings.objects.select_for_update().get_or_create(pk=1)
    for change in changes:
        setattr(row, change.subject, change.after)
    row.save()


def _audit_actor(actor: Any, name: str) -> str:
    if actor is not None and hasattr(actor, "get_username"):
        return f"user:{actor.get_username()}"
    return name if ":" in name else f"command:{name}"


def apply_plan(plan: Plan, *, actor_name: str) -> None:
    """Write the plan's changes through each app's services (which bump the routing version).
    Call inside a transaction: import_legacy_config does."""
    runtime_changes = {change.subject: change.after for change in plan.section(Section.RUNTIME)}
    if runtime_changes:
        routing_services.update_runtime_settings(changes=runtime_changes, actor=actor_name)
    for change in plan.section(Section.RULES):
        if change.before is None:
            routing_services.create_rule(
                name_pattern=change.subject,
                runtime=TargetRuntime.TRIO,
                priority=LEGACY_RULE_PRIORITY,
                enabled=True,
                note=RULE_NOTE,
                actor=actor_name,
            )
        elif change.after.endswith("disabled"):
            rules = RoutingRule.objects.filter(
                name_pattern=change.subject, category="", enabled=True
            )
            for rule in rules:
                routing_services.update_rule(
                    rule=rule, changes={"enabled": False}, actor=actor_name
                )
        else:
            routing_services.update_rule(
                rule=family_rule(change.subject),
                changes={"runtime": TargetRuntime.TRIO, "enabled": True},
                actor=actor_name,
            )
    for enabled in (True, False):
        names = [
            c.subject for c in plan.section(Section.TOOLS) if (c.after == "enabled") == enabled
        ]
        if names:
            set_tools_enabled(
                tools=Tool.objects.filter(name__in=names), enabled=enabled, actor=actor_name
            )
    for change in plan.section(Section.BOOTSTRAP):
        if change.before is None:
            note = f"imported from {plan.source_name or 'legacy config'}"
            BootstrapNode.objects.create(multiaddr=change.subject, enabled=True, note=note[:300])
        else:
            BootstrapNode.objects.filter(multiaddr=change.subject).update(enabled=True)
    _save_p2p_settings(plan.section(Section.P2P))


def _uniform(values: set[bool]) -> bool | None:
    return next(iter(values)) if len(values) == 1 else None


def _export_auto_detect() -> bool | None:
    rules = [family_rule(pattern) for pattern in legacy_keys.LEGACY_FAMILY_RULES]
    if all(
        rule is not None and rule.enabled and rule.runtime == TargetRuntime.TRIO for rule in rules
    ):
        return True
    patterns = legacy_keys.LEGACY_FAMILY_RULES
    if not RoutingRule.objects.filter(
        name_pattern__in=patterns, category="", enabled=True
    ).exists():
        return False
    return None  # some families routed, some not: the legacy switch cannot say it


def _export_enablement() -> tuple[dict[str, bool], list[str] | None]:
    """Family switches that describe the tools exactly, and the category list for the rest."""
    tools = list(Tool.objects.values_list("name", "category", "enabled"))
    families: dict[str, set[bool]] = {}
    for name, _, enabled in tools:
        family = legacy_keys.tool_family(name)
        if family:
            families.setdefault(family, set()).add(enabled)
    switches = {
        family: value
        for family, values in families.items()
        if (value := _uniform(values)) is not None
    }
    by_category: dict[str, set[bool]] = {}
    for name, category, enabled in tools:
        if legacy_keys.tool_family(name) not in switches:
            by_category.setdefault(category, set()).add(enabled)
    if not by_category or any(len(values) > 1 for values in by_category.values()):
        return switches, None  # a category half on, half off cannot be written as a list
    if all(values == {True} for values in by_category.values()):
        return switches, ["all"]
    return switches, sorted(
        category for category, values in by_category.items() if values == {True}
    )


def _listen_port() -> int | None:
    match = re.search(r"/tcp/(\d+)", settings.MCP_PLATFORM_P2P_LISTEN)
    return int(match.group(1)) if match else None


def export_config() -> dict[str, Any]:
    """The current state in the target legacy shape (plus `tools.enabled_categories` and
    `p2p.connectivity`, so that enablement and the connection timeout round-trip too). A switch the
    state cannot express exactly (a family half enabled) is left out: importing the export
    never changes anything."""
    runtime = current_runtime_settings()
    p2p = current_p2p_settings()
    switches, enabled_categories = _export_enablement()
    auto_detect = _export_auto_detect()
    trio: dict[str, Any] = {
        "enabled": runtime.trio_enabled,
        "host": settings.MCP_PLATFORM_HOST,
        "port": settings.MCP_PLATFORM_TRIO_PORT,
    }
    for family, key in (
        ("p2p", "enable_p2p_tools"),
        ("workflow", "enable_workflow_tools"),
        ("taskqueue", "enable_taskqueue_tools"),
    ):
        if family in switches:
            trio[key] = switches[family]
    runtime_section: dict[str, Any] = {}
    if auto_detect is not None:
        runtime_section["auto_detect"] = auto_detect
    runtime_section.update(
        prefer_trio=runtime.default_runtime == TargetRuntime.TRIO,
        fallback_to_fastapi=runtime.fallback_allowed,
        fallback_timeout=runtime.fallback_timeout,
    )
    p2p_section: dict[str, Any] = {"enabled": p2p.enabled}
    if (port := _listen_port()) is not None:
        p2p_section["listen_port"] = port
    p2p_section.update(
        peer_discovery={"peer_ttl": p2p.peer_ttl},
        taskqueue={"max_tasks": p2p.taskqueue_max_tasks},
        workflow={"max_workflows": p2p.workflow_max},
        connectivity={"connection_timeout": p2p.connection_timeout},
        bootstrap_nodes=list(
            BootstrapNode.objects.filter(enabled=True)
            .order_by("multiaddr")
            .values_list("multiaddr", flat=True)
        ),
    )
    features: dict[str, Any] = {"trio_runtime": runtime.trio_enabled}
    if "p2p" in switches:
        features["p2p_tools"] = switches["p2p"]
    if "workflow" in switches:
        features["workflow_scheduler"] = switches["workflow"]
    features["fallback_to_fastapi"] = runtime.fallback_allowed
    document: dict[str, Any] = {
        "server": {
            "fastapi": {
                "host": settings.MCP_PLATFORM_HOST,
                "port": settings.MCP_PLATFORM_WEB_PORT,
                "workers": settings.MCP_PLATFORM_WEB_WORKERS,
            },
            "trio": trio,
        },
        "runtime": runtime_section,
        "p2p": p2p_section,
        "features": features,
    }
    if enabled_categories is not None:
        document["tools"] = {"enabled_categories": enabled_categories}
    return document


def export_config_yaml() -> str:
    """`export_config()` as YAML, with a header saying what it is and how to import it."""
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    header = (
        f"# MCP Platform configuration exported {stamp}, in the legacy target dual-runtime shape.\n"
        "# Import it on any node: python manage.py import_legacy_config FILE [--dry-run]\n"
        "# server.*.host/port and p2p.listen_port are this node's environment settings\n"
        "# (MCP_PLATFORM_HOST, MCP_PLATFORM_WEB_PORT, MCP_PLATFORM_TRIO_PORT, MCP_PLATFORM_P2P_LISTEN).\n"
    )
    return header + yaml.safe_dump(export_config(), sort_keys=False, default_flow_style=False)
