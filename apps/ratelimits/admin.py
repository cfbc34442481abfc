"""Rate limits in the admin: listed, filtered, edited inline, enabled/disabled in bulk. Every
save goes through the services (which bump the routing version: every process follows)."""

from __future__ import annotations

from django.contrib import admin

from apps.ratelimits import services
from apps.ratelimits.models import RateLimit


@admin.register(RateLimit)
class RateLimitAdmin(admin.ModelAdmin):
    list_display = ("name", "tool", "principal", "kind", "limit", "window_seconds", "enabled")
    list_editable = ("tool", "principal", "limit", "window_seconds", "enabled")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "tool", "principal", "note")
    actions = ("enable_limits", "disable_limits")

    def save_model(self, request, obj: RateLimit, form, change: bool) -> None:
        services.save_rate_limit(row=obj, actor=request.user)

    def delete_model(self, request, obj: RateLimit) -> None:
        services.delete_rate_limits(rows=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        services.delete_rate_limits(rows=list(queryset), actor=request.user)

    @admin.action(description="Enable selected limits", permissions=["change"])
    def enable_limits(self, request, queryset) -> None:
        services.set_enabled(rows=queryset, enabled=True, actor=request.user)

    @admin.action(description="Disable selected limits", permissions=["change"])
    def disable_limits(self, request, queryset) -> None:
        services.set_enabled(rows=queryset, enabled=False, actor=request.user)
