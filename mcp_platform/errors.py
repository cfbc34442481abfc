"""One error body for every handled error of the REST APIs (the legacy server's shape)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import JsonResponse


class ApiError(Exception):
    """An error the API answers with `status_code` and the legacy error body."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def error_response(message: str, status_code: int, **extra: Any) -> JsonResponse:
    body = {"error": message, "status_code": status_code, "timestamp": now_iso(), **extra}
    response = JsonResponse(body, status=status_code)
    if status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="mcp-platform"'
    return response


def require_scope(principal: Any, scope: str) -> None:
    """Raise Forbidden (403) unless the caller has `scope`."""
    if not principal.has_scope(scope):
        raise Forbidden(f"Caller '{principal.name}' lacks the '{scope}' scope")


def invalid_input(exc: Exception, subject: str) -> ApiError:
    """A 422 naming each field a model or service refused (from a ValidationError or a
    ValueError), with `errors: [{field, problem}]`."""
    messages = getattr(exc, "message_dict", None) or {"": getattr(exc, "messages", [str(exc)])}
    errors = [
        {"field": field, "problem": problem}
        for field, problems in messages.items()
        for problem in problems
    ]
    summary = "; ".join(f"{e['field'] or subject}: {e['problem']}" for e in errors)
    return ApiError(f"Invalid {subject}: {summary}", 422, errors=errors)
