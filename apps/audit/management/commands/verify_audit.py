from django.core.management.base import BaseCommand, CommandError

from apps.audit import services


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exits non-zero at the first bad event."

    def handle(self, *args, **options):
        result = services.verify_chain()
        if not result.ok:
            raise CommandError(
                f"audit chain broken at event {result.first_bad} ({result.problem}); "
                f"{result.checked} events verified before it"
            )
        self.stdout.write(f"audit chain ok: {result.checked} events verified")
