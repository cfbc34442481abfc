import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from mcp_platform.supervisor import ChildSpec, Supervisor


def web_child(*, host: str, port: int, workers: int) -> ChildSpec:
    return ChildSpec(
        name="web",
        argv=[
            sys.executable, "-m", "uvicorn", "mcp_platform.asgi:application",
            "--host", host, "--port", str(port), "--workers", str(workers),
            "--lifespan", "on", "--timeout-graceful-shutdown", "30", "--no-access-log",
        ],
    )


def platform_children(*, host: str, port: int, workers: int) -> list[ChildSpec]:
    """The processes of one node, in the order they are stopped."""
    return [web_child(host=host, port=port, workers=workers)]


class Command(BaseCommand):
    help = "Run the platform: the web process (and the runtimes beside it), supervised."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.MCP_PLATFORM_HOST)
        parser.add_argument("--port", type=int, default=settings.MCP_PLATFORM_WEB_PORT)
        parser.add_argument("--workers", type=int, default=1, help="web worker processes")

    def handle(self, *args, host: str, port: int, workers: int, **options) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(f"MCP Platform on http://{host}:{port}/ (admin: /admin/, API docs: /docs)")
        self.stdout.flush()
        Supervisor(platform_children(host=host, port=port, workers=workers)).run()
