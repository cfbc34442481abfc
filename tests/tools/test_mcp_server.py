"""The MCP server's own logic, in process: keyset pages, cursors, Origin checks."""

from __future__ import annotations

import pytest
from django.test import override_settings
from mcp.shared.exceptions import MCPError

from apps.access.principals import Principal
from apps.tools.mcp_http import McpHttpEndpoint
from apps.tools.mcp_server import CatalogueServer, decode_cursor, encode_cursor, tools_page
from apps.tools.models import Tool

READER = Principal(name="reader", kind="token", scopes=frozenset({"tools:read"}))


def _names(tools) -> list[str]:
    return [tool.name for tool in tools]


def test_pages_are_keyset_pages_that_skip_nothing_when_a_listed_tool_goes(catalogue):
    everything, more = tools_page(READER, after="", limit=1000)
    assert not more and _names(everything) == sorted(_names(everything))
    first, more = tools_page(READER, after="", limit=2)
    assert more and _names(first) == _names(everything)[:2]
    Tool.objects.filter(name=first[0].name).update(enabled=False)
    second, _ = tools_page(READER, after=first[-1].name, limit=2)
    assert _names(second) == _names(everything)[2:4]


def test_pages_show_only_what_the_principal_may_list(catalogue):
    echo_only = Principal(
        name="e", kind="token", scopes=frozenset({"tools:read"}), tool_patterns=("echo*",)
    )
    no_read = Principal(name="n", kind="token", scopes=frozenset({"tools:call"}))
    assert _names(tools_page(echo_only, after="", limit=100)[0]) == ["echo"]
    assert tools_page(no_read, after="", limit=100) == ([], False)


def test_cursors_round_trip_and_foreign_cursors_are_invalid_params():
    assert decode_cursor(None) == "" and decode_cursor(encode_cursor("bulk_100")) == "bulk_100"
    for foreign in ("%%%", "0", "bulk_100", encode_cursor("x") + "=="):
        with pytest.raises(MCPError) as error:
            decode_cursor(foreign)
        assert error.value.error.code == -32602


@override_settings(MCP_CORS_ORIGINS=["https://app.example"])
def test_origins_allowed_are_the_listed_ones_and_the_hosts_own():
    endpoint = McpHttpEndpoint(CatalogueServer())
    assert endpoint.origin_allowed("https://app.example", "127.0.0.1:8000")
    assert endpoint.origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert not endpoint.origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8000")
    assert not endpoint.origin_allowed("https://evil.example", "127.0.0.1:8000")
    assert not endpoint.origin_allowed("null", "127.0.0.1:8000")
