"""Production settings from the environment: under the profile docs/deployment.md documents,
`manage.py check --deploy` is clean; without it, it is not; the libp2p listener is loopback
unless opened."""

import os
import secrets
import subprocess
import sys

import pytest

from tests.harness import REPO

pytestmark = pytest.mark.slow

# The documented production profile (docs/deployment.md, "HTTPS").
PRODUCTION = {
    "MCP_PLATFORM_HTTPS": "1",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "ALLOWED_HOSTS": "mcp.example.com",
}


def manage(tmp_path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "MCP_PLATFORM_", "DJANGO_"))
        and k not in {"DATABASE_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=REPO,
        env={
            **clean,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "MCP_PLATFORM_DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_the_documented_profile(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_it(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_the_settings_come_from_the_environment_and_p2p_listens_on_loopback(tmp_path):
    show = (
        "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, "
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER, "
        "s.MCP_PLATFORM_P2P_LISTEN)"
    )
    default = manage(tmp_path, "shell", "-c", show)
    assert default.stdout.split()[-5:] == ["0", "False", "False", "None", "/ip4/127.0.0.1/tcp/4001"]
    production = manage(tmp_path, "shell", "-c", show, **PRODUCTION, SECURE_HSTS_SECONDS="600")
    assert production.stdout.strip().endswith(
        "600 True True ('HTTP_X_FORWARDED_PROTO', 'https') /ip4/127.0.0.1/tcp/4001"
    ), production.stdout
