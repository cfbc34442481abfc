"""The audit trail in the admin: read-only, filterable, with a JSON-lines export."""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.utils.html import format_html

from apps.audit import selectors
from apps.audit.models import AuditEvent
from mcp_platform.admin import ReadOnlyAdminMixin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("seq", "at", "actor", "origin", "action", "target", "source")
    list_filter = ("origin", "action", "at")
    search_fields = ("actor", "target", "action", "hash")
    date_hierarchy = "at"
    list_per_page = 100
    show_full_result_count = False
    readonly_extra = ("changes_pretty",)
    actions = ("export_json_lines",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # append-only: retention prunes, with a checkpoint

    @admin.display(description="Changes")
    def changes_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, sort_keys=True))

    @admin.action(description="Export selected events as JSON lines")
    def export_json_lines(self, request, queryset):
        response = StreamingHttpResponse(
            selectors.export_lines(queryset), content_type="application/x-ndjson"
        )
        response["Content-Disposition"] = 'attachment; filename="audit.jsonl"'
        return response

    def get_actions(self, request):
        # The read-only mixin's permissions would hide the export; it only reads.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
