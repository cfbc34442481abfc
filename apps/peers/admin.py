"""Peers in the admin: trust and enable inline or in bulk, observed fields read-only, links to
the live status pages; bootstrap nodes; the P2P settings singleton."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.audit.capture import recording_bulk_update
from apps.peers import selectors, services
from apps.peers.models import BootstrapNode, P2PSettings, Peer

OBSERVED = (
    "status",
    "last_seen",
    "rtt_ms",
    "last_error",
    "failure_count",
    "next_retry_at",
    "agent_version",
    "tools",
    "created_at",
    "updated_at",
)


class DisplayStatusFilter(admin.SimpleListFilter):
    """The badge the status pages show: disabled wins over the observed status."""

    title = "status"
    parameter_name = "badge"

    def lookups(self, request, model_admin):
        return [(s, str(s).capitalize()) for s in selectors.STATUS_FILTERS]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(pk__in=selectors.peers_filtered(status=self.value()).values("pk"))


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin):
    list_display = (
        "short_id",
        "badge",
        "enabled",
        "trusted",
        "source",
        "rtt",
        "last_seen",
        "tool_count",
        "live_link",
    )
    list_display_links = ("short_id",)
    list_editable = ("enabled", "trusted")
    list_filter = (DisplayStatusFilter, "trusted", "enabled", "source")
    search_fields = ("peer_id", "note", "agent_version")
    ordering = ("peer_id",)
    list_per_page = 100
    readonly_fields = ("live_link", *OBSERVED)
    fieldsets = (
        (None, {"fields": ("peer_id", "addresses", "source", "note", "live_link")}),
        ("Admin intent", {"fields": ("enabled", "trusted")}),
        ("Observed by the P2P engine", {"fields": OBSERVED}),
    )
    actions = ("trust_peers", "distrust_peers", "enable_peers", "disable_peers")

    def view_on_site(self, obj: Peer) -> str:
        return reverse("peers:detail", args=[obj.peer_id])

    @admin.display(description="peer", ordering="peer_id")
    def short_id(self, obj: Peer) -> str:
        pid = obj.peer_id
        return f"{pid[:8]}…{pid[-6:]}" if len(pid) > 20 else pid

    @admin.display(description="status", ordering="status")
    def badge(self, obj: Peer) -> str:
        return selectors.display_status(obj)

    @admin.display(description="RTT", ordering="rtt_ms")
    def rtt(self, obj: Peer) -> str:
        return "—" if obj.rtt_ms is None else f"{obj.rtt_ms:.1f} ms"

    @admin.display(description="tools")
    def tool_count(self, obj: Peer) -> int:
        return len(obj.tools or [])

    @admin.display(description="live status")
    def live_link(self, obj: Peer) -> str:
        if obj.pk is None:
            return "—"
        return format_html('<a href="{}">live status</a>', self.view_on_site(obj))

    def save_model(self, request: HttpRequest, obj: Peer, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: services.announce_peer_change([obj.peer_id]))

    def _set(self, request: HttpRequest, queryset: QuerySet[Peer], verb: str, **intent) -> None:
        changed = services.set_peer_intent(peers=queryset, actor=request.user, **intent)
        self.message_user(request, f"{verb} {changed} peer(s).", messages.SUCCESS)

    @admin.action(description="Trust selected peers (they may list and call tools)")
    def trust_peers(self, request, queryset):
        self._set(request, queryset, "Trusted", trusted=True)

    @admin.action(description="Distrust selected peers")
    def distrust_peers(self, request, queryset):
        self._set(request, queryset, "Distrusted", trusted=False)

    @admin.action(description="Enable selected peers")
    def enable_peers(self, request, queryset):
        self._set(request, queryset, "Enabled", enabled=True)

    @admin.action(description="Disable selected peers (never dialled)")
    def disable_peers(self, request, queryset):
        self._set(request, queryset, "Disabled", enabled=False)


@admin.register(BootstrapNode)
class BootstrapNodeAdmin(admin.ModelAdmin):
    list_display = ("multiaddr", "enabled", "note", "created_at")
    list_editable = ("enabled",)
    list_filter = ("enabled",)
    search_fields = ("multiaddr", "note")
    actions = ("enable_nodes", "disable_nodes")

    @admin.action(description="Enable selected bootstrap nodes")
    def enable_nodes(self, request, queryset):
        with recording_bulk_update(queryset=queryset, changes={"enabled": True}):
            count = queryset.update(enabled=True)
        self.message_user(request, f"Enabled {count} node(s).")

    @admin.action(description="Disable selected bootstrap nodes")
    def disable_nodes(self, request, queryset):
        with recording_bulk_update(queryset=queryset, changes={"enabled": False}):
            count = queryset.update(enabled=False)
        self.message_user(request, f"Disabled {count} node(s).")


@admin.register(P2PSettings)
class P2PSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return not P2PSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
