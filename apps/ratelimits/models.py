"""Rate limits: how many calls of which tools a caller may make per window, and how many may
be in flight at once (apps.ratelimits.limiter enforces them in the call path)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# The moving window keeps one entry per call in the window: bounded, so a row cannot make the
# counts grow without end.
MAX_LIMIT = 1_000_000
MAX_WINDOW_SECONDS = 31_536_000  # a year


class LimitKind(models.TextChoices):
    RATE = "rate", "calls per window (per caller)"
    CONCURRENCY = "concurrency", "calls in flight (per tool)"


class RateLimit(models.Model):
    """One limit. `tool` and `principal` are globs (fnmatch) over tool names and principal
    names; every enabled row that matches a call applies to it.

    A `rate` row allows each matching caller `limit` calls of each matching tool per
    `window_seconds` (a moving window). A `concurrency` row allows at most `limit` calls of
    each matching tool in flight at once, counted over all matching callers.
    """

    name = models.SlugField(max_length=100, unique=True)
    tool = models.CharField(max_length=200, default="*", help_text="glob over tool names")
    principal = models.CharField(
        max_length=200, default="*", help_text="glob over principal names, or * for everyone"
    )
    kind = models.CharField(max_length=12, choices=LimitKind.choices, default=LimitKind.RATE)
    limit = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LIMIT)]
    )
    window_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_SECONDS)],
        help_text="the rate's window in seconds (rate limits only)",
    )
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:  # the audit trail's target: stable across edits
        return self.name

    def clean(self) -> None:
        errors = {}
        for field in ("tool", "principal"):
            if not (getattr(self, field) or "").strip():
                errors[field] = "must not be empty (use * for all)"
        if errors:
            raise ValidationError(errors)
