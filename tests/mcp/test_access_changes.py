"""Principals are cached in every process, and a change made elsewhere still counts: a revoked
API token and a deactivated user's JWT are refused by a running node on their next call (the
node learns of the change from the access version, polled by its version watcher)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from apps.access.models import ApiToken
from tests.harness import wait_until

pytestmark = pytest.mark.slow

CHANGE_SEEN_WITHIN = 30.0  # seconds; the watcher polls every 0.25 s, the machine is loaded


def _echo(node, bearer: str) -> int:
    reply = httpx.post(
        f"{node.url}/tools/execute/echo",
        json={"message": "who"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    return reply.status_code


def _refused_soon(node, bearer: str, what: str) -> None:
    wait_until(lambda: _echo(node, bearer) == 401, timeout=CHANGE_SEEN_WITHIN, what=what)


def test_a_revoked_token_is_refused_by_a_running_node(mcp_node, new_token):
    secret = new_token()
    assert _echo(mcp_node, secret) == 200
    assert _echo(mcp_node, secret) == 200  # now cached on the node
    token = ApiToken.objects.get(prefix=secret[:11])
    token.revoked = True
    token.save()
    _refused_soon(mcp_node, secret, "the revoked token refused")


def test_a_deactivated_users_jwt_is_refused_by_a_running_node(mcp_node, live_db):
    name = f"user-{uuid.uuid4().hex[:6]}"
    user = get_user_model().objects.create_user(name, "")
    # Hashed with a hasher the node knows (the tests' own fast one is not among its hashers).
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode("a-long-password-1", hasher.salt(), iterations=1000)
    user.save()
    login = httpx.post(
        f"{mcp_node.url}/auth/login",
        json={"username": name, "password": "a-long-password-1"},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    jwt = login.json()["access_token"]
    assert _echo(mcp_node, jwt) == 200
    assert _echo(mcp_node, jwt) == 200  # now cached on the node
    user.is_active = False
    user.save()
    _refused_soon(mcp_node, jwt, "the deactivated user's JWT refused")
