"""The auth matrix, enumerated from the URL conf and the ASGI mounts: every route that is not on
the explicit open list (docs/api.md) refuses a caller without a token; call routes refuse a
read-only token and a token whose tool patterns leave the tool out. A new route is covered
without editing this file; a new open route must be added to OPEN (and to docs/api.md)."""

import asyncio
import json
import re
import uuid

import httpx
import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver

# Open without a token, as docs/api.md lists them (route patterns as the URL conf spells them).
OPEN = {
    "health",
    "health/ready",
    "health/runtime",
    "metrics",
    "auth/login",
    "auth/refresh",
    "docs",
    "redoc",
    "openapi.json",
    "api/v2/docs",
    "api/v2/openapi.json",
    "admin/login/",
    "admin/logout/",  # ends the caller's own session, if any
    "",  # the landing page: what this node is, links, the MCP URL
}
# The OAuth server's routes: open by design (a client has no token before it signs in), each
# checked for what it answers without one in tests/oauth/test_routes.py.
OAUTH_SERVER = {
    ".well-known/oauth-authorization-server",
    ".well-known/oauth-protected-resource",
    ".well-known/oauth-protected-resource/<path:resource_path>",
    "oauth/sign-in/",
    "authorize",
    "token",
    "revoke",
    "register",
    "register/<str:client_id>",
}
# The management API's root route (django-ninja's home): 404 to everyone.
NOTHING_SERVED = {"api/v2/"}
# Legacy operator routes under the admin's prefix: bearer tokens like the rest of the API.
BEARER_UNDER_ADMIN = {"admin/stats", "admin/health"}
# Django pages (the admin, the status pages): a staff session, else a redirect to the login.
PAGE_PREFIXES = ("admin/", "peers/", "runtimes/")
METHODS = ("get", "post", "put", "patch", "delete")
CALL_ROUTES = {
    "tools/execute/<tool_name>": {"message": "x"},
    "mcp/tools/call": {"name": "echo", "arguments": {"message": "x"}},
    "api/v2/tools/<name>/call": {"message": "x"},
    "api/v2/jobs": {"tool": "echo", "arguments": {"message": "x"}},
}
# Reads that need `tools:read` (a call-only token is refused), and edits that need `admin`.
READ_ROUTES = ("api/v2/prompts/", "api/v2/resources/")
ADMIN_PATCH_ROUTES = {"api/v2/prompts/<name>": "summarize", "api/v2/resources/<name>": "status"}
SAMPLE = {
    "job_id": str(uuid.uuid4()),
    "rule_id": "1",
    "limit_id": "1",
    "object_id": "1",
    "peer_id": "12D3KooWx",
}


def _routes(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def _concrete(route: str) -> str | None:
    """A request path for a route pattern (regex routes of the admin are filled in too)."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE.get(m.group(1), "echo"), route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLE.get(m.group(1), "1"), path)
    path = path.lstrip("^").rstrip("$").replace("\\", "")
    return None if re.search(r"[()\[\]*+?]", path) else "/" + path


def all_routes() -> list[str]:
    routes = sorted({route for route, _ in _routes()})
    assert len(routes) > 40, routes  # the URL conf was read, the admin included
    return routes


@pytest.fixture
def matrix_db(db, catalogue):
    return None


def _request(client: Client, method: str, path: str):
    body = b"" if method == "get" else b"{}"
    return client.generic(method.upper(), path, body, content_type="application/json")


def _assert_refused(route: str, path: str, client: Client) -> None:
    for method in METHODS:
        reply = _request(client, method, path)
        status = reply.status_code
        if route.startswith(PAGE_PREFIXES) and route not in BEARER_UNDER_ADMIN:
            assert status in (302, 403, 404, 405), (method, path, status)
            if status == 302:
                assert "/admin/login/" in reply["Location"], (method, path, reply["Location"])
        else:
            # 405: no such method on the route (checked before auth by the framework, which
            # reveals nothing); everything else must be the 401 with a challenge.
            assert status in (401, 405), (method, path, status, reply.content[:200])
            if status == 401:
                assert reply["WWW-Authenticate"].startswith("Bearer"), (method, path)


def test_every_route_not_on_the_open_list_refuses_a_caller_without_a_token(matrix_db):
    client = Client()
    checked = 0
    for route in all_routes():
        if route in OPEN or route in OAUTH_SERVER:
            continue
        if route in NOTHING_SERVED:
            assert Client().get("/" + route).status_code == 404, route
            continue
        path = _concrete(route)
        if path is None:
            continue
        _assert_refused(route, path, client)
        checked += 1
    assert checked > 40


def test_the_open_list_is_exactly_what_answers_without_a_token(matrix_db):
    """Each OPEN route answers an anonymous GET or POST with something other than 401/302: the
    list names no route that is not there and not open."""
    routes = set(all_routes())
    assert routes >= OAUTH_SERVER, OAUTH_SERVER - routes
    client = Client()
    for route in OPEN:
        assert route in routes, route
        method = "post" if route.startswith("auth/") else "get"
        reply = _request(client, method, "/" + route)
        if route.startswith("auth/"):
            assert reply.status_code in (401, 422), route  # checks credentials, not a token
        elif route.startswith("admin/"):
            assert reply.status_code in (200, 302, 405), (route, reply.status_code)
            assert "/admin/login/" not in reply.get("Location", ""), route
        else:
            assert reply.status_code in (200, 503), (route, reply.status_code)


@pytest.mark.parametrize("route", sorted(CALL_ROUTES))
def test_call_routes_refuse_a_read_only_token_and_a_token_outside_its_patterns(
    matrix_db, make_token, client_for, route
):
    assert route in set(all_routes())
    path = _concrete(route)
    body = CALL_ROUTES[route]
    for token in (make_token(scopes=("tools:read",)), make_token(allowed_tools="calc*")):
        reply = client_for(token).post(path, data=body, content_type="application/json")
        assert reply.status_code in (403, 404), (route, reply.status_code, reply.content[:200])
    allowed = client_for(make_token()).post(path, data=body, content_type="application/json")
    assert allowed.status_code in (200, 202), (route, allowed.status_code, allowed.content[:300])


@pytest.mark.parametrize("route", READ_ROUTES)
def test_read_routes_refuse_a_token_without_tools_read(matrix_db, make_token, client_for, route):
    assert route in set(all_routes())
    refused = client_for(make_token(scopes=("tools:call",))).get("/" + route)
    assert refused.status_code == 403, (route, refused.status_code)
    assert client_for(make_token(scopes=("tools:read",))).get("/" + route).status_code == 200


@pytest.mark.parametrize("route", sorted(ADMIN_PATCH_ROUTES))
def test_edit_routes_refuse_a_token_without_admin(matrix_db, make_token, client_for, route):
    assert route in set(all_routes())
    path = "/" + route.replace("<name>", ADMIN_PATCH_ROUTES[route])
    reply = client_for(make_token()).patch(
        path, data={"enabled": True}, content_type="application/json"
    )
    assert reply.status_code == 403, (route, reply.status_code)


def _asgi(requests):
    from starlette.routing import Route

    from mcp_platform.asgi import ToolsetRoute, application, mcp_endpoints

    assert set(mcp_endpoints()) == {"/mcp"}, "a new MCP endpoint: add it to this matrix"
    routed = {route.path for route in application.routes if isinstance(route, Route)}
    assert routed == {"/mcp", "/mcp/"}, "a new ASGI route: add it to this matrix"
    # /mcp/<slug>: one MCP endpoint per toolset (the legacy /mcp/tools... routes are not it).
    assert sum(isinstance(route, ToolsetRoute) for route in application.routes) == 1

    async def run():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return [await http.request(*r[:2], **r[2]) for r in requests]

    return asyncio.run(run())


@pytest.mark.django_db(transaction=True)
def test_the_mcp_mounts_refuse_without_a_token_a_read_only_token_and_outside_patterns(
    make_token,
):
    from apps.access.models import ApiToken
    from apps.tools.services import sync_tools
    from apps.toolsets.services import create_toolset

    sync_tools()
    toolset = create_toolset(slug="matrix", title="Matrix", tools=["echo", "calc*"])
    narrow = create_toolset(slug="matrix-calc", title="Calc", tools=["calc*"])
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "x"}},
    }

    def post(token=None, path="/mcp"):
        headers = {"content-type": "application/json", "accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return ("POST", path, {"content": json.dumps(call), "headers": headers})

    bound = make_token()
    ApiToken.objects.get(prefix=bound[:11]).toolsets.add(narrow)
    paths = ("/mcp", f"/mcp/{toolset.slug}")
    tokens = [
        None,
        make_token(scopes=("tools:read",)),
        make_token(allowed_tools="calc*"),
        bound,  # bound to a toolset without echo
        make_token(),
    ]
    replies = _asgi([post(token, path) for path in paths for token in tokens])  # one loop
    for index, path in enumerate(paths):
        anonymous, read_only, outside, outside_toolset, allowed = replies[index * 5 : index * 5 + 5]
        assert anonymous.status_code == 401, path
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        for refused in (read_only, outside, outside_toolset):
            body = refused.json()
            error = body.get("error", {}).get("code")
            assert error in (-32001, -32602) or body.get("result", {}).get("isError"), body
        assert allowed.json()["result"]["isError"] is False, (path, allowed.json())
