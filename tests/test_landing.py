"""The landing page at `/` in headless Chromium against a real node: the admin's look, the
links an operator needs, and the MCP URL copied with one click."""

from __future__ import annotations

import os

import pytest

from tests.conftest import require_service
from tests.harness import PlatformProcess
from tests.peers.conftest import CHROMIUM, LAUNCH_ARGS, screenshot

pytestmark = pytest.mark.slow


def test_landing_page_links_everywhere_and_copies_the_mcp_url(transactional_db, tmp_path):
    if not os.path.exists(CHROMIUM):
        require_service("chromium", f"{CHROMIUM} is missing (make test installs it)")
    from playwright.sync_api import sync_playwright

    from apps.tools.services import sync_tools

    sync_tools()  # ORM before Playwright starts its event loop on this thread
    node = PlatformProcess(tmp_path / "node").start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
            )
            context = browser.new_context(
                viewport={"width": 1200, "height": 800},
                permissions=["clipboard-read", "clipboard-write"],
            )
            page = context.new_page()
            assert page.goto(f"{node.url}/").status == 200
            # The admin's stylesheet is applied: its header bar is coloured, not the default.
            header = page.locator("#header")
            assert header.is_visible()
            assert header.evaluate("e => getComputedStyle(e).backgroundColor") != (
                "rgba(0, 0, 0, 0)"
            )
            assert page.locator("#mcp-url").inner_text() == f"{node.url}/mcp"
            for name, href in (
                ("Administration", "/admin/"),
                ("API docs", "/docs"),
                ("Management API docs", "/api/v2/docs"),
                ("Peers status", "/peers/"),
                ("Runtimes status", "/runtimes/"),
                ("Readiness", "/health/ready"),
                ("Metrics", "/metrics"),
            ):
                assert page.get_by_role("link", name=name, exact=True).get_attribute("href") == href
            page.click("#copy-mcp-url")
            page.wait_for_selector("#copy-mcp-url:has-text('Copied')", timeout=5_000)
            assert page.evaluate("navigator.clipboard.readText()") == f"{node.url}/mcp"
            screenshot(page, "landing")
            page.get_by_role("link", name="API docs", exact=True).click()
            page.wait_for_url(f"{node.url}/docs")
            browser.close()
    finally:
        node.stop()
