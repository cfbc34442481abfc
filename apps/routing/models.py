"""Routing data: rules, runtime settings, the routing version, runtime instances."""

from django.core.exceptions import ValidationError
from django.db import models


class TargetRuntime(models.TextChoices):
    ASYNCIO = "asyncio", "asyncio (web process)"
    TRIO = "trio", "trio (Trio runtime)"


class RoutingRule(models.Model):
    """Sends tools matching a name glob (anchored) and/or a category to a runtime."""

    name_pattern = models.CharField(
        max_length=128, blank=True, help_text="Anchored glob on the tool name, e.g. p2p_*"
    )
    category = models.CharField(max_length=64, blank=True)
    runtime = models.CharField(max_length=8, choices=TargetRuntime.choices)
    priority = models.IntegerField(default=0, help_text="Higher is tried first; ties by id.")
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(name_pattern="", category=""), name="rule_matches_something"
            ),
            models.CheckConstraint(
                condition=models.Q(runtime__in=TargetRuntime.values), name="rule_runtime_valid"
            ),
        ]

    def __str__(self) -> str:
        what = " and ".join(
            part
            for part in (
                self.name_pattern and f"name {self.name_pattern}",
                self.category and f"category {self.category}",
            )
            if part
        )
        return f"{what} → {self.runtime}"

    def clean(self) -> None:
        # The constraints above hold in the database; here the same rule names its field, so a
        # 422 says which one to fix (a constraint's error would name none).
        if not self.name_pattern and not self.category:
            raise ValidationError({"name_pattern": "A rule needs a name pattern or a category."})


class RuntimeSettings(models.Model):
    """The admin-editable singleton (pk=1) of runtime-wide settings."""

    default_runtime = models.CharField(
        max_length=8, choices=TargetRuntime.choices, default=TargetRuntime.ASYNCIO
    )
    fallback_allowed = models.BooleanField(
        default=True, help_text="Trio-routed tools may fall back to asyncio when Trio is down."
    )
    fallback_timeout = models.FloatField(
        default=5.0, help_text="Seconds to wait for the Trio runtime before falling back."
    )
    trio_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "runtime settings"
        verbose_name_plural = "runtime settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="runtime_settings_singleton"),
            models.CheckConstraint(
                condition=models.Q(fallback_timeout__gt=0), name="fallback_timeout_positive"
            ),
        ]

    def __str__(self) -> str:
        return "Runtime settings"

    def clean(self) -> None:
        # As RoutingRule.clean: the field named, before the constraint (which names none).
        if self.fallback_timeout is not None and self.fallback_timeout <= 0:
            raise ValidationError({"fallback_timeout": "Must be more than 0 seconds."})


class RoutingVersion(models.Model):
    """One row (pk=1): bumped in the same transaction as any change to tools, rules, settings."""

    version = models.BigIntegerField(default=1)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="routing_version_singleton")
        ]

    def __str__(self) -> str:
        return f"routing version {self.version}"


class RuntimeStatus(models.TextChoices):
    STARTING = "starting"
    UP = "up"
    DRAINING = "draining"
    DOWN = "down"


class RuntimeInstance(models.Model):
    """A Trio runtime process, as its heartbeat reports it."""

    instance_id = models.CharField(max_length=64, unique=True)
    runtime = models.CharField(
        max_length=8, choices=TargetRuntime.choices, default=TargetRuntime.TRIO
    )
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    pid = models.PositiveIntegerField()
    peer_id = models.CharField(max_length=128, blank=True)
    listen_addrs = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    last_heartbeat = models.DateTimeField(db_index=True)
    routing_version = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=RuntimeStatus.choices, default=RuntimeStatus.STARTING
    )
    calls = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-last_heartbeat"]

    def __str__(self) -> str:
        return f"{self.runtime} {self.host}:{self.port} (pid {self.pid})"
