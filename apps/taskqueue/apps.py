from django.apps import AppConfig


class TaskQueueConfig(AppConfig):
    name = "apps.taskqueue"
    label = "taskqueue"
    verbose_name = "P2P task queue and workflows"
