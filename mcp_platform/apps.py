from django.apps import AppConfig
from django.core import checks


class PlatformConfig(AppConfig):
    name = "mcp_platform"
    label = "mcp_platform"
    verbose_name = "MCP Platform"

    def ready(self) -> None:
        checks.register(check_data_dir_is_private, checks.Tags.security)
        from mcp_platform import tracing

        # Every process (web, Trio runtime, workers) traces when OTEL_* says so; else free.
        tracing.configure_from_env()


def check_data_dir_is_private(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every manage.py command (migrate, runplatform, ...) refuses to run while other users
    can read the data directory or a secret file in it."""
    from django.conf import settings

    from mcp_platform.file_modes import exposure_problems

    return [
        checks.Error(problem, id="mcp_platform.E001")
        for problem in exposure_problems(settings.DATA_DIR)
    ]
