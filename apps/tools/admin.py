"""The catalogue in the admin: tools (filters, inline toggles, bulk actions) and the call log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.routing.admin import ToolRouteAdminMixin
from apps.tools import services
from apps.tools.models import Prompt, Resource, Runtime, Tool, ToolCall
from mcp_platform.admin import ReadOnlyAdminMixin


@admin.register(Tool)
class ToolAdmin(ToolRouteAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "category",
        "enabled",
        "runtime",
        "runs_on",
        "requires_p2p",
        "priority",
        "timeout_seconds",
        "required_scope",
        "missing",
        "deprecated",
    )
    list_editable = ("enabled", "runtime")
    list_filter = ("category", "runtime", "enabled", "missing", "requires_p2p", "deprecated")
    search_fields = ("name", "description", "category")
    ordering = ("name",)
    list_per_page = 100
    readonly_fields = (
        "name",
        "description",
        "input_schema",
        "output_schema",
        "missing",
        "created_at",
        "updated_at",
        "synced_at",
        "route_explanation",
        "required_scope",
    )
    fieldsets = (
        (None, {"fields": ("name", "title", "category", "description", "enabled", "missing")}),
        (
            "Runtime",
            {
                "fields": (
                    "runtime",
                    "route_explanation",
                    "requires_p2p",
                    "fallback_allowed",
                    "priority",
                )
            },
        ),
        ("Execution", {"fields": ("timeout_seconds", "retry_policy", "max_retries")}),
        ("Access", {"fields": ("required_scope",)}),
        ("Audit", {"fields": ("audit_arguments",)}),
        ("Resource hints", {"fields": ("memory_intensive", "cpu_intensive", "io_intensive")}),
        (
            "MCP annotations",
            {
                "fields": (
                    "read_only_hint",
                    "destructive_hint",
                    "idempotent_hint",
                    "open_world_hint",
                )
            },
        ),
        ("Lifecycle", {"fields": ("deprecated", "deprecation_message", "schema_version")}),
        (
            "Schemas",
            {"classes": ("collapse",), "fields": ("input_schema", "output_schema")},
        ),
        (
            "Timestamps",
            {"classes": ("collapse",), "fields": ("created_at", "updated_at", "synced_at")},
        ),
    )
    actions = (
        "enable_tools",
        "disable_tools",
        "run_on_asyncio",
        "run_on_trio",
        "route_automatically",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tools come from code; sync_tools adds them

    def save_model(self, request, obj: Tool, form, change: bool) -> None:
        services.update_tool(tool=obj, actor=request.user)

    @admin.action(description="Enable selected tools", permissions=["change"])
    def enable_tools(self, request, queryset: QuerySet[Tool]) -> None:
        count = services.set_tools_enabled(tools=queryset, enabled=True, actor=request.user)
        self.message_user(request, f"Enabled {count} tools.", messages.SUCCESS)

    @admin.action(description="Disable selected tools", permissions=["change"])
    def disable_tools(self, request, queryset: QuerySet[Tool]) -> None:
        count = services.set_tools_enabled(tools=queryset, enabled=False, actor=request.user)
        self.message_user(request, f"Disabled {count} tools.", messages.SUCCESS)

    def _set_runtime(self, request, queryset: QuerySet[Tool], runtime: str) -> None:
        count = services.set_tools_runtime(tools=queryset, runtime=runtime, actor=request.user)
        self.message_user(request, f"Set runtime '{runtime}' on {count} tools.", messages.SUCCESS)

    @admin.action(description="Run selected tools on asyncio", permissions=["change"])
    def run_on_asyncio(self, request, queryset):
        self._set_runtime(request, queryset, Runtime.ASYNCIO)

    @admin.action(description="Run selected tools on trio", permissions=["change"])
    def run_on_trio(self, request, queryset):
        self._set_runtime(request, queryset, Runtime.TRIO)

    @admin.action(description="Let routing choose the runtime (auto)", permissions=["change"])
    def route_automatically(self, request, queryset):
        self._set_runtime(request, queryset, Runtime.AUTO)


class ContentAdminMixin:
    """Prompts and resources: enable/disable in bulk; every save announces the change."""

    actions = ("enable_selected", "disable_selected")

    @admin.action(description="Enable selected", permissions=["change"])
    def enable_selected(self, request, queryset) -> None:
        count = services.set_enabled(rows=queryset, enabled=True, actor=request.user)
        self.message_user(request, f"Enabled {count}.", messages.SUCCESS)

    @admin.action(description="Disable selected", permissions=["change"])
    def disable_selected(self, request, queryset) -> None:
        count = services.set_enabled(rows=queryset, enabled=False, actor=request.user)
        self.message_user(request, f"Disabled {count}.", messages.SUCCESS)


@admin.register(Prompt)
class PromptAdmin(ContentAdminMixin, admin.ModelAdmin):
    """Prompts from code (retitle, redescribe, enable) and prompts written here alone."""

    list_display = ("name", "title", "enabled", "from_code", "missing")
    list_editable = ("enabled",)
    list_filter = ("enabled", "from_code", "missing")
    search_fields = ("name", "title", "description")
    fields = (
        "name",
        "title",
        "description",
        "enabled",
        "arguments",
        "template",
        "from_code",
        "missing",
        "created_at",
        "updated_at",
        "synced_at",
    )

    def get_readonly_fields(self, request, obj=None):
        fixed = ("from_code", "missing", "created_at", "updated_at", "synced_at")
        if obj is not None and obj.from_code:  # its code names it and renders it
            return ("name", "arguments", "template", *fixed)
        return fixed

    def save_model(self, request, obj: Prompt, form, change: bool) -> None:
        services.update_entry(entry=obj, actor=request.user)

    def delete_model(self, request, obj: Prompt) -> None:
        services.delete_prompt(prompt=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A prompt from code would come back at the next sync: disable it instead.
        return super().has_delete_permission(request, obj) and not (obj and obj.from_code)


@admin.register(Resource)
class ResourceAdmin(ContentAdminMixin, admin.ModelAdmin):
    list_display = ("name", "uri", "is_template", "mime_type", "enabled", "missing")
    list_editable = ("enabled",)
    list_filter = ("enabled", "is_template", "missing")
    search_fields = ("name", "uri", "title", "description")
    readonly_fields = (
        "name",
        "uri",
        "is_template",
        "missing",
        "created_at",
        "updated_at",
        "synced_at",
    )
    fields = (
        "name",
        "uri",
        "is_template",
        "title",
        "description",
        "mime_type",
        "enabled",
        "missing",
        "created_at",
        "updated_at",
        "synced_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # resources are read by code; sync_tools adds them

    def save_model(self, request, obj: Resource, form, change: bool) -> None:
        services.update_entry(entry=obj, actor=request.user)


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "started_at",
        "tool_name",
        "outcome",
        "runtime",
        "fallback",
        "duration_ms",
        "caller",
        "via",
        "attempts",
    )
    list_filter = ("outcome", "runtime", "via", "fallback", "started_at")
    search_fields = ("tool_name", "caller", "request_id", "error")
    date_hierarchy = "started_at"
    list_per_page = 100
    show_full_result_count = False  # the log grows large; skip the COUNT(*) of everything
