"""One platform node for the MCP tests, serving the 300 bulk tools and the test tools, and SDK
client helpers.

Starting a node takes seconds, so the package shares one: its database rows are committed (the
child process must see them) and flushed when the package ends, as `transactional_db` would.
Tests must leave the catalogue as they found it.
"""

from __future__ import annotations

import contextlib
import importlib
import uuid
from collections.abc import AsyncIterator

import httpx
import httpx2
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.db import connection
from django.test.utils import setup_databases, teardown_databases
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from apps.access.services import create_api_token
from apps.tools.services import sync_tools
from tests.harness import PlatformProcess

TOOL_MODULES = (
    "tests.mcp.bulk_tools,tests.tool_fixtures,tests.mcp.schema_tools,tests.mcp.interaction_fixtures"
)


@pytest.fixture(scope="package")
def live_db(django_db_setup, django_db_blocker):
    """Database access for the whole package, committed as it goes; flushed at the end."""
    with django_db_blocker.unblock():
        # pytest-django sets up the test database only when some collected test asks for `db`;
        # when these modules run alone, none does.
        created = None
        if connection.settings_dict["NAME"] != connection.creation._get_test_db_name():
            created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        try:
            yield
        finally:
            call_command("flush", interactive=False, verbosity=0)
            if created is not None:
                teardown_databases(created, verbosity=0)


@pytest.fixture(scope="package")
def bulk_tools(live_db):
    """The 300 bulk tools and the test tools, registered here and synced into the database."""
    bulk = importlib.import_module("tests.mcp.bulk_tools")
    importlib.import_module("tests.tool_fixtures")  # registers on import
    schema_tools = importlib.import_module("tests.mcp.schema_tools")
    importlib.import_module("tests.mcp.interaction_fixtures").register_all()
    bulk.register_all()
    schema_tools.register_all()
    sync_tools()
    yield bulk.NAMES
    bulk.unregister_all()
    schema_tools.unregister_all()


@pytest.fixture(scope="package")
def mcp_node(bulk_tools, tmp_path_factory):
    """A platform node (runplatform) that serves the bulk tools too."""
    node = PlatformProcess(
        tmp_path_factory.mktemp("node"), env={"MCP_PLATFORM_TOOL_MODULES": TOOL_MODULES}
    )
    node.start(timeout=180)  # a loaded machine starts slowly
    yield node
    node.stop()


@pytest.fixture(scope="package")
def new_token(live_db):
    def make(scopes=("tools:read", "tools:call"), allowed_tools: str = "") -> str:
        _, secret = create_api_token(
            name=f"mcp-test-{uuid.uuid4().hex[:6]}",
            scopes=list(scopes),
            allowed_tools=allowed_tools,
        )
        return secret

    return make


@pytest.fixture(scope="package")
def staff_user(live_db):
    return get_user_model().objects.create_superuser(f"admin-{uuid.uuid4().hex[:6]}", "", "pw")


@contextlib.asynccontextmanager
async def mcp_client(
    url: str, token: str | None, *, mode: str = "legacy", headers: dict | None = None, **kwargs
) -> AsyncIterator[Client]:
    """An official SDK client of `url` (Streamable HTTP) sending the bearer token."""
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120))
    async with (
        http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs) as client,
    ):
        yield client


async def list_all(client: Client) -> tuple[list, int]:
    """Every tool, page by page, and how many pages; fails if the pages do not end."""
    tools, cursor, pages = [], None, 0
    while True:
        pages += 1
        assert pages < 50, "tools/list never ended"
        page = await client.list_tools(cursor=cursor, cache_mode="bypass")
        tools.extend(page.tools)
        if page.next_cursor is None:
            return tools, pages
        cursor = page.next_cursor


def log_in_new_user(node_url: str):
    """A new user, signed in at the node's /auth/login: (the user, its JWT)."""
    name = f"user-{uuid.uuid4().hex[:6]}"
    user = get_user_model().objects.create_user(name, "")
    # Hashed with a hasher the node knows (the tests' own fast one is not among its hashers).
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode("a-long-password-1", hasher.salt(), iterations=1000)
    user.save()
    login = httpx.post(
        f"{node_url}/auth/login",
        json={"username": name, "password": "a-long-password-1"},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    return user, login.json()["access_token"]
