"""Peers of this node's libp2p host, bootstrap nodes, and the P2P settings."""

from django.db import models


class PeerSource(models.TextChoices):
    BOOTSTRAP = "bootstrap"
    MDNS = "mdns"
    INBOUND = "inbound"
    MANUAL = "manual"


class PeerStatus(models.TextChoices):
    UNKNOWN = "unknown"
    CONNECTED = "connected"
    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"


class Peer(models.Model):
    """A remote peer: admin intent (enabled, trusted) kept apart from what is observed."""

    peer_id = models.CharField(max_length=128, unique=True)
    addresses = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=10, choices=PeerSource.choices, default=PeerSource.MANUAL)
    # Admin intent.
    enabled = models.BooleanField(default=True, help_text="A disabled peer is never dialled.")
    trusted = models.BooleanField(
        default=False, help_text="Only trusted peers may list and call tools."
    )
    note = models.CharField(max_length=300, blank=True)
    # Observed.
    status = models.CharField(
        max_length=12, choices=PeerStatus.choices, default=PeerStatus.UNKNOWN, db_index=True
    )
    last_seen = models.DateTimeField(null=True, blank=True)
    rtt_ms = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    agent_version = models.CharField(max_length=200, blank=True)
    tools = models.JSONField(default=list, blank=True, help_text="Tool names the peer offers.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["peer_id"]

    def __str__(self) -> str:
        return self.peer_id


class BootstrapNode(models.Model):
    """A multiaddr (with /p2p/<peer id>) this node dials at start and keeps connected."""

    multiaddr = models.CharField(max_length=500, unique=True)
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["multiaddr"]

    def __str__(self) -> str:
        return self.multiaddr


class P2PSettings(models.Model):
    """The admin-editable singleton (pk=1) of this node's P2P settings."""

    # Every field here is read by the code it names (docs/configuration.md): settings that
    # nothing enforced (mDNS, DHT, relay, max connections, task and workflow timeouts) were
    # removed, and the legacy importer reports them as ignored with the reason.
    enabled = models.BooleanField(default=True, help_text="Run the libp2p host (at start).")
    peer_ttl = models.PositiveIntegerField(
        default=3600,
        help_text="Seconds an untrusted peer that only dialled in is kept after it was last seen.",
    )
    connection_timeout = models.FloatField(default=10.0, help_text="Seconds a dial may take.")
    taskqueue_max_tasks = models.PositiveIntegerField(default=10000)
    workflow_max = models.PositiveIntegerField(default=100)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "P2P settings"
        verbose_name_plural = "P2P settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="p2p_settings_singleton")
        ]

    def __str__(self) -> str:
        return "P2P settings"


class PeerRttSample(models.Model):
    """One round-trip time measured to a peer; the status pages chart the last hour of them."""

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="rtt_samples")
    rtt_ms = models.FloatField()
    measured_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["measured_at"]
        indexes = [models.Index(fields=["peer", "measured_at"], name="peer_rtt_recent")]
        constraints = [
            models.CheckConstraint(condition=models.Q(rtt_ms__gte=0), name="peer_rtt_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.peer_id}: {self.rtt_ms} ms at {self.measured_at:%H:%M:%S}"
