from django.core.management.base import BaseCommand

from apps.audit import calls, selectors


class Command(BaseCommand):
    help = "Write the audit trail as JSON lines (oldest first) to stdout or --output."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="A file to write instead of stdout.")

    def handle(self, *args, output=None, **options):
        calls.flush()
        if output:
            with open(output, "w", encoding="utf-8") as stream:
                stream.writelines(selectors.export_lines())
        else:
            for line in selectors.export_lines():
                self.stdout.write(line, ending="")
