"""The OAuth routes, all open (the consent page asks for a sign-in itself).

At the root, where MCP clients look for them: the well-known documents, and the endpoints at
the paths the 2025-03-26 MCP spec falls back to (`/authorize`, `/token`, `/register`). The
namespace is django-oauth-toolkit's, whose views reverse their siblings' names in it.
"""

from django.urls import path
from oauth2_provider import views as oauth

from apps.oauth import views

app_name = "oauth2_provider"

urlpatterns = [
    path(
        ".well-known/oauth-authorization-server",
        oauth.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        views.ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource/<path:resource_path>",
        views.ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata-path",
    ),
    path("oauth/sign-in/", views.SignInView.as_view(), name="sign-in"),
    path("authorize", views.ConsentView.as_view(), name="authorize"),
    path("token", oauth.TokenView.as_view(), name="token"),
    path("revoke", oauth.RevokeTokenView.as_view(), name="revoke-token"),
    path("register", views.RegistrationView.as_view(), name="dcr-register"),
    path(
        "register/<str:client_id>",
        oauth.DynamicClientRegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
]
