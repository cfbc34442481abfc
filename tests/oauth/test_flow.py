"""The whole OAuth sign-in with clients nobody here wrote, against a running platform
(runplatform on free loopback ports, sharing the test database): the official MCP SDK's OAuth
client provider finds the platform from the 401, registers dynamically, sends the user to the
consent page, which headless Chromium (Playwright) signs into and approves; the SDK gets
tokens, lists and calls tools, and refreshes (rotation). Tokens for another resource, expired
and revoked ones are refused."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx
import httpx2
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from oauth2_provider.models import AccessToken

from tests.conftest import require_service
from tests.harness import free_port
from tests.peers.conftest import CHROMIUM, LAUNCH_ARGS

pytestmark = pytest.mark.slow

USERNAME = "carol"
PASSWORD = "carol-signs-in-for-claude"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "oauth"
OTHER_RESOURCE = "https://other.example/mcp"
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens) -> None:
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info) -> None:
        self.client_info = client_info


class Browser:
    """A user at a headless Chromium: opens the authorization URL, signs in when asked, allows,
    and hands back what the platform redirected to (caught before it leaves the browser)."""

    def __init__(self, page, callback: str):
        self.page = page
        self.callback = callback
        self.redirected: str | None = None
        self.arrived = anyio.Event()
        self.consents = 0

    async def start(self) -> None:
        async def catch(route) -> None:
            self.redirected = route.request.url
            self.arrived.set()
            await route.fulfill(status=200, body="You can close this window.")

        await self.page.route(lambda url: url.startswith(self.callback), catch)

    async def approve(self, authorization_url: str) -> None:
        self.redirected, self.arrived = None, anyio.Event()
        await self.page.goto(authorization_url)
        if "/oauth/sign-in/" in self.page.url:
            await self.page.fill("#id_username", USERNAME)
            await self.page.fill("#id_password", PASSWORD)
            await self.page.click("input[type=submit]")
        await self.page.wait_for_selector("#authorizationForm", timeout=30_000)
        assert await self.page.inner_text("#client-name") == "SDK OAuth test client"
        scopes = await self.page.eval_on_selector_all(
            "#consent-scopes li", "items => items.map(li => li.dataset.scope)"
        )
        assert sorted(scopes) == ["tools:call", "tools:read"]
        assert await self.page.inner_text("#consent-user") == USERNAME
        self.consents += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"consent-{self.consents}.png"))
        await self.page.click("#allow")
        with anyio.fail_after(30):
            await self.arrived.wait()
        # Let the page land on the callback before anything navigates it again.
        await self.page.wait_for_url(lambda url: url.startswith(self.callback), timeout=30_000)

    async def answer(self) -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(self.redirected).query)
        assert "error" not in query, query
        return AuthorizationCodeResult(
            code=query["code"][0], state=query["state"][0], iss=query.get("iss", [None])[0]
        )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def mcp_status(url: str, access_token: str) -> httpx.Response:
    return httpx.post(
        url,
        json=LIST_TOOLS,
        headers={"Accept": "application/json", "Authorization": f"Bearer {access_token}"},
        timeout=30,
    )


@pytest.fixture
def carol(django_user_model):
    """A user who is not staff, with a password the platform process can check (its hashers
    are the real settings', not the test settings' fast one)."""
    user = django_user_model.objects.create_user(USERNAME)
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, secrets.token_hex(8))
    user.save(update_fields=["password"])
    return user


def test_sdk_oauth_client_signs_in_through_the_browser_and_uses_tools(platform, carol):
    if not os.path.exists(CHROMIUM):
        require_service("chromium", f"{CHROMIUM} is missing (make test installs it)")
    base = platform.url
    mcp_url = f"{base}/mcp"
    trio_mcp = f"{platform.trio_url}/mcp"
    callback = f"http://127.0.0.1:{free_port()}/callback"

    # The 401 names the resource metadata, which names the authorization server.
    anonymous = httpx.post(mcp_url, json=LIST_TOOLS, headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    challenge = anonymous.headers["www-authenticate"]
    assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in challenge
    metadata = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["resource"] == mcp_url and metadata["authorization_servers"] == [base]

    storage = MemoryStorage()
    seen: dict = {}

    async def scenario() -> None:
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            chromium = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
            )
            try:
                page = await (await chromium.new_context()).new_page()
                browser = Browser(page, callback)
                await browser.start()
                provider = OAuthClientProvider(
                    server_url=mcp_url,
                    client_metadata=OAuthClientMetadata(
                        client_name="SDK OAuth test client",
                        redirect_uris=[callback],
                        grant_types=["authorization_code", "refresh_token"],
                        response_types=["code"],
                        token_endpoint_auth_method="none",
                        scope="tools:read tools:call",
                    ),
                    storage=storage,
                    redirect_handler=browser.approve,
                    callback_handler=browser.answer,
                )
                async with (
                    httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30, read=120)) as http,
                    Client(streamable_http_client(mcp_url, http_client=http)) as client,
                ):
                    tools = await client.list_tools()
                    assert "echo" in [tool.name for tool in tools.tools]
                    reply = await client.call_tool("echo", {"message": "via oauth"})
                    assert reply.structured_content == {"message": "via oauth"}
                assert browser.consents == 1
                seen["first"] = storage.tokens.model_copy()
                seen["client_id"] = storage.client_info.client_id

                # The access token is past its time: the SDK refreshes, the refresh rotates.
                provider.context.token_expiry_time = time.time() - 1
                async with (
                    httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30, read=120)) as http,
                    Client(streamable_http_client(mcp_url, http_client=http)) as client,
                ):
                    reply = await client.call_tool("echo", {"message": "after refresh"})
                    assert reply.structured_content == {"message": "after refresh"}
                assert browser.consents == 1  # refreshed, not signed in again
                seen["second"] = storage.tokens.model_copy()

                # Tokens asked for other resources, through the same consent: a foreign one,
                # and the Trio runtime's /mcp (a resource of its own).
                seen["codes"] = {}
                for resource in (OTHER_RESOURCE, trio_mcp):
                    verifier, code_challenge = pkce()
                    await browser.approve(
                        f"{base}/authorize?"
                        + urlencode(
                            {
                                "response_type": "code",
                                "client_id": seen["client_id"],
                                "redirect_uri": callback,
                                "state": "manual",
                                "scope": "tools:read tools:call",
                                "code_challenge": code_challenge,
                                "code_challenge_method": "S256",
                                "resource": resource,
                            }
                        )
                    )
                    seen["codes"][resource] = ((await browser.answer()).code, verifier)
            finally:
                await chromium.close()

    anyio.run(scenario)

    first, second = seen["first"], seen["second"]
    assert first.access_token.startswith("mcpo_") and first.refresh_token
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert mcp_status(mcp_url, second.access_token).status_code == 200

    def exchange(resource: str) -> str:
        code, verifier = seen["codes"][resource]
        reply = httpx.post(
            f"{base}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": callback,
                "client_id": seen["client_id"],
                "code_verifier": verifier,
                "resource": resource,
            },
        )
        assert reply.status_code == 200, reply.text
        return reply.json()["access_token"]

    refused = mcp_status(mcp_url, exchange(OTHER_RESOURCE))
    assert refused.status_code == 401
    assert "another resource" in refused.json()["error"]["message"]
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]

    # The Trio runtime's /mcp is a resource of its own: it names the web's authorization
    # server, and a token granted for the web's /mcp is refused there.
    trio_metadata = httpx.get(f"{platform.trio_url}/.well-known/oauth-protected-resource/mcp")
    assert trio_metadata.json()["resource"] == trio_mcp
    assert trio_metadata.json()["authorization_servers"] == [base]
    trio_anonymous = httpx.post(trio_mcp, json=LIST_TOOLS, headers={"Accept": "application/json"})
    assert trio_anonymous.status_code == 401
    assert (
        f"{platform.trio_url}/.well-known/oauth-protected-resource/mcp"
        in (trio_anonymous.headers["www-authenticate"])
    )
    assert mcp_status(trio_mcp, second.access_token).status_code == 401
    trio_token = exchange(trio_mcp)
    assert mcp_status(trio_mcp, trio_token).status_code == 200
    assert mcp_status(mcp_url, trio_token).status_code == 401

    # Expired: the token's time is moved into the past in the database.
    checksum = hashlib.sha256(second.access_token.encode()).hexdigest()
    expires = AccessToken.objects.get(token_checksum=checksum).expires
    AccessToken.objects.filter(token_checksum=checksum).update(expires=timezone.now())
    assert mcp_status(mcp_url, second.access_token).status_code == 401
    AccessToken.objects.filter(token_checksum=checksum).update(expires=expires)
    assert mcp_status(mcp_url, second.access_token).status_code == 200

    # Revoked by the client (RFC 7009).
    revoked = httpx.post(
        f"{base}/revoke", data={"token": second.access_token, "client_id": seen["client_id"]}
    )
    assert revoked.status_code == 200
    gone = mcp_status(mcp_url, second.access_token)
    assert gone.status_code == 401 and 'error="invalid_token"' in gone.headers["www-authenticate"]

    # The rotated-away refresh token is refused.
    reused = httpx.post(
        f"{base}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.refresh_token,
            "client_id": seen["client_id"],
        },
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    # Static API tokens keep working beside OAuth.
    from apps.access.services import create_api_token

    _, secret = create_api_token(name="static", scopes=["tools:read"])
    assert mcp_status(mcp_url, secret).status_code == 200
