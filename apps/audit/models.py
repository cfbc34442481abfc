"""The audit trail: append-only, hash-chained events (each carries the previous one's hash)."""

from __future__ import annotations

from django.db import models


class Origin(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    IMPORTER = "importer", "Importer"
    COMMAND = "command", "Management command"
    TOOL = "tool", "Tool acting as the node"
    CALL = "call", "Tool call"
    SYSTEM = "system", "Audit trail itself"


class AuditEvent(models.Model):
    """One change or tool call. Never updated or deleted by the platform, except by retention
    pruning, which records a checkpoint event so the chain still verifies."""

    seq = models.PositiveBigIntegerField(unique=True, help_text="Position in the chain.")
    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=200, db_index=True, help_text="Who: user:, token:, ...")
    origin = models.CharField(max_length=10, choices=Origin.choices)
    source = models.CharField(max_length=200, blank=True, help_text="From where: address, peer.")
    action = models.CharField(max_length=32, db_index=True)
    target = models.CharField(max_length=300, db_index=True, help_text="app.model:key or tool:")
    changes = models.JSONField(
        default=dict, blank=True, help_text="Changed fields {before, after}, or the call."
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["target", "-seq"], name="audit_target_seq")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor} {self.action} {self.target}"


class AuditChain(models.Model):
    """The chain's one head row: the last event, and the anchor verification starts from (the
    hash of the last pruned event; zeros before any pruning). Appends lock this row."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    anchor_seq = models.PositiveBigIntegerField(default=0)
    anchor_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_single")]

    def __str__(self) -> str:
        return f"audit chain at #{self.last_seq}"
