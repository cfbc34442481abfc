from django.apps import AppConfig


class ToolsetsConfig(AppConfig):
    name = "apps.toolsets"
    label = "toolsets"
    verbose_name = "Toolsets"

    def ready(self) -> None:
        from apps.toolsets import signals

        signals.connect()
