"""The plan of an import: what a legacy config would change, compared with the database now.

`build_plan` only reads; `Plan.render` is the readable diff the command and the admin show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from apps.migration import legacy_keys
from apps.migration.legacy_config import IgnoredKey, LegacyConfig, Source
from apps.peers.models import BootstrapNode, P2PSettings
from apps.routing.models import RoutingRule, RuntimeSettings, TargetRuntime
from apps.tools.models import Tool


class Section:
    RUNTIME = "Runtime settings"
    RULES = "Routing rules"
    TOOLS = "Tool enablement"
    BOOTSTRAP = "Bootstrap nodes"
    P2P = "P2P settings"

    ORDER = (RUNTIME, RULES, TOOLS, BOOTSTRAP, P2P)


RUNTIME_FIELDS = (
    "default_runtime",
    "fallback_allowed",
    "fallback_timeout",
    "trio_enabled",
)
P2P_FIELDS = (
    "enabled",
    "peer_ttl",
    "connection_timeout",
    "taskqueue_max_tasks",
    "workflow_max",
)
RULE_NOTE = "legacy name family (import_legacy_config: runtime.auto_detect)"


@dataclass(frozen=True)
class Change:
    """One database change: `subject` in `section` goes from `before` to `after`."""

    section: str
    subject: str
    before: Any
    after: Any
    source: Source
    detail: str = ""


@dataclass(frozen=True)
class EnvironmentSetting:
    """A key that became an environment variable: reported, never stored."""

    variable: str
    value: str
    current: str
    source: Source | None
    why: str = ""

    @property
    def matches(self) -> bool:
        return self.value == self.current


@dataclass
class Plan:
    source_name: str
    source_hash: str
    shape: str
    changes: list[Change] = field(default_factory=list)
    unchanged: dict[str, int] = field(default_factory=dict)
    environment: list[EnvironmentSetting] = field(default_factory=list)
    ignored: list[IgnoredKey] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_noop(self) -> bool:
        return not self.changes

    def section(self, name: str) -> list[Change]:
        return [change for change in self.changes if change.section == name]

    def render(self) -> str:
        """The plan as a readable diff: `-` the current value, `+` the new one, `←` the key."""
        lines = [
            f"Legacy config: {self.source_name or '(uploaded)'}",
            f"Shape: {self.shape} · sha256 {self.source_hash[:16]}…",
            "",
        ]
        for name in Section.ORDER:
            changes = self.section(name)
            kept = self.unchanged.get(name, 0)
            if not changes and not kept:
                continue
            summary = [f"{len(changes)} change{'s' if len(changes) != 1 else ''}"]
            if kept:
                summary.append(f"{kept} already as asked")
            lines.append(f"{name} ({', '.join(summary)})")
            for change in changes:
                if change.before is not None:
                    lines.append(f"  - {change.subject}: {_show(change.before)}")
                new = f"  + {change.subject}: {_show(change.after)}"
                if change.detail:
                    new += f" ({change.detail})"
                lines.append(f"{new:<60} ← {change.source}")
            lines.append("")
        if self.environment:
            lines.append("Environment (not stored in the database: set where the platform starts)")
            for setting in self.environment:
                state = "already set" if setting.matches else f"currently {setting.current}"
                origin = str(setting.source) if setting.source else setting.why
                lines.append(
                    f"  set in the environment: {setting.variable}={setting.value}  ← {origin}; {state}"
                )
            lines.append("")
        if self.ignored:
            lines.append("Ignored keys")
            for item in self.ignored:
                lines.append(f"  {item.source}: {item.reason}")
            lines.append("")
        for note in self.notes:
            lines.append(f"Note: {note}")
        if self.notes:
            lines.append("")
        if self.is_noop:
            lines.append("No changes: the platform already matches this file.")
        else:
            lines.append(
                f"{len(self.changes)} change{'s' if len(self.changes) != 1 else ''} to apply."
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def source(value: Source | None) -> dict[str, Any] | None:
            if value is None:
                return None
            return {"path": legacy_path(value), "line": value.line}

        return {
            "shape": self.shape,
            "source_hash": self.source_hash,
            "changes": [
                {
                    "section": change.section,
                    "subject": change.subject,
                    "before": change.before,
                    "after": change.after,
                    "source": source(change.source),
                }
                for change in self.changes
            ],
            "unchanged": self.unchanged,
            "environment": [
                {
                    "variable": s.variable,
                    "value": s.value,
                    "current": s.current,
                    "source": source(s.source),
                }
                for s in self.environment
            ],
            "ignored": [{"source": source(i.source), "reason": i.reason} for i in self.ignored],
            "notes": self.notes,
        }


def legacy_path(source: Source) -> str:
    from apps.migration.parsing import format_path

    return format_path(source.path)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def current_runtime_settings() -> RuntimeSettings:
    """The stored runtime settings, or the defaults a fresh install would store."""
    return RuntimeSettings.objects.filter(pk=1).first() or RuntimeSettings(pk=1)


def current_p2p_settings() -> P2PSettings:
    return P2PSettings.objects.filter(pk=1).first() or P2PSettings(pk=1)


def family_rule(pattern: str) -> RoutingRule | None:
    """The rule that routes a legacy name family: the first by priority, matching on name only."""
    return (
        RoutingRule.objects.filter(name_pattern=pattern, category="")
        .order_by("-priority", "id")
        .first()
    )


def _settings_changes(
    plan: Plan, config: LegacyConfig, kind: str, section: str, current: Any, fields: tuple[str, ...]
) -> None:
    for name in fields:
        assignment = config.get(kind, name)
        if assignment is None:
            continue
        before = getattr(current, name)
        if before == assignment.value:
            plan.unchanged[section] = plan.unchanged.get(section, 0) + 1
        else:
            plan.changes.append(Change(section, name, before, assignment.value, assignment.source))


def _rule_changes(plan: Plan, config: LegacyConfig) -> None:
    assignment = config.get("legacy_rules")
    if assignment is None:
        return
    for pattern in legacy_keys.LEGACY_FAMILY_RULES:
        if assignment.value:
            rule = family_rule(pattern)
            if rule is None:
                plan.changes.append(
                    Change(
                        Section.RULES, pattern, None, "trio, enabled", assignment.source, "new rule"
                    )
                )
            elif rule.enabled and rule.runtime == TargetRuntime.TRIO:
                plan.unchanged[Section.RULES] = plan.unchanged.get(Section.RULES, 0) + 1
            else:
                before = f"{rule.runtime}, {'enabled' if rule.enabled else 'disabled'}"
                plan.changes.append(
                    Change(Section.RULES, pattern, before, "trio, enabled", assignment.source)
                )
        else:
            enabled = RoutingRule.objects.filter(name_pattern=pattern, category="", enabled=True)
            for rule in enabled.order_by("-priority", "id"):
                before = f"{rule.runtime}, enabled"
                plan.changes.append(
                    Change(
                        Section.RULES,
                        pattern,
                        before,
                        f"{rule.runtime}, disabled",
                        assignment.source,
                    )
                )
            if not enabled.exists():
                plan.unchanged[Section.RULES] = plan.unchanged.get(Section.RULES, 0) + 1


def desired_enablement(
    config: LegacyConfig, name: str, category: str
) -> tuple[bool, Source] | None:
    """Whether the file wants tool `name` enabled, and which key says so; None if it is silent.

    A family switch (`enable_p2p_tools`, `features.p2p_tools`, ...) wins over the category list.
    """
    family = legacy_keys.tool_family(name)
    switch = config.get("family", family) if family else None
    if switch is not None:
        return switch.value, switch.source
    listed = config.get("categories")
    if listed is not None:
        return ("all" in listed.value or category in listed.value), listed.source
    return None


def _tool_changes(plan: Plan, config: LegacyConfig) -> None:
    if config.get("categories") is None and not any(
        kind == "family" for kind, _ in config.assignments
    ):
        return
    for name, category, enabled in Tool.objects.order_by("name").values_list(
        "name", "category", "enabled"
    ):
        wanted = desired_enablement(config, name, category)
        if wanted is None:
            continue
        value, source = wanted
        if value == enabled:
            plan.unchanged[Section.TOOLS] = plan.unchanged.get(Section.TOOLS, 0) + 1
            continue
        plan.changes.append(
            Change(
                Section.TOOLS,
                name,
                "enabled" if enabled else "disabled",
                "enabled" if value else "disabled",
                source,
                f"category {category}",
            )
        )
    listed = config.get("categories")
    if listed is not None and "all" not in listed.value:
        present = set(Tool.objects.values_list("category", flat=True))
        absent = [name for name in listed.value if name not in present]
        if absent:
            plan.notes.append(
                f"no tools yet in categories {', '.join(absent)}: install their tool modules, "
                "sync, and import again to enable them"
            )


def _bootstrap_changes(plan: Plan, config: LegacyConfig) -> None:
    if not config.bootstrap_nodes:
        return
    existing = {node.multiaddr: node for node in BootstrapNode.objects.all()}
    for address, source in config.bootstrap_nodes:
        node = existing.get(address)
        if node is None:
            plan.changes.append(Change(Section.BOOTSTRAP, address, None, "enabled", source, "new"))
        elif not node.enabled:
            plan.changes.append(Change(Section.BOOTSTRAP, address, "disabled", "enabled", source))
        else:
            plan.unchanged[Section.BOOTSTRAP] = plan.unchanged.get(Section.BOOTSTRAP, 0) + 1
    others = set(existing) - {address for address, _ in config.bootstrap_nodes}
    if others:
        plan.notes.append(f"{len(others)} bootstrap node(s) not in the file are kept as they are")


def _current_environment(variable: str) -> str:
    import os

    values = {
        "MCP_PLATFORM_HOST": settings.MCP_PLATFORM_HOST,
        "MCP_PLATFORM_WEB_PORT": str(settings.MCP_PLATFORM_WEB_PORT),
        "MCP_PLATFORM_WEB_WORKERS": str(settings.MCP_PLATFORM_WEB_WORKERS),
        "MCP_PLATFORM_TRIO_PORT": str(settings.MCP_PLATFORM_TRIO_PORT),
        "MCP_PLATFORM_P2P_LISTEN": settings.MCP_PLATFORM_P2P_LISTEN,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }
    return values.get(variable, os.environ.get(variable, ""))


def _environment(plan: Plan, config: LegacyConfig) -> None:
    seen: set[tuple[str, str]] = set()
    for assignment in config.environment:
        variable = assignment.target.name
        value = assignment.value
        if variable == "MCP_PLATFORM_P2P_LISTEN":
            value = f"/ip4/0.0.0.0/tcp/{value}"
        elif variable == "LOG_LEVEL":
            value = str(value).upper()
        value = str(value)
        if (variable, value) in seen:
            continue
        seen.add((variable, value))
        plan.environment.append(
            EnvironmentSetting(variable, value, _current_environment(variable), assignment.source)
        )
    variables = {setting.variable for setting in plan.environment}
    web_port = next(
        (s.value for s in plan.environment if s.variable == "MCP_PLATFORM_WEB_PORT"), None
    )
    if web_port and "MCP_PLATFORM_TRIO_PORT" not in variables:
        # The legacy Trio server listened on the web port + 1 unless told otherwise.
        plan.environment.append(
            EnvironmentSetting(
                "MCP_PLATFORM_TRIO_PORT",
                str(int(web_port) + 1),
                _current_environment("MCP_PLATFORM_TRIO_PORT"),
                None,
                "legacy default: the web port + 1",
            )
        )
    hosts = [s for s in plan.environment if s.variable == "MCP_PLATFORM_HOST"]
    if len(hosts) > 1:
        plan.notes.append(
            "the file names different hosts for its listeners; MCP_PLATFORM_HOST binds both: "
            "choose one"
        )


def build_plan(config: LegacyConfig) -> Plan:
    """Compare what `config` asks for with the database now. Reads only."""
    plan = Plan(source_name=config.source_name, source_hash=config.source_hash, shape=config.shape)
    _settings_changes(
        plan, config, "runtime", Section.RUNTIME, current_runtime_settings(), RUNTIME_FIELDS
    )
    _rule_changes(plan, config)
    _tool_changes(plan, config)
    _bootstrap_changes(plan, config)
    _settings_changes(plan, config, "p2p", Section.P2P, current_p2p_settings(), P2P_FIELDS)
    _environment(plan, config)
    plan.ignored = list(config.ignored)
    return plan
