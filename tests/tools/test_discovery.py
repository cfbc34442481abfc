import sys
import textwrap

import pytest

from apps.tools import registry
from apps.tools.discovery import discover_tools


def test_builtin_tools_are_discovered_from_the_apps_tools_module():
    for name in ("echo", "calculate", "sleep", "platform_status"):
        assert registry.get_spec(name) is not None, name


def test_modules_named_in_settings_register_their_tools(settings, tmp_path, monkeypatch):
    (tmp_path / "extra_tools_mod.py").write_text(
        textwrap.dedent(
            '''
            from apps.tools.registry import tool

            @tool(category="extra")
            def shout(text: str) -> str:
                """Upper-case the text."""
                return text.upper()
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MCP_PLATFORM_TOOL_MODULES = ["extra_tools_mod"]
    try:
        discover_tools()
        spec = registry.get_spec("shout")
        assert spec is not None and spec.metadata["category"] == "extra"
    finally:
        registry.unregister("shout")
        sys.modules.pop("extra_tools_mod", None)


def test_entry_point_group_registers_tools(tmp_path, monkeypatch):
    package = tmp_path / "plugin_tools_pkg.py"
    package.write_text(
        "from apps.tools.registry import tool\n\n"
        "@tool\n"
        "def plugin_hello() -> str:\n"
        '    """Say hello from a plugin."""\n'
        "    return 'hello'\n"
    )
    dist = tmp_path / "plugin_tools-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-tools\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mcp_platform.tools]\nhello = plugin_tools_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        discover_tools()
        assert registry.get_spec("plugin_hello") is not None
    finally:
        registry.unregister("plugin_hello")
        sys.modules.pop("plugin_tools_pkg", None)


def test_a_broken_module_is_logged_and_does_not_stop_discovery(settings, caplog):
    settings.MCP_PLATFORM_TOOL_MODULES = ["no_such_module_anywhere"]
    discover_tools()
    assert "no_such_module_anywhere" in caplog.text
    assert registry.get_spec("echo") is not None


@pytest.fixture(autouse=True)
def _keep_registry():
    before = registry.all_specs()
    yield
    assert set(registry.all_specs()) >= set(before)
