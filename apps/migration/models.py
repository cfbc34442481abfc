"""Legacy migration runs: one row per import (applied, unchanged, dry run, invalid or failed)."""

from django.conf import settings
from django.db import models


class RunStatus(models.TextChoices):
    DRY_RUN = "dry_run", "dry run (nothing written)"
    APPLIED = "applied", "applied"
    UNCHANGED = "unchanged", "unchanged (already matched)"
    INVALID = "invalid", "invalid file"
    FAILED = "failed", "failed (rolled back)"


class MigrationRun(models.Model):
    """An import of a legacy config file: what was read, the plan, and what happened."""

    status = models.CharField(max_length=10, choices=RunStatus.choices, db_index=True)
    source_name = models.CharField(max_length=500, blank=True)
    source_hash = models.CharField(max_length=64, help_text="SHA-256 of the file.", db_index=True)
    source = models.TextField(blank=True, help_text="The file as imported.")
    shape = models.CharField(max_length=40, blank=True)
    plan = models.JSONField(default=dict, blank=True)
    changes = models.PositiveIntegerField(default=0, help_text="Database changes the plan holds.")
    log = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=200, blank=True, help_text="Who ran it.")
    via = models.CharField(max_length=20, blank=True, help_text="command or admin")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("import_legacy_config", "Can import a legacy config file")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=RunStatus.values), name="migration_run_status_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_name or 'legacy config'} · {self.get_status_display()}"
