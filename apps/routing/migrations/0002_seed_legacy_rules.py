"""Seed the routing rules for the legacy tool families and the two singletons.

Ordinary rows: an admin may edit or delete them, and re-running migrations does not re-create
a rule an admin deleted (the seed runs once, as migrations do).
"""

from django.db import migrations

LEGACY_FAMILIES = ("p2p_*", "workflow_*", "taskqueue_*", "peer_*", "bootstrap_*")
NOTE = "Seeded: legacy tool family that runs on the Trio runtime."


def seed(apps, schema_editor):
    RoutingRule = apps.get_model("routing", "RoutingRule")
    RuntimeSettings = apps.get_model("routing", "RuntimeSettings")
    RoutingVersion = apps.get_model("routing", "RoutingVersion")
    for pattern in LEGACY_FAMILIES:
        if not RoutingRule.objects.filter(name_pattern=pattern, category="").exists():
            RoutingRule.objects.create(
                name_pattern=pattern, runtime="trio", priority=10, enabled=True, note=NOTE
            )
    RuntimeSettings.objects.get_or_create(pk=1)
    RoutingVersion.objects.get_or_create(pk=1)


def unseed(apps, schema_editor):
    RoutingRule = apps.get_model("routing", "RoutingRule")
    RoutingRule.objects.filter(note=NOTE, name_pattern__in=LEGACY_FAMILIES).delete()


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
