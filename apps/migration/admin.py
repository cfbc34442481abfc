"""The migration admin: the upload page (preview, then apply) and the read-only run history."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.migration.forms import LegacyConfigUploadForm
from apps.migration.models import MigrationRun, RunStatus
from apps.migration.services import import_legacy_config

IMPORT_PERMISSION = "migration.import_legacy_config"


def diff_lines(text: str) -> list[tuple[str, str]]:
    """The rendered plan's lines, each with the CSS class a diff gives it."""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        kind = "add" if stripped.startswith("+ ") else "remove" if stripped.startswith("- ") else ""
        if line and not line.startswith(" "):
            kind = "heading"
        lines.append((kind, line))
    return lines


def render_diff(text: str) -> str:
    return format_html(
        '<pre class="migration-plan">{}</pre>',
        format_html_join("\n", '<span class="{}">{}</span>', diff_lines(text)),
    )


@admin.register(MigrationRun)
class MigrationRunAdmin(admin.ModelAdmin):
    list_display = ("created_at", "status", "source_name", "shape", "changes", "who", "via")
    list_filter = ("status", "shape", "via")
    search_fields = ("source_name", "source_hash", "actor_name")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    fields = (
        "status",
        "created_at",
        "who",
        "via",
        "source_name",
        "source_hash",
        "shape",
        "changes",
        "log_as_diff",
        "source",
    )
    readonly_fields = fields
    change_list_template = "admin/migration/migrationrun/change_list.html"

    @admin.display(description="who", ordering="actor_name")
    def who(self, run: MigrationRun) -> str:
        return run.actor_name or (run.actor.get_username() if run.actor else "")

    @admin.display(description="plan and log")
    def log_as_diff(self, run: MigrationRun) -> str:
        return render_diff(run.log)

    # The history is a record: nobody adds, edits or deletes runs by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="migration_migrationrun_import"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "may_import": request.user.has_perm(IMPORT_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the upload form. POST a file: its plan (a dry run). POST `apply`: apply it."""
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import a legacy config",
        }
        if request.method == "POST" and "apply" in request.POST:
            return self._apply(request)
        form = LegacyConfigUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            result = import_legacy_config(
                text=form.cleaned_data["text"],
                source_name=form.cleaned_data["source_name"],
                dry_run=True,
                actor=request.user,
                via="admin",
            )
            context.update(run=result.run, error=result.error, plan=result.plan)
            if result.plan is not None:
                context["plan_html"] = render_diff(result.plan.render())
        context["form"] = form
        return TemplateResponse(request, "admin/migration/migrationrun/import.html", context)

    def _apply(self, request: HttpRequest) -> HttpResponse:
        previewed = get_object_or_404(
            MigrationRun, pk=request.POST.get("run"), status=RunStatus.DRY_RUN
        )
        result = import_legacy_config(
            text=previewed.source,
            source_name=previewed.source_name,
            actor=request.user,
            via="admin",
        )
        if result.error:
            self.message_user(request, result.error, messages.ERROR)
        elif result.run.status == RunStatus.UNCHANGED:
            self.message_user(request, "Nothing to do: the platform already matches this file.")
        else:
            self.message_user(request, f"Applied {result.run.changes} changes.", messages.SUCCESS)
        url = reverse("admin:migration_migrationrun_change", args=[result.run.pk])
        return HttpResponseRedirect(url)
