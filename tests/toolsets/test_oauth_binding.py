"""An OAuth client bound to toolsets: the tokens it was granted see and call only their tools;
binding or unbinding counts at once (the access version)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from apps.access.principal_cache import resolve_principal
from apps.toolsets.services import create_toolset

pytestmark = pytest.mark.django_db


def test_an_oauth_clients_tokens_are_held_to_its_toolsets():
    user = get_user_model().objects.create_user("reader", "")
    client = get_application_model().objects.create(
        name="agent",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1/cb",
    )
    secret = "mcpo_" + secrets.token_urlsafe(24)
    get_access_token_model().objects.create(
        user=user,
        application=client,
        token=secret,
        scope="tools:read tools:call",
        expires=timezone.now() + timedelta(hours=1),
        resource=["http://127.0.0.1/mcp"],
    )
    header = f"Bearer {secret}"
    assert resolve_principal(header).may_call("calculate")

    toolset = create_toolset(slug="agent-tools", title="Agent", tools=["echo"])
    toolset.oauth_clients.add(client)
    bound = resolve_principal(header)
    assert bound.kind == "oauth"
    assert bound.may_call("echo") and not bound.may_call("calculate")

    toolset.oauth_clients.remove(client)
    assert resolve_principal(header).may_call("calculate")
