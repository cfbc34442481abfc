import os

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the Trio runtime: bridge, control and health endpoints, heartbeat, routing reloader."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.MCP_PLATFORM_HOST)
        parser.add_argument("--port", type=int, default=settings.MCP_PLATFORM_TRIO_PORT)
        parser.add_argument(
            "--drain-seconds",
            type=float,
            default=30.0,
            help="how long in-flight calls may take on stop",
        )

    def handle(self, *args, host: str, port: int, drain_seconds: float, **options) -> None:
        from trio_runtime.main import RuntimeConfig, run

        run(
            RuntimeConfig(
                host=host,
                port=port,
                drain_seconds=drain_seconds,
                heartbeat_seconds=float(os.environ.get("MCP_PLATFORM_HEARTBEAT_SECONDS", "1")),
                poll_seconds=float(os.environ.get("MCP_PLATFORM_ROUTING_POLL_SECONDS", "2")),
                redis_url=settings.REDIS_URL,
            )
        )
