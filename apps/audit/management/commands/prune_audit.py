from django.core.management.base import BaseCommand

from apps.audit import services


class Command(BaseCommand):
    help = (
        "Delete audit events older than the retention (MCP_PLATFORM_AUDIT_RETENTION_DAYS, or "
        "--days), recording a checkpoint so the chain still verifies."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args, days=None, **options):
        count = services.prune_expired(days=days)
        self.stdout.write(f"pruned {count} audit events")
