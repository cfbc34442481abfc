"""The OAuth routes, all open (the consent page asks for a sign-in itself).

At the root, where MCP clients look for them: the well-known documents, and the endpoints at
the paths the 2025-03-26 MCP spec falls back to (`/authorize`, `/token`, `/register`). The
namespace is django-oauth-toolkit's, whose views reverse their siblings' names in it.
"""

from django.urls import path
from oauth2_provider import views as oauth

from apps.oauth import views
from apps.oauth.views import refusing_nul_bytes

app_name = "oauth2_provider"

urlpatterns = [
    path(
        ".well-known/oauth-authorization-server",
        refusing_nul_bytes(oauth.OAuthServerMetadataView.as_view()),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        refusing_nul_bytes(views.ProtectedResourceMetadataView.as_view()),
        name="oauth-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource/<path:resource_path>",
        refusing_nul_bytes(views.ProtectedResourceMetadataView.as_view()),
        name="oauth-resource-metadata-path",
    ),
    path("oauth/sign-in/", refusing_nul_bytes(views.SignInView.as_view()), name="sign-in"),
    path("authorize", refusing_nul_bytes(views.ConsentView.as_view()), name="authorize"),
    path("token", refusing_nul_bytes(oauth.TokenView.as_view()), name="token"),
    path("revoke", refusing_nul_bytes(oauth.RevokeTokenView.as_view()), name="revoke-token"),
    path("register", refusing_nul_bytes(views.RegistrationView.as_view()), name="dcr-register"),
    path(
        "register/<str:client_id>",
        refusing_nul_bytes(oauth.DynamicClientRegistrationManagementView.as_view()),
        name="dcr-register-management",
    ),
]
