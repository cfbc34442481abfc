from django.apps import AppConfig


class TaskQueueConfig(AppConfig):
    name = "apps.taskqueue"
    label = "taskqueue"
    verbose_name = "P2P task queue and workflows"

    def ready(self) -> None:
        from apps.taskqueue import selectors
        from apps.tools import api as tools_api

        tools_api.p2p_status = selectors.p2p_status  # /mcp/discover shows this node's P2P
