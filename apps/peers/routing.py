"""Websocket routes of the status pages (mounted by mcp_platform.asgi)."""

from django.urls import path

from apps.peers.consumers import StatusConsumer

websocket_urlpatterns = [
    path("ws/status/", StatusConsumer.as_asgi()),
]


def websocket_application():
    """Every websocket of the web process: signed-in users (session cookie), same-origin only."""
    from channels.auth import AuthMiddlewareStack
    from channels.routing import URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator

    return AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
