"""Toolsets (virtual servers): named, curated subsets of the catalogue, each served at
`/mcp/<slug>`; an API token bound to toolsets sees and calls only their tools."""

from fnmatch import fnmatchcase

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from oauth2_provider.settings import oauth2_settings

# `/mcp/tools/*`, `/mcp/discover` and `/mcp/p2p/*` are legacy REST routes: no toolset may hide
# them. The rest guard names the platform may want under /mcp later.
RESERVED_SLUGS = frozenset({"tools", "discover", "p2p", "sse", "messages", "health"})
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"


def validate_slug(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(
            f"'{value}' is reserved (/mcp/{value} is another route)", code="reserved"
        )


class Toolset(models.Model):
    slug = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(SLUG_PATTERN, "Lower-case letters, digits and inner hyphens."),
            validate_slug,
        ],
        help_text="Served at /mcp/<slug>.",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # An OAuth client bound to toolsets gets tokens that see and call only their tools (API
    # tokens are bound on their own row: ApiToken.toolsets).
    oauth_clients = models.ManyToManyField(
        oauth2_settings.APPLICATION_MODEL,
        blank=True,
        related_name="toolsets",
        help_text="OAuth clients whose tokens see and call only the tools of their toolsets.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ToolsetMember(models.Model):
    """One tool (or a glob over tool names) of a toolset, with optional overrides of how the
    toolset's endpoint shows it."""

    toolset = models.ForeignKey(Toolset, on_delete=models.CASCADE, related_name="members")
    tool = models.CharField(max_length=200, help_text="A tool name, or a glob (e.g. echo*).")
    display_name = models.CharField(
        max_length=200, blank=True, help_text="The title clients show (a single tool only)."
    )
    description = models.TextField(
        blank=True, help_text="Replaces the tool's description on this toolset's endpoint."
    )

    class Meta:
        ordering = ["toolset", "tool"]
        constraints = [
            models.UniqueConstraint(fields=["toolset", "tool"], name="toolset_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.toolset_id}:{self.tool}"

    def matches(self, tool_name: str) -> bool:
        return fnmatchcase(tool_name, self.tool)
