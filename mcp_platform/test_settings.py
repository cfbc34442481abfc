"""Settings for the test suite: the real settings, with test defaults set first."""

import os
import secrets
from pathlib import Path

os.environ["MCP_PLATFORM_TESTING"] = "1"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # a real key: no bypass needed
os.environ.setdefault(
    "MCP_PLATFORM_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from mcp_platform.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
