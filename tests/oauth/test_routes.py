"""Every OAuth route is open on purpose (a client has no token before it has signed in), and
nothing a client sends makes one answer 500; the MCP endpoints the metadata describes are the
ones the web process mounts."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client
from django.urls import URLPattern

from apps.oauth import urls as oauth_urls
from apps.oauth.selectors import MCP_ENDPOINT_PATHS

pytestmark = pytest.mark.django_db

# Route name → (method, path, status without any credentials). Open deliberately: discovery
# documents, registration and the token endpoints are how a client without a token gets one;
# the consent page sends an anonymous user to the sign-in; management of a registration needs
# the registration access token it was given.
OPEN_ROUTES = {
    "oauth-server-metadata": ("get", "/.well-known/oauth-authorization-server", 200),
    "oauth-resource-metadata": ("get", "/.well-known/oauth-protected-resource", 200),
    "oauth-resource-metadata-path": ("get", "/.well-known/oauth-protected-resource/mcp", 200),
    "sign-in": ("get", "/oauth/sign-in/", 200),
    "authorize": ("get", "/authorize", 302),
    "token": ("post", "/token", 400),
    "revoke-token": ("post", "/revoke", 400),
    "dcr-register": ("post", "/register", 400),
    "dcr-register-management": ("get", "/register/some-client", 401),
}


def test_every_oauth_route_is_listed_as_open_and_answers_as_listed():
    names = {p.name for p in oauth_urls.urlpatterns if isinstance(p, URLPattern)}
    assert names == set(OPEN_ROUTES), "a new OAuth route must be listed here, open or not"
    client = Client()
    for name, (method, path, status) in OPEN_ROUTES.items():
        reply = getattr(client, method)(path)
        assert reply.status_code == status, (name, reply.status_code, reply.content[:200])
    assert client.get("/authorize")["Location"].startswith("/oauth/sign-in/?next=")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "client_id=unknown&response_type=code",
        "client_id=https://client.invalid/meta.json&response_type=code"
        "&redirect_uri=https://client.invalid/cb&code_challenge="
        + "a" * 43
        + "&code_challenge_method=S256",
        "response_type=token&client_id=x",
        "client_id=%00&resource=not%20a%20uri",
    ],
)
def test_a_signed_in_user_never_gets_a_500_from_the_authorization_endpoint(
    client, django_user_model, query
):
    client.force_login(django_user_model.objects.create_user("dave", password="pw"))
    reply = client.get(f"/authorize?{query}")
    assert 300 <= reply.status_code < 500, reply.content[:300]


def test_token_endpoint_refuses_garbage_with_4xx(client):
    for data in (
        {"grant_type": "authorization_code", "code": "x", "client_id": "nobody"},
        {"grant_type": "refresh_token", "refresh_token": "mcpr_nope", "client_id": "nobody"},
        {"grant_type": "password", "username": "a", "password": "b"},
        {"grant_type": "client_credentials"},
    ):
        reply = client.post("/token", data=data)
        assert 400 <= reply.status_code < 500, (data, reply.content)


def test_nul_bytes_anywhere_are_a_400_not_a_500(client):
    # PostgreSQL cannot store or compare text with NUL: each would reach a query.
    nul = "a\x00b"
    assert (
        client.post("/token", data={"grant_type": "refresh_token", "client_id": nul}).status_code
        == 400
    )
    assert client.post("/revoke", data={"token": nul, "client_id": nul}).status_code == 400
    assert client.get("/register/" + "a%00b").status_code in (400, 401, 404)
    body = json.dumps({"client_name": nul, "redirect_uris": ["https://x.example/cb"]})
    reply = client.post("/register", data=body, content_type="application/json")
    assert reply.status_code == 400
    basic = base64.b64encode(f"{nul}:secret".encode()).decode()
    reply = client.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert 400 <= reply.status_code < 500


def test_metadata_describes_the_endpoints_the_web_process_mounts():
    from mcp_platform import asgi

    assert set(MCP_ENDPOINT_PATHS) == set(asgi.mcp_endpoints())
