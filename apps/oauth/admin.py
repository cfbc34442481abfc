"""OAuth clients, grants and tokens in the admin, listed and revocable.

django-oauth-toolkit registers its models with the classes named in OAUTH2_PROVIDER (settings)
and brings the revoke actions; these add what a platform admin asks first: which user, which
scopes, which resource.
"""

from __future__ import annotations

from django.contrib import admin, messages
from oauth2_provider import admin as toolkit_admin

from apps.oauth import services


class ApplicationAdmin(toolkit_admin.ApplicationAdmin):
    actions = ("revoke_tokens",)

    @admin.action(description="Revoke every token of the selected clients")
    def revoke_tokens(self, request, queryset) -> None:
        count = services.revoke_client_tokens(clients=queryset)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


class AccessTokenAdmin(toolkit_admin.AccessTokenAdmin):
    list_display = ("masked_token", "user", "application", "scope", "resource", "expires")


class RefreshTokenAdmin(toolkit_admin.RefreshTokenAdmin):
    list_display = ("masked_token", "user", "application", "resource", "created", "revoked")
    list_filter = ("application", "revoked")


class GrantAdmin(toolkit_admin.GrantAdmin):
    list_display = ("masked_code", "application", "user", "scope", "resource", "expires")
