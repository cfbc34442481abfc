from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "apps.access"
    label = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save
        from oauth2_provider.models import get_access_token_model

        from apps.access import principal_cache, signals
        from apps.access.models import ApiToken, TokenCutoff

        signals.connect()
        # Whatever can change who a credential is drops every process's cached principals.
        for model in (ApiToken, TokenCutoff, get_user_model(), get_access_token_model()):
            uid = f"access.version.{model._meta.label}"
            post_save.connect(principal_cache.on_credentials_saved, model, dispatch_uid=uid)
            post_delete.connect(principal_cache.on_credentials_deleted, model, dispatch_uid=uid)
