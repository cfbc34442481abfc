from django.apps import AppConfig


class ToolsConfig(AppConfig):
    name = "apps.tools"
    label = "tools"
    verbose_name = "Tools"

    def ready(self) -> None:
        from apps.audit.calls import register_tool_policies
        from apps.routing.services import on_catalogue_changed
        from apps.tools.discovery import discover_tools
        from apps.tools.selectors import audit_policies
        from apps.tools.signals import catalogue_changed

        # Every catalogue change moves the routing version (routes and cached tools follow it).
        catalogue_changed.connect(on_catalogue_changed, dispatch_uid="routing.bump_version")

        register_tool_policies(audit_policies)
        discover_tools()
