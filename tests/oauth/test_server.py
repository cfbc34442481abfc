"""The OAuth authorization server in-process (Django test client, real database): discovery
documents, dynamic registration, the consent page, PKCE S256 only, resource-bound tokens,
refresh rotation, and how its tokens fare at the REST API."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from apps.access.services import AuthenticationFailed, authenticate_bearer
from apps.oauth.services import token_serves

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"
MCP = f"{ORIGIN}/mcp"
REDIRECT = "http://127.0.0.1:9/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def register(client, **extra) -> dict:
    body = {
        "client_name": "Test Connector",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **extra,
    }
    reply = client.post("/register", data=json.dumps(body), content_type="application/json")
    assert reply.status_code == 201, reply.content
    return reply.json()


def authorize_params(client_id: str, challenge: str, **extra) -> dict:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "st",
        "scope": "tools:read tools:call",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def consent(client, params: dict) -> str:
    """Allow on the consent page; the authorization code from the redirect."""
    page = client.get("/authorize?" + urlencode(params))
    assert page.status_code == 200, page.content
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    reply = client.post("/authorize?" + urlencode(params), data={**form, "allow": "Allow"})
    assert reply.status_code == 302, reply.content
    query = parse_qs(urlsplit(reply["Location"]).query)
    assert query["state"] == ["st"]
    return query["code"][0]


def exchange(client, client_id: str, code: str, verifier: str, **extra) -> dict:
    reply = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
            **extra,
        },
    )
    assert reply.status_code == 200, reply.content
    return reply.json()


def tokens_for(client, *, resource: str | None = MCP) -> tuple[str, dict]:
    app = register(client)
    verifier, challenge = pkce()
    extra = {"resource": resource} if resource else {}
    code = consent(client, authorize_params(app["client_id"], challenge, **extra))
    return app["client_id"], exchange(client, app["client_id"], code, verifier, **extra)


def test_protected_resource_metadata_names_the_mcp_endpoint_at_both_paths(client):
    for path in (
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ):
        body = client.get(path).json()
        assert body["resource"] == MCP
        assert body["authorization_servers"] == [ORIGIN]
        assert body["scopes_supported"] == ["tools:call", "tools:read"]
        assert body["bearer_methods_supported"] == ["header"]
    assert client.get("/.well-known/oauth-protected-resource/elsewhere").status_code == 404


def test_authorization_server_metadata_offers_code_with_s256_and_registration(client):
    body = client.get("/.well-known/oauth-authorization-server").json()
    assert body["issuer"] == ORIGIN
    assert body["authorization_endpoint"] == f"{ORIGIN}/authorize"
    assert body["token_endpoint"] == f"{ORIGIN}/token"
    assert body["registration_endpoint"] == f"{ORIGIN}/register"
    assert body["revocation_endpoint"] == f"{ORIGIN}/revoke"
    assert body["response_types_supported"] == ["code"]
    assert body["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert "none" in body["token_endpoint_auth_methods_supported"]
    assert body["client_id_metadata_document_supported"] is True
    assert body["scopes_supported"] == ["tools:call", "tools:read"]


def test_registration_refuses_bad_metadata_with_a_400(client):
    reply = client.post("/register", data="not json", content_type="application/json")
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_client_metadata"


def test_registration_refuses_plaintext_remote_redirect_uris(client):
    body = {"client_name": "x", "redirect_uris": ["http://evil.example/cb"]}
    reply = client.post("/register", data=json.dumps(body), content_type="application/json")
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_redirect_uri"
    for uri in ("http://localhost:33418/callback", "http://[::1]:9/cb", "https://claude.ai/cb"):
        register(client, redirect_uris=[uri])


def test_consent_page_is_behind_the_sign_in_which_lets_non_staff_in(client, django_user_model):
    app = register(client)
    _, challenge = pkce()
    path = "/authorize?" + urlencode(authorize_params(app["client_id"], challenge))
    reply = client.get(path)
    assert reply.status_code == 302 and reply["Location"].startswith("/oauth/sign-in/?next=")
    django_user_model.objects.create_user("bob", password="pw-bob-123")
    signed = client.post(reply["Location"], data={"username": "bob", "password": "pw-bob-123"})
    assert signed.status_code == 302 and signed["Location"] == path
    page = client.get(path)
    html = page.content.decode()
    assert "Test Connector" in html and "bob" in html
    assert 'data-scope="tools:read"' in html and 'data-scope="tools:call"' in html
    assert MCP in html  # the resource, defaulted to the MCP endpoint


def test_plain_pkce_and_missing_pkce_are_refused(signed_in):
    app = register(signed_in)
    params = authorize_params(app["client_id"], "x" * 43, code_challenge_method="plain")
    reply = signed_in.get("/authorize?" + urlencode(params))
    assert "code" not in parse_qs(urlsplit(reply.get("Location", "")).query)
    params = authorize_params(app["client_id"], "x" * 43)
    del params["code_challenge"], params["code_challenge_method"]
    reply = signed_in.get("/authorize?" + urlencode(params))
    assert "code" not in parse_qs(urlsplit(reply.get("Location", "")).query)


def test_deny_sends_the_client_back_with_access_denied(signed_in):
    app = register(signed_in)
    _, challenge = pkce()
    params = authorize_params(app["client_id"], challenge)
    page = signed_in.get("/authorize?" + urlencode(params))
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    reply = signed_in.post("/authorize?" + urlencode(params), data=form)
    assert parse_qs(urlsplit(reply["Location"]).query)["error"] == ["access_denied"]


def test_token_becomes_a_principal_bound_to_its_resource(signed_in):
    _, tokens = tokens_for(signed_in)
    assert tokens["access_token"].startswith("mcpo_")
    principal = authenticate_bearer(tokens["access_token"])
    assert principal.kind == "oauth" and principal.name == "user:alice"
    assert principal.scopes == {"tools:read", "tools:call"}
    assert principal.audiences == (MCP,)
    assert token_serves(principal, MCP)
    assert not token_serves(principal, "http://other.example/mcp")
    assert not token_serves(principal, f"{ORIGIN}/api/v2/tools")
    stored = AccessToken.objects.get(scope="tools:read tools:call")
    assert stored.token == ""  # only a checksum is kept


def test_resource_defaults_to_the_mcp_endpoint(signed_in):
    _, tokens = tokens_for(signed_in, resource=None)
    assert authenticate_bearer(tokens["access_token"]).audiences == (MCP,)


def test_rest_api_refuses_oauth_tokens_issued_for_mcp(signed_in, client_for, catalogue):
    _, tokens = tokens_for(signed_in)
    reply = client_for(tokens["access_token"]).get("/tools/list")
    assert reply.status_code == 401
    assert "another resource" in reply.json()["error"]


def test_expired_and_revoked_tokens_are_refused(signed_in):
    _, tokens = tokens_for(signed_in)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed, match="expired"):
        authenticate_bearer(tokens["access_token"])
    client_id, fresh = tokens_for(signed_in)
    reply = signed_in.post("/revoke", data={"token": fresh["access_token"], "client_id": client_id})
    assert reply.status_code == 200
    with pytest.raises(AuthenticationFailed, match="revoked"):
        authenticate_bearer(fresh["access_token"])


def test_registration_access_token_is_no_bearer_for_tools(signed_in):
    app = register(signed_in)
    with pytest.raises(AuthenticationFailed):
        authenticate_bearer(app["registration_access_token"])


def test_refresh_rotates_and_the_old_refresh_token_is_refused(signed_in):
    client_id, tokens = tokens_for(signed_in)
    refresh = {"grant_type": "refresh_token", "client_id": client_id, "resource": MCP}
    first = signed_in.post("/token", data={**refresh, "refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200, first.content
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert authenticate_bearer(rotated["access_token"]).audiences == (MCP,)
    again = signed_in.post("/token", data={**refresh, "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Reuse of a rotated refresh token revokes the whole family (RFC 9700 §4.14.2).
    assert not RefreshToken.objects.filter(revoked__isnull=True, user__username="alice").exists()
