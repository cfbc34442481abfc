"""MCP Platform: project package (settings, ASGI router, supervisor)."""

__version__ = "0.1.0"
