"""Toolsets in the admin: listed, searched, filtered, their members edited inline."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count

from apps.toolsets.models import Toolset, ToolsetMember


class ToolsetMemberInline(admin.TabularInline):
    model = ToolsetMember
    extra = 1
    fields = ("tool", "display_name", "description")


class BoundFilter(admin.SimpleListFilter):
    title = "bound to tokens"
    parameter_name = "bound"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(tokens__isnull=False).distinct()
        if self.value() == "no":
            return queryset.filter(tokens__isnull=True)
        return queryset


@admin.register(Toolset)
class ToolsetAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "member_count", "endpoint", "updated_at")
    list_filter = (BoundFilter, "updated_at")
    search_fields = ("slug", "title", "description", "members__tool")
    readonly_fields = ("created_at", "updated_at")
    inlines = (ToolsetMemberInline,)
    filter_horizontal = ("oauth_clients",)
    actions = ("delete_selected",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="tools", ordering="member_count")
    def member_count(self, obj: Toolset) -> int:
        return obj.member_count

    @admin.display(description="MCP endpoint")
    def endpoint(self, obj: Toolset) -> str:
        return f"/mcp/{obj.slug}"
