"""API versions: legacy paths answer as before, pointing at their /api/v2/ successor."""

from __future__ import annotations

import pytest

from apps.migration.middleware import LEGACY_DEPRECATED_AT

pytestmark = pytest.mark.django_db

DEPRECATION = f"@{int(LEGACY_DEPRECATED_AT.timestamp())}"


def test_legacy_tools_list_is_deprecated_in_favour_of_v2_tools(catalogue, token, client_for):
    response = client_for(token).get("/tools/list")
    assert response.status_code == 200
    assert "echo" in response.json()["tools"]  # the legacy shape, unchanged
    assert response["Deprecation"] == DEPRECATION
    assert response["Link"] == '</api/v2/tools/>; rel="successor-version"'


def test_legacy_execute_links_to_the_v2_call_of_the_same_tool(catalogue, token, client_for):
    response = client_for(token).post(
        "/tools/execute/echo", {"message": "hi"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json() == {"tool": "echo", "status": "success", "result": {"message": "hi"}}
    assert response["Link"] == '</api/v2/tools/echo/call>; rel="successor-version"'
    assert response["Deprecation"] == DEPRECATION


def test_legacy_errors_carry_the_headers_too(catalogue, token, client_for):
    response = client_for(token).post(
        "/tools/execute/no_such_tool", {}, content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["error"] == "Tool 'no_such_tool' not found"
    assert response["Link"] == '</api/v2/tools/no_such_tool/call>; rel="successor-version"'


def test_legacy_paths_without_a_v2_equivalent_are_not_deprecated(client_for):
    response = client_for().get("/health")
    assert response.status_code == 200
    assert "Deprecation" not in response and "Link" not in response


def test_v2_responses_carry_the_api_version(catalogue, token, client_for):
    response = client_for(token).get("/api/v2/tools/")
    assert response.status_code == 200
    assert response["API-Version"] == "2"
    assert "Deprecation" not in response
    unauthorized = client_for().get("/api/v2/tools/")
    assert unauthorized.status_code == 401 and unauthorized["API-Version"] == "2"
