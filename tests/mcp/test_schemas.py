"""Input schemas over MCP on a running node: JSON Schema 2020-12 schemas reach clients as
declared and validate arguments, and `Mcp-Param-*` headers are checked against the body
(2026-07-28) — with the official SDK client and raw HTTP."""

from __future__ import annotations

import itertools
import json

import anyio
import httpx
import pytest

from tests.mcp.conftest import list_all, mcp_client
from tests.mcp.schema_tools import CONTACT_SCHEMA, DIALECT

pytestmark = pytest.mark.slow

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_a_declared_2020_12_schema_reaches_clients_whole_and_validates_arguments(
    mcp_node, new_token, mode
):
    token = new_token()

    async def scenario():
        async with mcp_client(f"{mcp_node.url}/mcp", token, mode=mode) as client:
            tools = {tool.name: tool for tool in (await list_all(client))[0]}
            assert tools["json_schema_2020_12_tool"].input_schema == CONTACT_SCHEMA
            derived = tools["echo"].input_schema
            assert derived["$schema"] == DIALECT and derived["required"] == ["message"]

            contact = {"name": "Ada", "contactMethod": "phone", "phone": "555"}
            reply = await client.call_tool("json_schema_2020_12_tool", contact)
            assert not reply.is_error and reply.structured_content == {"contact": contact}

            # `if contactMethod is phone then phone is required` is enforced...
            wrong = await client.call_tool(
                "json_schema_2020_12_tool", {"contactMethod": "phone", "email": "a@b.c"}
            )
            assert wrong.is_error
            assert wrong.content[0].text == (
                "Invalid arguments for tool 'json_schema_2020_12_tool': "
                "(arguments): 'phone' is a required property"
            )
            # ... and so are the $ref'd definition and additionalProperties: false.
            nested = await client.call_tool(
                "json_schema_2020_12_tool", {"email": "a@b.c", "address": {"city": 7}}
            )
            assert nested.is_error and "address.city: 7 is not of type 'string'" in (
                nested.content[0].text
            )
            extra = await client.call_tool("json_schema_2020_12_tool", {"email": "e", "x": 1})
            assert extra.is_error and "'x' was unexpected" in extra.content[0].text

    anyio.run(scenario)


def test_the_sdk_client_mirrors_an_x_mcp_header_argument_and_the_node_accepts_it(
    mcp_node, new_token
):
    token = new_token()

    async def scenario():
        async with mcp_client(f"{mcp_node.url}/mcp", token, mode="auto") as client:
            assert client.protocol_version == "2026-07-28"
            tools = {tool.name: tool for tool in (await list_all(client))[0]}
            region = tools["regional_lookup"].input_schema["properties"]["region"]
            assert region["x-mcp-header"] == "Region"
            # The SDK sends `Mcp-Param-Region: eu-west` with this call; the node checks it.
            reply = await client.call_tool("regional_lookup", {"region": "eu-west", "key": "k"})
            assert reply.structured_content == {"region": "eu-west", "key": "k"}

    anyio.run(scenario)


def test_a_mismatched_or_missing_mcp_param_header_is_a_400_with_32020(mcp_node, new_token):
    ids = itertools.count(1)
    headers = {
        "Authorization": f"Bearer {new_token()}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "regional_lookup",
    }

    def call(arguments: dict, **extra: str) -> httpx.Response:
        body = {
            "jsonrpc": "2.0",
            "id": next(ids),
            "method": "tools/call",
            "params": {"name": "regional_lookup", "arguments": arguments, "_meta": MODERN_META},
        }
        return http.post(f"{mcp_node.url}/mcp", json=body, headers={**headers, **extra})

    arguments = {"region": "eu-west", "key": "k"}
    with httpx.Client(timeout=30) as http:
        matched = call(arguments, **{"Mcp-Param-Region": "eu-west"})
        assert matched.status_code == 200, matched.text
        assert '"region":"eu-west"' in matched.text.replace(" ", "")

        base64 = call(arguments, **{"Mcp-Param-Region": "=?base64?ZXUtd2VzdA==?="})
        assert base64.status_code == 200, base64.text

        for extra, problem in (
            ({"Mcp-Param-Region": "us-east"}, "does not match"),
            ({}, "is missing"),
            ({"Mcp-Param-Region": "=?base64?ZXUtd2VzdA?="}, "malformed base64"),
        ):
            refused = call(arguments, **extra)
            assert refused.status_code == 400, refused.text
            error = json.loads(refused.text)["error"]
            assert error["code"] == -32020
            assert "Mcp-Param-Region" in error["message"] and problem in error["message"]


def test_rest_refuses_arguments_outside_a_declared_schema_with_422_naming_them(mcp_node, new_token):
    headers = {"Authorization": f"Bearer {new_token()}"}
    url = f"{mcp_node.url}/api/v2/tools/json_schema_2020_12_tool/call"
    with httpx.Client(timeout=30, headers=headers) as http:
        refused = http.post(url, json={"contactMethod": "email", "address": {"city": 7}})
        assert refused.status_code == 422, refused.text
        problems = {(e["field"], e["problem"]) for e in refused.json()["errors"]}
        assert ("address.city", "7 is not of type 'string'") in problems
        assert ("(arguments)", "'email' is a required property") in problems
        accepted = http.post(url, json={"email": "a@b.c"})
        assert accepted.status_code == 200, accepted.text
