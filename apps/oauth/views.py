"""The OAuth pages and documents: resource metadata, sign-in, the consent page, and the
registration endpoint's redirect URI rule.

The protocol itself (token, revocation, registration, server metadata) is django-oauth-toolkit's
views, routed in `urls.py`, each behind `refusing_nul_bytes`.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse_lazy
from oauth2_provider.views import (
    AuthorizationView,
    DynamicClientRegistrationView,
    OAuthProtectedResourceMetadataView,
)

from apps.oauth.selectors import MCP_ENDPOINT_PATHS, mcp_endpoint_path


def _holds_nul(request: HttpRequest, kwargs: dict[str, Any]) -> bool:
    body = request.body.lower()  # read first: the toolkit reads the raw body again
    if b"\x00" in body or b"%00" in body or b"\\u0000" in body:
        return True
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials)
        except ValueError:
            decoded = b""
        if b"\x00" in decoded or b"%00" in decoded:
            return True
    values = [*request.GET.values(), *kwargs.values()]
    return any("\x00" in str(value) for value in values)


def refusing_nul_bytes(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer 400 to a NUL byte in a parameter, the body or Basic credentials: PostgreSQL
    cannot even compare text holding one (the toolkit would look up a client by it: a 500)."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _holds_nul(request, kwargs):
            return JsonResponse(
                {"error": "invalid_request", "error_description": "NUL byte in the request"},
                status=400,
            )
        return view(request, *args, **kwargs)

    return guarded


def admin_look() -> dict[str, Any]:
    """What the admin's base template shows in its header, as on the admin's own pages."""
    return {"site_header": admin.site.site_header, "site_title": admin.site.site_title}


class ProtectedResourceMetadataView(OAuthProtectedResourceMetadataView):
    """RFC 9728 metadata of each MCP endpoint: the bare well-known path and the path-suffixed
    one (`/.well-known/oauth-protected-resource/mcp`); any other suffix is a 404."""

    def get(self, request: HttpRequest, resource_path: str = "", **kwargs: Any) -> HttpResponse:
        endpoint = mcp_endpoint_path(resource_path)
        if endpoint is None:
            raise Http404("No MCP endpoint there")
        self.endpoint = endpoint
        return super().get(request, **kwargs)

    def get_resource(self, request: HttpRequest) -> str:
        return request.build_absolute_uri(self.endpoint)


class SignInView(LoginView):
    """Sign-in for the consent page in the admin's style; unlike the admin's login it lets in
    users who are not staff (anyone with an account may connect a client)."""

    template_name = "oauth/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            **admin_look(),
            "app_path": self.request.get_full_path(),
            "title": "Sign in to connect an MCP client",
        }


class ConsentView(AuthorizationView):
    """The authorization endpoint: behind the sign-in, it shows the client and the scopes it
    asks for and lets the user allow or deny. A request naming no resource (RFC 8707) is bound
    to the main MCP endpoint, so every token has an audience."""

    template_name = "oauth/consent.html"
    login_url = reverse_lazy("oauth2_provider:sign-in")

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "resource" not in request.GET:
            request.GET = request.GET.copy()
            request.GET["resource"] = request.build_absolute_uri(MCP_ENDPOINT_PATHS[0])
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        scopes = context.get("scopes") or []
        return {
            **context,
            **admin_look(),
            "scope_rows": list(zip(scopes, context.get("scopes_descriptions") or [], strict=False)),
        }


LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def plaintext_remote_redirect(redirect_uris: Any) -> str | None:
    """The first `http` redirect URI that is not on the loopback interface, if any: plaintext
    is only for native clients' local callbacks (RFC 8252 §7.3); a remote one needs https."""
    if not isinstance(redirect_uris, list):
        return None  # the toolkit's own validation answers malformed metadata
    for uri in redirect_uris:
        parts = urlsplit(uri) if isinstance(uri, str) else None
        if parts and parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            return uri
    return None


class RegistrationView(DynamicClientRegistrationView):
    """Open dynamic client registration (RFC 7591), refusing plaintext remote redirect URIs."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            metadata = json.loads(request.body)
        except ValueError:
            metadata = None
        if isinstance(metadata, dict):
            plaintext = plaintext_remote_redirect(metadata.get("redirect_uris"))
            if plaintext is not None:
                return JsonResponse(
                    {
                        "error": "invalid_redirect_uri",
                        "error_description": f"{plaintext}: http is only for loopback "
                        "callbacks (127.0.0.1, [::1], localhost); use https",
                    },
                    status=400,
                )
        return super().post(request, *args, **kwargs)
