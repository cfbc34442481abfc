"""Outside DEBUG the platform refuses to start without a real SECRET_KEY."""

import os
import subprocess
import sys

from tests.harness import REPO


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "MCP_PLATFORM_TESTING"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "mcp_platform.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_secret_key(tmp_path):
    result = _check({"MCP_PLATFORM_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_refuses_a_weak_secret_key(tmp_path):
    result = _check({"MCP_PLATFORM_DATA_DIR": str(tmp_path), "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_starts_with_a_real_key_or_in_debug(tmp_path):
    assert (
        _check(
            {"MCP_PLATFORM_DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 20 + "x9Z!" * 5}
        ).returncode
        == 0
    )
    assert _check({"MCP_PLATFORM_DATA_DIR": str(tmp_path), "DEBUG": "1"}).returncode == 0
