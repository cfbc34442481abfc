from django.apps import AppConfig


class PeersConfig(AppConfig):
    name = "apps.peers"
    label = "peers"
