import re

import pytest
from django.urls import reverse

from apps.access.models import ApiToken

pytestmark = pytest.mark.django_db


def test_token_created_in_the_admin_is_shown_once_stored_hashed_and_works(
    client, admin_user, catalogue
):
    client.force_login(admin_user)
    reply = client.post(
        reverse("admin:access_apitoken_add"),
        {
            "name": "ci bot",
            "scopes": ["tools:read"],
            "allowed_tools": "echo*",
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )
    page = reply.content.decode()
    match = re.search(r"(mcpp_[A-Za-z0-9_-]{20,})", page)
    assert match, page[:2000]
    secret = match.group(1)
    token = ApiToken.objects.get(name="ci bot")
    assert token.token_hash != secret and secret not in token.token_hash
    assert secret.startswith(token.prefix)
    assert token.scopes == ["tools:read"] and token.created_by == admin_user

    listing = client.get(reverse("admin:access_apitoken_changelist")).content.decode()
    assert token.prefix in listing and secret not in listing  # never shown again

    api = client.__class__(headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/tools/list").json()["tools"] == ["echo"]
    assert (
        api.post("/tools/execute/echo", data="{}", content_type="application/json").status_code
        == 403
    )


def test_unknown_scope_is_refused(client, admin_user):
    client.force_login(admin_user)
    reply = client.post(reverse("admin:access_apitoken_add"), {"name": "x", "scopes": ["root"]})
    assert reply.status_code == 200
    assert "scopes" in reply.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


def test_two_tokens_with_the_same_name_are_different_callers():
    """Ownership (jobs, tasks) follows the caller's name, so it must tell tokens apart."""
    from apps.access.services import authenticate_bearer, create_api_token

    first = authenticate_bearer(create_api_token(name="ci", scopes=["tools:call"])[1])
    second = authenticate_bearer(create_api_token(name="ci", scopes=["tools:call"])[1])
    assert first.name != second.name
    assert first.name.startswith("token:ci:") and second.name.startswith("token:ci:")


@pytest.mark.django_db(transaction=True)
def test_tokens_revoked_by_the_admin_action_are_refused_where_they_were_cached(client, admin_user):
    """The bulk action goes through the service, which moves the access version: a process
    that cached the token's principal (a serving process: its version watcher runs) refuses it
    on the next call."""
    from apps.access import principal_cache
    from apps.access.services import AuthenticationFailed, create_api_token
    from mcp_platform import versions

    secrets = [create_api_token(name=f"bot-{n}", scopes=["tools:call"])[1] for n in range(2)]
    versions.start_watching(interval=0.05)
    try:
        for secret in secrets:
            principal_cache.resolve_principal(f"Bearer {secret}")
            assert principal_cache.cached_principal(f"Bearer {secret}") is not None
        client.force_login(admin_user)
        reply = client.post(
            reverse("admin:access_apitoken_changelist"),
            {"action": "revoke", "_selected_action": [t.pk for t in ApiToken.objects.all()]},
            follow=True,
        )
        assert "Revoked 2 tokens." in reply.content.decode()
        for secret in secrets:
            with pytest.raises(AuthenticationFailed):
                principal_cache.resolve_principal(f"Bearer {secret}")
    finally:
        versions.stop_watching()
