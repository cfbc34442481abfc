"""Principals are cached in every process, and a change made elsewhere still counts: a revoked
API token and a deactivated user's JWT are refused by a running node on their next call (the
node learns of the change from the access version, polled by its version watcher)."""

from __future__ import annotations

import httpx
import pytest

from apps.access.models import ApiToken
from tests.harness import wait_until
from tests.mcp.conftest import log_in_new_user

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
    user, jwt = log_in_new_user(mcp_node.url)
    assert _echo(mcp_node, jwt) == 200
    assert _echo(mcp_node, jwt) == 200  # now cached on the node
    user.is_active = False
    user.save()
    _refused_soon(mcp_node, jwt, "the deactivated user's JWT refused")
