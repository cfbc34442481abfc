import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin when no superuser exists; print a generated password once."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = settings.MCP_PLATFORM_ADMIN_USER
        password = settings.MCP_PLATFORM_ADMIN_PASSWORD
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created the first admin user '{username}'."))
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"  password: {password}\n  (shown once; set MCP_PLATFORM_ADMIN_PASSWORD to choose it)"
                )
            )
