"""Shared fixtures: users, tokens, clients, services, and real platform processes."""

from __future__ import annotations

import os

import pytest
from django.test import AsyncClient, Client

from apps.access.services import create_api_token
from apps.tools import call_log
from apps.tools.services import sync_tools
from tests.harness import PlatformProcess

ADMIN_PASSWORD = "admin-password-for-tests"


def require_service(name: str, reason: str) -> None:
    """Skip when a service is missing, but fail under CI, where a skip would hide it."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{name} is required under CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


BUILTIN_TOOLS_MODULE = "apps.tools.tools"


@pytest.fixture(autouse=True)
def cold_caches():
    """Each test starts with empty in-process caches: a test's rolled-back rows must not be
    found by the next one through a cache stamped with the same version."""
    from apps.access import principal_cache
    from apps.ratelimits.selectors import limits_cache
    from apps.routing.router import cache as routing_cache
    from apps.tools.call_service import catalogue_cache

    principal_cache.clear()
    catalogue_cache.clear()
    routing_cache.clear()
    limits_cache.clear()


@pytest.fixture
def catalogue(db):
    """The built-in tools of apps/tools/tools.py (only those: other tests register more), synced."""
    from apps.tools import registry

    sync_tools(
        specs={
            name: spec
            for name, spec in registry.all_specs().items()
            if spec.func.__module__ == BUILTIN_TOOLS_MODULE
        }
    )


@pytest.fixture
def admin_user(db, django_user_model):
    return django_user_model.objects.create_superuser("admin", "", ADMIN_PASSWORD)


@pytest.fixture
def make_token(db):
    def make(scopes=("tools:read", "tools:call"), allowed_tools: str = "", **kwargs) -> str:
        _, secret = create_api_token(
            name="test", scopes=list(scopes), allowed_tools=allowed_tools, **kwargs
        )
        return secret

    return make


@pytest.fixture
def token(make_token) -> str:
    return make_token()


@pytest.fixture
def client_for():
    """A Django test client that sends the bearer token on every request."""

    def make(secret: str | None = None, *, asynchronous: bool = False):
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return AsyncClient(headers=headers) if asynchronous else Client(headers=headers)

    return make


@pytest.fixture
def flushed_calls():
    """Write the queued call log and return the ToolCall queryset."""
    from apps.tools.models import ToolCall

    def flush():
        call_log.flush()
        return ToolCall.objects.all()

    return flush


@pytest.fixture
def platform(transactional_db, tmp_path):
    """A running platform node (runplatform) on free loopback ports, sharing the test database."""
    sync_tools()
    node = PlatformProcess(tmp_path / "node")
    node.start()
    yield node
    node.stop()


@pytest.fixture(autouse=True, scope="session")
def heap_never_frozen():
    """A lifespan run in this process does not freeze the heap (mcp_platform.asgi
    `freeze_startup_heap`): every test's objects would stay out of the collector's reach for
    the rest of the session. tests/test_asgi.py turns it on for its own lifespan."""
    from mcp_platform import asgi

    asgi._heap_frozen = True
    yield


@pytest.fixture(autouse=True, scope="session")
def no_token_uses_left_at_exit():
    """The token last-used writer's exit flush would write to a test database already gone."""
    yield
    from apps.access import principal_cache

    principal_cache.last_used.discard()


@pytest.fixture(autouse=True)
def no_queued_audit_events():
    """Each test starts with no queued tool-call audit events: calls of earlier tests are
    not its own (the writer thread is off in tests; flush() writes what is queued)."""
    from apps.audit import calls

    calls.writer.discard()
