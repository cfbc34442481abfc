from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "apps.oauth"
    label = "oauth"
    verbose_name = "OAuth sign-in for MCP clients"

    def ready(self) -> None:
        from apps.access.services import register_bearer_scheme
        from apps.oauth.services import principal_for_access_token
        from apps.oauth.tokens import ACCESS_TOKEN_PREFIX

        register_bearer_scheme(prefix=ACCESS_TOKEN_PREFIX, resolve=principal_for_access_token)
