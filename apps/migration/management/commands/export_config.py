"""`manage.py export_config [FILE]`: the current state in the target legacy YAML shape."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.migration.services import export_config_yaml


class Command(BaseCommand):
    help = (
        "Write the current runtime settings, routing, tool enablement, bootstrap nodes and P2P "
        "settings in the legacy target dual-runtime shape (to FILE, or standard output)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", nargs="?", help="where to write (default: standard output)")

    def handle(self, *args, file: str | None, **options) -> None:
        text = export_config_yaml()
        if not file or file == "-":
            self.stdout.write(text, ending="")
            return
        try:
            Path(file).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {file}: {exc}") from None
        self.stderr.write(f"Exported to {file}")
