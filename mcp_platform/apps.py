from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "mcp_platform"
    label = "mcp_platform"
    verbose_name = "MCP Platform"
