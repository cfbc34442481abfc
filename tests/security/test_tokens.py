"""JWTs that can be taken back: access and refresh tokens are distinct, refresh tokens rotate
within a bounded login, a password change or a deactivation refuses every JWT issued before,
and the legacy way of minting them (`sub` = the username, `user_id`) keeps working."""

import time

import jwt
import pytest
from django.conf import settings
from django.test import Client

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(db, django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def login(client: Client, username: str = "alice", password: str = PASSWORD) -> dict:
    reply = client.post(
        "/auth/login", {"username": username, "password": password}, "application/json"
    )
    assert reply.status_code == 200, reply.content
    return reply.json()


def status_with(token: str) -> int:
    return Client(headers={"Authorization": f"Bearer {token}"}).get("/tools/list").status_code


def refresh(token: str, *, in_body: bool = True):
    if in_body:
        return Client().post("/auth/refresh", {"refresh_token": token}, "application/json")
    return Client(headers={"Authorization": f"Bearer {token}"}).post("/auth/refresh")


def signed(**claims) -> str:
    return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")


def test_login_gives_an_access_and_a_refresh_token_of_distinct_types(alice):
    tokens = login(Client())
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["user_id"] == alice.pk
    assert claims["typ"] == "access" and "exp" in claims
    assert status_with(tokens["access_token"]) == 200
    # A refresh token is no access token, and an access token renews nothing.
    assert status_with(tokens["refresh_token"]) == 401
    refused = refresh(tokens["access_token"], in_body=False)
    assert refused.status_code == 401
    assert "typ must be 'refresh'" in refused.json()["error"]


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_login(alice):
    first = login(Client())
    second = refresh(first["refresh_token"])
    assert second.status_code == 200, second.content
    second = second.json()
    assert status_with(second["access_token"]) == 200
    # The header form works too, once.
    third = refresh(second["refresh_token"], in_body=False)
    assert third.status_code == 200
    reused = refresh(first["refresh_token"])
    assert reused.status_code == 401
    assert "already used" in reused.json()["error"]
    # The reuse ended the whole login: the newest refresh token is dead too.
    assert refresh(third.json()["refresh_token"]).status_code == 401


def test_a_logins_refresh_chain_has_a_bounded_lifetime(alice, settings):
    settings.MCP_PLATFORM_JWT_SESSION_SECONDS = 1
    tokens = login(Client())
    assert tokens["refresh_expires_in"] <= 1
    time.sleep(2.1)
    reply = refresh(tokens["refresh_token"])
    assert reply.status_code == 401
    assert "expired" in reply.json()["error"]


def test_a_password_change_refuses_every_jwt_issued_before(alice):
    tokens = login(Client())
    assert status_with(tokens["access_token"]) == 200
    alice.set_password("a new password, long enough")
    alice.save()
    assert status_with(tokens["access_token"]) == 401
    assert refresh(tokens["refresh_token"]).status_code == 401
    fresh = login(Client(), password="a new password, long enough")
    assert status_with(fresh["access_token"]) == 200


def test_deactivating_a_user_refuses_its_jwts_even_after_reactivation(alice):
    tokens = login(Client())
    legacy = signed(sub="alice", user_id=alice.pk, exp=int(time.time()) + 600)
    alice.is_active = False
    alice.save()
    assert status_with(tokens["access_token"]) == 401
    alice.is_active = True
    alice.save()
    assert status_with(tokens["access_token"]) == 401
    assert status_with(legacy) == 401
    assert refresh(tokens["refresh_token"]).status_code == 401


def test_saving_a_user_without_a_change_revokes_nothing(alice):
    tokens = login(Client())
    alice.first_name = "Alice"
    alice.save()
    assert status_with(tokens["access_token"]) == 200


def test_a_token_minted_the_legacy_way_is_accepted(alice):
    """HS256 with the shared SECRET_KEY, `sub` = the username, whatever else it carries."""
    exp = int(time.time()) + 600
    assert status_with(signed(sub="alice", user_id=alice.pk, exp=exp)) == 200
    assert status_with(signed(sub="alice", exp=exp, role="user", scope="read")) == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "nobody"},  # no such user
        {"sub": "1"},  # a user id is not a username
        {"sub": 1},  # not a string
        {"sub": ""},
        {"sub": "alice", "user_id": 999999},  # the name, but another account's id
        {"user_id": 1},  # no subject
        {"sub": "alice", "typ": "refresh"},
        {"sub": "alice", "typ": "id"},
    ],
)
def test_a_signed_jwt_with_a_bad_subject_or_type_is_401_not_500(alice, claims):
    token = signed(**claims, exp=int(time.time()) + 600)
    reply = Client(headers={"Authorization": f"Bearer {token}"}).get("/tools/list")
    assert reply.status_code == 401
    assert reply.json()["error"]


def test_a_jwt_without_exp_is_refused(alice):
    assert status_with(signed(sub="alice", user_id=alice.pk)) == 401


def test_an_inactive_users_login_is_refused(alice):
    alice.is_active = False
    alice.save()
    reply = Client().post(
        "/auth/login", {"username": "alice", "password": PASSWORD}, "application/json"
    )
    assert reply.status_code == 401
