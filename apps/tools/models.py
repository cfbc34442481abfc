"""The catalogue (Tool, Prompt, Resource) and the call log (ToolCall)."""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from apps.tools.registry import NAME_PATTERN


class Runtime(models.TextChoices):
    AUTO = "auto", "auto (routing decides)"
    ASYNCIO = "asyncio", "asyncio (web process)"
    TRIO = "trio", "trio (Trio runtime)"


class RetryPolicy(models.TextChoices):
    NONE = "none"
    FIXED = "fixed"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class Tool(models.Model):
    """A tool in the catalogue: its code's metadata, as synced and as an admin edited it."""

    name = models.CharField(max_length=128, unique=True, validators=[RegexValidator(NAME_PATTERN)])
    title = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=64, default="general", db_index=True)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(default=dict)
    output_schema = models.JSONField(null=True, blank=True)
    runtime = models.CharField(max_length=8, choices=Runtime.choices, default=Runtime.AUTO)
    requires_p2p = models.BooleanField(default=False)
    priority = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(0), MaxValueValidator(10)],
        help_text="0-10, higher runs first when work is queued.",
    )
    timeout_seconds = models.FloatField(default=30.0, validators=[MinValueValidator(0.001)])
    retry_policy = models.CharField(
        max_length=12, choices=RetryPolicy.choices, default=RetryPolicy.NONE
    )
    max_retries = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(10)],
        help_text="Retries apply only to idempotent tools.",
    )
    memory_intensive = models.BooleanField(default=False)
    cpu_intensive = models.BooleanField(default=False)
    io_intensive = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True, db_index=True)
    audit_arguments = models.BooleanField(
        default=False,
        help_text="Store each call's arguments in the audit trail (secrets redacted by the "
        "input schema); otherwise only their SHA-256.",
    )
    fallback_allowed = models.BooleanField(
        default=True, help_text="May run on asyncio when the Trio runtime is down."
    )
    deprecated = models.BooleanField(default=False)
    deprecation_message = models.CharField(max_length=500, blank=True)
    schema_version = models.CharField(max_length=16, default="1.0")
    read_only_hint = models.BooleanField(default=False)
    destructive_hint = models.BooleanField(default=False)
    idempotent_hint = models.BooleanField(default=False)
    open_world_hint = models.BooleanField(default=False)
    required_scope = models.CharField(
        max_length=32,
        blank=True,
        help_text="A scope the caller needs besides tools:call (admin for tools that act as "
        "the node); declared in code, enforced by the call service.",
    )
    missing = models.BooleanField(
        default=False, db_index=True, help_text="Its code is no longer registered."
    )
    # The metadata as code declared it at the last sync: a field that differs from it was
    # edited by an admin, and sync leaves it alone.
    code_metadata = models.JSONField(default=dict, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(priority__gte=0, priority__lte=10), name="tool_priority_0_10"
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gt=0), name="tool_timeout_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(max_retries__lte=10), name="tool_max_retries_at_most_10"
            ),
            models.CheckConstraint(
                condition=models.Q(runtime__in=Runtime.values), name="tool_runtime_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(retry_policy__in=RetryPolicy.values),
                name="tool_retry_policy_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(name__regex=NAME_PATTERN), name="tool_name_format"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def callable(self) -> bool:
        return self.enabled and not self.missing

    @property
    def annotations(self) -> dict[str, bool]:
        return {
            "readOnlyHint": self.read_only_hint,
            "destructiveHint": self.destructive_hint,
            "idempotentHint": self.idempotent_hint,
            "openWorldHint": self.open_world_hint,
        }


ARGUMENT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_prompt_arguments(arguments: Any) -> None:
    """A prompt's declared arguments: a list of {"name", "description"?, "required"?,
    "values"?} objects with unique identifier names."""
    if not isinstance(arguments, list):
        raise ValidationError("a list of argument objects")
    names = set()
    for argument in arguments:
        if not isinstance(argument, dict) or not isinstance(argument.get("name"), str):
            raise ValidationError('each argument is an object with a "name"')
        if not ARGUMENT_NAME_RE.match(argument["name"]):
            raise ValidationError(f"bad argument name {argument['name']!r}")
        values = argument.get("values", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValidationError('"values" must be a list of strings')
        names.add(argument["name"])
    if len(names) != len(arguments):
        raise ValidationError("argument names must be unique")


class CatalogueEntry(models.Model):
    """What a prompt and a resource share: a unique name, enabled by an admin, missing when its
    code is no longer registered, and the code's metadata at the last sync."""

    name = models.CharField(max_length=128, unique=True, validators=[RegexValidator(NAME_PATTERN)])
    enabled = models.BooleanField(default=True, db_index=True)
    missing = models.BooleanField(
        default=False, db_index=True, help_text="Its code is no longer registered."
    )
    code_metadata = models.JSONField(default=dict, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(name__regex=NAME_PATTERN), name="%(class)s_name_format"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def servable(self) -> bool:
        return self.enabled and not self.missing


class Prompt(CatalogueEntry):
    """A prompt in the catalogue: registered in code (`@prompt`, synced like tools) or written
    in the admin alone (`template` with `{argument}` placeholders)."""

    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    arguments = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_prompt_arguments],
        help_text='A list of {"name": ..., "description": ..., "required": true/false, '
        '"values": [...]} ("values", optional, are offered by completion/complete).',
    )
    template = models.TextField(
        blank=True,
        help_text="For prompts written here: the user message, with {argument} placeholders. "
        "Prompts from code render themselves and ignore it.",
    )
    from_code = models.BooleanField(default=False, editable=False)


class Resource(CatalogueEntry):
    """A resource (fixed URI) or resource template (URI with `{variables}`) from code."""

    uri = models.CharField(max_length=500, db_index=True)
    is_template = models.BooleanField(default=False, editable=False)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    mime_type = models.CharField(max_length=100, default="text/plain")

    def __str__(self) -> str:
        return f"{self.name} ({self.uri})"


class Outcome(models.TextChoices):
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    INVALID = "invalid", "invalid arguments"
    DENIED = "denied"
    NOT_FOUND = "not_found", "not found"
    UNAVAILABLE = "unavailable", "runtime unavailable"
    RATE_LIMITED = "rate_limited", "rate limited"


class ToolCall(models.Model):
    """One call, as recorded by the call service (written in batches, off the request path)."""

    tool_name = models.CharField(max_length=128, db_index=True)
    runtime = models.CharField(max_length=8, blank=True)
    caller = models.CharField(max_length=200, blank=True)
    via = models.CharField(max_length=16, blank=True, help_text="rest, mcp, p2p, job, ...")
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.FloatField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    fallback = models.BooleanField(default=False)
    pid = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["tool_name", "-started_at"], name="toolcall_tool_recent")]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.outcome})"
