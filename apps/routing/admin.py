"""Routing in the admin: rules (edited inline), the runtime settings singleton, runtime
instances, and, for the tools list, the "runs on / why" column and the explain page."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.routing import selectors, services
from apps.routing.models import RoutingRule, RuntimeInstance, RuntimeSettings
from apps.routing.router import Route, cache, explain_route
from mcp_platform.admin import ReadOnlyAdminMixin


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ("id", "name_pattern", "category", "runtime", "priority", "enabled", "note")
    list_display_links = ("id",)
    list_editable = ("name_pattern", "category", "runtime", "priority", "enabled")
    list_filter = ("runtime", "enabled")
    search_fields = ("name_pattern", "category", "note")
    ordering = ("-priority", "id")
    actions = ("enable_rules", "disable_rules")

    def save_model(self, request, obj: RoutingRule, form, change: bool) -> None:
        services.save_rule(rule=obj, actor=request.user)

    def delete_model(self, request, obj: RoutingRule) -> None:
        services.delete_rules(rules=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        services.delete_rules(rules=list(queryset), actor=request.user)

    @admin.action(description="Enable selected rules", permissions=["change"])
    def enable_rules(self, request, queryset) -> None:
        for rule in queryset:
            services.update_rule(rule=rule, changes={"enabled": True}, actor=request.user)

    @admin.action(description="Disable selected rules", permissions=["change"])
    def disable_rules(self, request, queryset) -> None:
        for rule in queryset:
            services.update_rule(rule=rule, changes={"enabled": False}, actor=request.user)


@admin.register(RuntimeSettings)
class RuntimeSettingsAdmin(admin.ModelAdmin):
    """The singleton: the list goes straight to its one change form."""

    fields = (*services.SETTINGS_FIELDS, "routing_version", "updated_at")
    readonly_fields = ("routing_version", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        settings = selectors.runtime_settings()
        return HttpResponseRedirect(
            reverse("admin:routing_runtimesettings_change", args=[settings.pk])
        )

    @admin.display(description="routing version")
    def routing_version(self, obj: RuntimeSettings) -> int:
        return selectors.current_version()

    def save_model(self, request, obj: RuntimeSettings, form, change: bool) -> None:
        changes = {field: getattr(obj, field) for field in services.SETTINGS_FIELDS}
        services.update_runtime_settings(changes=changes, actor=request.user)


@admin.register(RuntimeInstance)
class RuntimeInstanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "instance_id",
        "runtime",
        "live",
        "status",
        "pid",
        "host",
        "port",
        "routing_version",
        "last_heartbeat",
        "started_at",
        "calls",
        "errors",
    )
    list_filter = ("runtime", "status")
    search_fields = ("instance_id", "host", "peer_id")

    @admin.display(boolean=True, description="live")
    def live(self, obj: RuntimeInstance) -> bool:
        return selectors.is_live(obj)


class ToolRouteAdminMixin:
    """For the tools admin: where each tool runs and why, without a query per row (the list's
    one query carries the routing version; the table is cached per version)."""

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(routing_version=selectors.version_subquery())

    def _route(self, tool) -> Route:
        return explain_route(tool, cache.get(getattr(tool, "routing_version", None)))

    @admin.display(description="runs on / why")
    def runs_on(self, tool) -> str:
        route = self._route(tool)
        url = reverse("admin:tools_tool_explain", args=[tool.pk])
        return format_html(
            '<a href="{}" title="{}"><strong>{}</strong></a> <small>(step {}: {})</small>',
            url,
            route.reason,
            route.runtime or "not callable",
            route.decided_by,
            route.reason,
        )

    @admin.display(description="route")
    def route_explanation(self, tool) -> str:
        if tool.pk is None:
            return "-"
        route = self._route(tool)
        url = reverse("admin:tools_tool_explain", args=[tool.pk])
        return format_html(
            '{} — {} (<a href="{}">explain</a>)', route.runtime or "not callable", route.reason, url
        )

    def get_urls(self):
        explain = self.admin_site.admin_view(self.explain_view)
        return [
            path("<path:object_id>/explain/", explain, name="tools_tool_explain"),
            *super().get_urls(),
        ]

    def explain_view(self, request: HttpRequest, object_id: str):
        tool = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, tool):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": tool,
            "title": f"Route of {tool.name}",
            "route": self._route(tool),
        }
        return TemplateResponse(request, "admin/routing/explain.html", context)
