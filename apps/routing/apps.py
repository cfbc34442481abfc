from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "apps.routing"
    label = "routing"
    verbose_name = "Routing and runtimes"

    def ready(self) -> None:
        from apps.routing.services import on_catalogue_changed
        from apps.tools.signals import catalogue_changed

        catalogue_changed.connect(on_catalogue_changed, dispatch_uid="routing.bump_version")
