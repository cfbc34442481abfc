"""OAuth clients, grants and tokens in the admin, listed and revocable.

django-oauth-toolkit registers its models with the classes named in OAUTH2_PROVIDER (settings)
and brings the revoke actions; these add what a platform admin asks first: which user, which
scopes, which resource.
"""

from __future__ import annotations

from oauth2_provider import admin as toolkit_admin


class AccessTokenAdmin(toolkit_admin.AccessTokenAdmin):
    list_display = ("masked_token", "user", "application", "scope", "resource", "expires")


class RefreshTokenAdmin(toolkit_admin.RefreshTokenAdmin):
    list_display = ("masked_token", "user", "application", "resource", "created", "revoked")
    list_filter = ("application", "revoked")


class GrantAdmin(toolkit_admin.GrantAdmin):
    list_display = ("masked_code", "application", "user", "scope", "resource", "expires")
