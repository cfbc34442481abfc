"""The compatibility shim: a legacy tool package, named in MCP_PLATFORM_LEGACY_TOOL_MODULES,
registers unchanged and is callable over REST, its error dicts surfacing as tool errors."""

from __future__ import annotations

import pytest

from apps.tools.discovery import discover_tools
from apps.tools.models import Tool

pytestmark = pytest.mark.django_db


def test_public_functions_register_in_their_package_category(legacy_tools):
    assert Tool.objects.get(name="load_dataset").category == "dataset_tools"
    assert Tool.objects.get(name="pin_to_ipfs").category == "ipfs_tools"
    # Private helpers, names left out of __all__, and imported functions are not tools.
    assert not Tool.objects.filter(name__in=["_row_count", "unpin", "dumps"]).exists()


def test_signature_becomes_the_input_schema(legacy_tools):
    schema = Tool.objects.get(name="load_dataset").input_schema
    assert schema["required"] == ["source"]
    assert set(schema["properties"]) == {"source", "format", "options"}
    assert Tool.objects.get(name="load_dataset").output_schema is None


def test_legacy_tool_metadata_is_carried_over(legacy_tools):
    tool = Tool.objects.get(name="pin_to_ipfs")
    assert tool.runtime == "asyncio"  # the legacy `fastapi`
    assert (tool.priority, tool.timeout_seconds, tool.io_intensive) == (8, 12.0, True)
    assert tool.description == "Pin a file or directory to IPFS."


def test_async_legacy_tool_is_callable_over_rest(legacy_tools, token, client_for):
    response = client_for(token).post(
        "/tools/execute/load_dataset", {"source": "squad"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["tool"] == "load_dataset"
    assert body["status"] == "success"
    assert body["result"]["rows"] == 87599


def test_sync_legacy_tool_is_callable_by_its_dotted_legacy_name(legacy_tools, token, client_for):
    response = client_for(token).post(
        "/tools/execute/ipfs_tools.pin_to_ipfs",
        {"content_path": "/data/set"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["cid"].startswith("bafy")


def test_error_dict_is_a_tool_error_over_rest(legacy_tools, token, client_for):
    response = client_for(token).post(
        "/tools/execute/load_dataset", {"source": "nope"}, content_type="application/json"
    )
    assert response.status_code == 500
    assert response.json()["error"] == "Tool execution failed: dataset 'nope' not found"


def test_error_dict_is_an_is_error_result_over_mcp_tools_call(legacy_tools, token, client_for):
    response = client_for(token).post(
        "/mcp/tools/call",
        {"name": "pin_to_ipfs", "arguments": {"content_path": "relative/path"}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    result = response.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "path must be absolute: relative/path"
    assert result["structuredContent"]["status"] == "error"


def test_success_dict_is_not_an_error_over_mcp_tools_call(legacy_tools, token, client_for):
    response = client_for(token).post(
        "/mcp/tools/call",
        {"name": "dataset_tools.load_dataset", "arguments": {"source": "imdb"}},
        content_type="application/json",
    )
    result = response.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["rows"] == 25000


def test_a_module_that_fails_to_import_is_logged_not_fatal(settings, catalogue, caplog):
    settings.MCP_PLATFORM_LEGACY_TOOL_MODULES = ["tests.migration.no_such_module"]
    discover_tools()
    assert "no_such_module" in caplog.text


def test_a_legacy_name_clash_registers_the_second_tool_under_its_dotted_name(legacy_tools):
    from apps.migration.shim import register_legacy_function
    from apps.tools import registry

    def load_dataset(source: str) -> dict:
        return {"status": "success", "other": True}

    spec = register_legacy_function(load_dataset, category="other_tools")
    try:
        assert spec.name == "other_tools.load_dataset"
        assert registry.get_spec("load_dataset").metadata["category"] == "dataset_tools"
    finally:
        registry.unregister(spec.name)
