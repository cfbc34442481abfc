"""The two Ninja APIs: the legacy surface at the root, and the management API at /api/v2/."""

from __future__ import annotations

import logging

from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.db import DataError
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.security import HttpBearer

from apps.access.principal_cache import aresolve_principal
from apps.access.principals import Principal
from apps.access.services import AuthenticationFailed
from apps.oauth.services import token_serves
from apps.tools.call_service import CallError
from mcp_platform import __version__
from mcp_platform.errors import ApiError, Unauthorized, error_response

logger = logging.getLogger(__name__)


class BearerAuth(HttpBearer):
    """API token or JWT; without a header, the anonymous principal if the operator gave it
    scopes. Bad credentials are a 401 that says why. Async, so an async endpoint whose caller
    is cached (apps.access.principal_cache) makes no thread hop and no query."""

    async def __call__(self, request: HttpRequest) -> Principal:
        try:
            principal = await aresolve_principal(request.headers.get("Authorization"))
        except AuthenticationFailed as exc:
            raise Unauthorized(str(exc)) from None
        if not principal.is_authenticated and not principal.scopes:
            raise Unauthorized("Missing bearer token")
        try:
            here = request.build_absolute_uri(request.path)
        except DisallowedHost as exc:  # a Host not in ALLOWED_HOSTS: the client's mistake
            raise ApiError(f"Invalid Host header: {exc}", 400) from None
        if not token_serves(principal, here):
            raise Unauthorized("Token was issued for another resource")  # OAuth: MCP only
        return principal

    def authenticate(self, request: HttpRequest, token: str) -> Principal:  # pragma: no cover
        raise NotImplementedError  # __call__ does the work


bearer_auth = BearerAuth()


def install_error_handlers(api: NinjaAPI) -> None:
    """Every handled error in the legacy body; anything unexpected is a bare 500."""

    @api.exception_handler(ApiError)
    def api_error(request, exc: ApiError):
        return error_response(exc.message, exc.status_code, **exc.extra)

    @api.exception_handler(CallError)
    def call_error(request, exc: CallError):
        response = error_response(exc.message, exc.status_code, **exc.details)
        if "retry_after" in exc.details:  # RateLimited
            response["Retry-After"] = str(exc.details["retry_after"])
        return response

    @api.exception_handler(ValidationError)
    def validation_error(request, exc: ValidationError):
        errors = [
            {
                "field": ".".join(
                    str(p) for p in err.get("loc", ()) if p not in ("body", "payload")
                ),
                "problem": err.get("msg", "invalid"),
            }
            for err in exc.errors
        ]
        summary = "; ".join(f"{e['field'] or 'body'}: {e['problem']}" for e in errors)
        return error_response(f"Invalid request: {summary}", 422, errors=errors)

    @api.exception_handler(AuthenticationError)
    def authentication_error(request, exc):
        return error_response("Missing or invalid bearer token", 401)

    @api.exception_handler(AuthorizationError)
    def authorization_error(request, exc):
        return error_response("Forbidden", 403)

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        return error_response(str(exc), exc.status_code)

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return error_response(str(exc) or "Not found", 404)

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        from django.conf import settings

        return error_response(
            "Request body too large", 413, max_bytes=settings.MCP_PLATFORM_MAX_BODY_BYTES
        )

    @api.exception_handler(DataError)
    def unstorable(request, exc: DataError):
        # The client sent a value the database cannot store (a NUL character in text on
        # PostgreSQL, a number past its range): the request is at fault, not the server.
        logger.info("refused unstorable input on %s %s: %s", request.method, request.path, exc)
        return error_response(
            "Invalid request: a value cannot be stored (a NUL character, or a number out of range)",
            422,
        )

    @api.exception_handler(Exception)
    def unexpected(request, exc: Exception):
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("Internal server error", 500)


legacy_api = NinjaAPI(
    title="MCP Platform",
    version=__version__,
    description="Legacy-compatible REST surface of the ipfs_datasets_py MCP server.",
    urls_namespace="legacy",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=bearer_auth,
)
install_error_handlers(legacy_api)

v2_api = NinjaAPI(
    title="MCP Platform management API",
    version="2",
    description="Manage tools, routing, runtimes, peers, tokens, migrations and jobs.",
    urls_namespace="v2",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=bearer_auth,
)
install_error_handlers(v2_api)


def _mount_routers() -> None:
    from apps.access.api import legacy_router as access_router
    from apps.jobs.api import router as jobs_router
    from apps.routing.api import health_router as runtime_health_router
    from apps.routing.api import routing_router, runtimes_router
    from apps.tools.api import explain_router, health_router
    from apps.tools.api import legacy_router as tools_router
    from apps.tools.api import v2_router as tools_v2

    legacy_api.add_router("", health_router)
    legacy_api.add_router("", runtime_health_router)
    v2_api.add_router("/routing", routing_router)
    v2_api.add_router("/routing", explain_router)
    v2_api.add_router("/runtimes", runtimes_router)
    legacy_api.add_router("", access_router)
    legacy_api.add_router("", tools_router)
    v2_api.add_router("/tools", tools_v2)
    v2_api.add_router("/prompts", "apps.tools.api.prompts_router")
    v2_api.add_router("/resources", "apps.tools.api.resources_router")
    v2_api.add_router("/jobs", jobs_router)
    v2_api.add_router("/toolsets", "apps.toolsets.api.router")
    v2_api.add_router("/audit", "apps.audit.api.router")
    v2_api.add_router("/rate-limits", "apps.ratelimits.api.router")
    legacy_api.add_router("", "apps.audit.api.legacy_router")
    legacy_api.add_router("", "apps.taskqueue.api.p2p_legacy_router")
    legacy_api.add_router("", "apps.taskqueue.api.workflows_legacy_router")
    legacy_api.add_router("", "mcp_platform.node_api.node_router")


_mount_routers()
