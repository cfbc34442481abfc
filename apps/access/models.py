"""API tokens: created in the admin, stored hashed, shown once."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    name = models.CharField(max_length=100, help_text="What or who uses this token.")
    prefix = models.CharField(
        max_length=12, unique=True, editable=False, help_text="First characters, to recognise it."
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text="tools:read, tools:call, admin")
    allowed_tools = models.TextField(
        blank=True,
        help_text="Optional glob patterns, one per line or comma-separated (e.g. echo*); "
        "empty allows every tool.",
    )
    # Bound to toolsets, the token sees and calls only their tools (on every door), within
    # `allowed_tools` too; unbound, `allowed_tools` alone decides.
    toolsets = models.ManyToManyField(
        "toolsets.Toolset",
        blank=True,
        related_name="tokens",
        help_text="When set, the token sees and calls only these toolsets' tools.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def tool_patterns(self) -> tuple[str, ...]:
        parts = self.allowed_tools.replace(",", "\n").splitlines()
        return tuple(p.strip() for p in parts if p.strip())

    @property
    def is_active(self) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > timezone.now())


class TokenCutoff(models.Model):
    """JWTs issued before `not_before` are refused: set when the user's password changes or the
    user is deactivated, so every token issued before stops working (legacy ones too)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="token_cutoff",
    )
    not_before = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user} tokens from {self.not_before:%Y-%m-%d %H:%M:%S}"


class RefreshToken(models.Model):
    """One refresh token of a login: used once (it is rotated at every refresh); the chain of
    a login (`family`) ends at `session_expires_at` whatever the refreshes."""

    jti = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="refresh_tokens"
    )
    family = models.CharField(max_length=64, db_index=True)
    expires_at = models.DateTimeField()
    session_expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} refresh {self.jti[:8]}…"


class AccessVersion(models.Model):
    """One row (pk=1): bumped in the same transaction as any change that can alter who a
    credential is (a token created, edited, revoked or deleted; a user edited, deactivated,
    given a new password or deleted), so every process drops its cached principals."""

    version = models.BigIntegerField(default=1)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="access_version_singleton")
        ]

    def __str__(self) -> str:
        return f"access version {self.version}"
