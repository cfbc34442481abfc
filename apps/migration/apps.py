from django.apps import AppConfig


class MigrationConfig(AppConfig):
    name = "apps.migration"
    label = "migration"

    def ready(self) -> None:
        from apps.tools.discovery import extra_sources

        extra_sources.append(register_legacy_tools)
        register_legacy_tools()  # the tools app discovered its sources before this app was ready


def register_legacy_tools() -> None:
    """Legacy tool modules register through the compatibility shim (apps/migration/shim.py)."""
    from django.conf import settings

    from apps.migration.shim import register_legacy_modules

    register_legacy_modules(settings.MCP_PLATFORM_LEGACY_TOOL_MODULES)
