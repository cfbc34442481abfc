"""The platform as `make run` starts it: a real runplatform process on loopback."""

import io

import httpx
import pytest
from django.core.management import call_command

from apps.access.services import create_api_token

JUNK_BODIES = [
    b"{not json",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'"a string"',
    b"null",
    b'{"message": 5}',
    b'{"message": {"nested": [1, 2]}}',
    b'{"message": "' + b"x" * 100_000 + b'"}',
    b"",
]


def _assert_handled(reply: httpx.Response) -> None:
    assert reply.status_code < 500, (reply.status_code, reply.text[:300])
    assert "Traceback" not in reply.text
    assert reply.headers["content-type"].startswith("application/json"), reply.text[:200]


@pytest.mark.slow
def test_platform_serves_and_never_answers_junk_with_a_500_or_a_traceback(platform):
    _, secret = create_api_token(name="junk", scopes=["tools:read", "tools:call"])
    auth = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=platform.url, timeout=30) as http:
        assert http.get("/health").json()["status"] == "healthy"
        ok = http.post("/tools/execute/echo", json={"message": "real"}, headers=auth)
        assert ok.json() == {"tool": "echo", "status": "success", "result": {"message": "real"}}

        for body in JUNK_BODIES:
            for path in (
                "/tools/execute/echo",
                "/mcp/tools/call",
                "/auth/login",
                "/tools/execute/calculate",
            ):
                _assert_handled(
                    http.post(
                        path, content=body, headers={**auth, "content-type": "application/json"}
                    )
                )
        for name in ("nope", "a" * 5000, "..%2F..%2Fetc", "echo;drop", "%00", "über"):
            reply = http.post(f"/tools/execute/{name}", json={}, headers=auth)
            _assert_handled(reply)
            assert reply.status_code == 404
        for header in ("Bearer", "Bearer  x", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "garbage"):
            reply = http.get("/tools/list", headers={"Authorization": header})
            _assert_handled(reply)
            assert reply.status_code == 401
        wrong_method = http.get("/tools/execute/echo", headers=auth)
        assert wrong_method.status_code == 405 and "Traceback" not in wrong_method.text

        oversized = http.post(
            "/tools/execute/echo",
            content=b"x" * (10 * 1024 * 1024 + 1),
            headers={**auth, "content-type": "application/json"},
        )
        assert oversized.status_code == 413
        assert oversized.json()["error"] == "Request body too large"
        assert oversized.json()["max_bytes"] == 10 * 1024 * 1024

        def chunks():
            for _ in range(11):
                yield b"x" * (1024 * 1024)

        chunked = http.post(
            "/tools/execute/echo",
            content=chunks(),
            headers={**auth, "content-type": "application/json"},
        )
        assert chunked.status_code == 413

        # Still serving after all of it.
        assert (
            http.post("/tools/execute/echo", json={"message": "after"}, headers=auth).status_code
            == 200
        )
    assert "Traceback" not in platform.output, platform.output[-3000:]


def test_first_admin_is_created_once_with_a_generated_password_printed_once(
    db, settings, django_user_model
):
    settings.MCP_PLATFORM_ADMIN_PASSWORD = ""
    first = io.StringIO()
    call_command("ensure_admin", stdout=first)
    assert "password: " in first.getvalue()
    password = first.getvalue().split("password: ")[1].split()[0]
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    second = io.StringIO()
    call_command("ensure_admin", stdout=second)
    assert second.getvalue() == ""
    assert django_user_model.objects.count() == 1


def test_first_admin_takes_credentials_from_the_environment(db, settings, django_user_model):
    settings.MCP_PLATFORM_ADMIN_USER = "root"
    settings.MCP_PLATFORM_ADMIN_PASSWORD = "chosen-password-123"
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "password:" not in out.getvalue()
    assert django_user_model.objects.get(username="root").check_password("chosen-password-123")
