"""OAuth clients, grants and tokens in the admin: listed with their user, scopes and resource,
and revocable there."""

from __future__ import annotations

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken, Application, RefreshToken

from apps.access.services import AuthenticationFailed, authenticate_bearer
from tests.conftest import ADMIN_PASSWORD
from tests.oauth.test_server import MCP, tokens_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    assert client.login(username="admin", password=ADMIN_PASSWORD)
    return client


def test_clients_and_tokens_are_listed_with_user_scopes_and_resource(signed_in, admin_client):
    tokens_for(signed_in)
    clients = admin_client.get("/admin/oauth2_provider/application/").content.decode()
    assert "Test Connector" in clients
    listed = admin_client.get("/admin/oauth2_provider/accesstoken/").content.decode()
    assert "alice" in listed and "tools:read tools:call" in listed and MCP in listed
    refresh = admin_client.get("/admin/oauth2_provider/refreshtoken/").content.decode()
    assert "alice" in refresh
    assert admin_client.get("/admin/oauth2_provider/grant/").status_code == 200


def test_revoking_a_token_in_the_admin_refuses_it_and_its_refresh_token(signed_in, admin_client):
    _, tokens = tokens_for(signed_in)
    token = AccessToken.objects.get(scope="tools:read tools:call")
    reply = admin_client.post(
        "/admin/oauth2_provider/accesstoken/",
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert reply.status_code == 302
    with pytest.raises(AuthenticationFailed):
        authenticate_bearer(tokens["access_token"])
    assert RefreshToken.objects.get(user__username="alice").revoked is not None


def test_revoking_a_client_in_the_admin_revokes_all_its_tokens(signed_in, admin_client):
    _, tokens = tokens_for(signed_in)
    app = Application.objects.get(name="Test Connector")
    reply = admin_client.post(
        "/admin/oauth2_provider/application/",
        {"action": "revoke_tokens", "_selected_action": [app.pk]},
    )
    assert reply.status_code == 302
    with pytest.raises(AuthenticationFailed):
        authenticate_bearer(tokens["access_token"])
    refused = signed_in.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": app.client_id,
        },
    )
    assert refused.status_code == 400
