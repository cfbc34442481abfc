from django.apps import AppConfig


class ToolsConfig(AppConfig):
    name = "apps.tools"
    label = "tools"
    verbose_name = "Tools"

    def ready(self) -> None:
        from apps.tools.discovery import discover_tools

        discover_tools()
