from django.core.management.base import BaseCommand

from apps.tools.services import sync_prompts, sync_resources, sync_tools


class Command(BaseCommand):
    help = (
        "Upsert registered tools, prompts and resources into the catalogue (keeps admins' edits)."
    )

    def handle(self, *args, **options) -> None:
        for label, sync in (
            ("tools", sync_tools),
            ("prompts", sync_prompts),
            ("resources", sync_resources),
        ):
            report = sync()
            self.stdout.write(
                f"{label}: {len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.missing)} marked missing, {len(report.restored)} restored"
            )
            for name, fields in sorted(report.kept_admin_edits.items()):
                self.stdout.write(f"  kept admin edits on {name}: {', '.join(fields)}")
            for name in report.missing:
                self.stdout.write(f"  missing (code gone): {name}")
