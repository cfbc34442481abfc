"""`manage.py import_legacy_config FILE [--dry-run]`: plan, show and apply a legacy config."""

from __future__ import annotations

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.migration.services import import_legacy_config


class Command(BaseCommand):
    help = (
        "Import a legacy ipfs_datasets_py MCP server config (any of its four YAML shapes): "
        "validate it, print the plan as a diff, and apply it in one transaction."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="the legacy YAML file ('-' reads standard input)")
        parser.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")

    def handle(self, *args, file: str, dry_run: bool, **options) -> None:
        if file == "-":
            import sys

            text, name = sys.stdin.read(), "(stdin)"
        else:
            path = Path(file)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {file}: {exc}") from None
            name = str(path)
        result = import_legacy_config(
            text=text, source_name=name, dry_run=dry_run, actor_name=_who(), via="command"
        )
        if result.plan is not None:
            self.stdout.write(result.plan.render())
        if not result.ok:
            raise CommandError(f"{result.error}\n(recorded as migration run #{result.run.pk})")
        verdict = {
            "dry_run": "Dry run: nothing was written.",
            "unchanged": "Nothing to do: the platform already matches this file.",
            "applied": f"Applied {result.run.changes} changes.",
        }[result.run.status]
        self.stdout.write(self.style.SUCCESS(f"{verdict} (migration run #{result.run.pk})"))


def _who() -> str:
    try:
        return f"{getpass.getuser()} (command line)"
    except Exception:
        return "command line"
