"""The status pages in headless Chromium against two real platform nodes on loopback (each
runplatform: uvicorn web process + Trio runtime with libp2p, its own database; embedded
default, or PostgreSQL with node A on Redis): what other processes do shows on the open page
within seconds, without a reload."""

from __future__ import annotations

import logging
import os
import signal
import time

import httpx
import pytest

from tests.harness import wait_until
from tests.peers.conftest import log_in, screenshot, trio_pid

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)


def mark_page(page) -> None:
    """Tag the document: the tag survives live updates and is lost by any reload."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def wait_live(page) -> None:
    page.wait_for_selector("#live-indicator[data-state=live]", timeout=15_000)


def kill_trio_runtime(node) -> int:
    pid = wait_until(lambda: trio_pid(node), timeout=60, what="the Trio runtime's pid")
    os.kill(pid, signal.SIGKILL)
    return pid


def test_anonymous_is_sent_to_login_and_non_staff_gets_403(status_cluster, browser_page):
    a, page = status_cluster.a, browser_page
    for path in ("/peers/", "/runtimes/", f"/peers/{status_cluster.b_peer_id}/"):
        page.goto(f"{a.url}{path}")
        assert "/admin/login/" in page.url and "next=" in page.url
    page.context.add_cookies(
        [{"name": "sessionid", "value": status_cluster.viewer_session, "url": a.url}]
    )
    assert page.goto(f"{a.url}/peers/").status == 403
    assert page.goto(f"{a.url}/runtimes/").status == 403


def test_runtimes_page_shows_the_trio_runtime_killed_and_restarted(status_cluster, browser_page):
    a, page = status_cluster.a, browser_page
    log_in(page, a.url, "/runtimes/")
    wait_live(page)
    up = page.wait_for_selector("tr[data-runtime=trio][data-state=up]", timeout=60_000)
    old_pid = int(up.get_attribute("data-pid"))
    assert page.is_visible("tr[data-runtime=asyncio][data-state=up]")
    assert status_cluster.nodes.peer_ids["a"] in page.inner_text(".node-identity")
    mark_page(page)
    screenshot(page, "runtimes-1-up")

    assert kill_trio_runtime(a) == old_pid
    killed_at = time.monotonic()
    page.wait_for_selector("tr[data-runtime=trio][data-state=down]", timeout=20_000)
    logger.info("runtime shown down %.2fs after SIGKILL", time.monotonic() - killed_at)
    assert_not_reloaded(page)
    screenshot(page, "runtimes-2-killed")

    # runplatform restarts it: the same row, a new pid, up again — still without a reload.
    restarted = page.wait_for_selector(
        f"tr[data-runtime=trio][data-state=up]:not([data-pid='{old_pid}'])", timeout=60_000
    )
    assert int(restarted.get_attribute("data-pid")) != old_pid
    assert_not_reloaded(page)
    screenshot(page, "runtimes-3-restarted")


def test_peers_page_shows_the_second_node_unreachable_then_connected(status_cluster, browser_page):
    a, b, page = status_cluster.a, status_cluster.b, browser_page
    b_id = status_cluster.b_peer_id
    row = f"tr[data-peer-id='{b_id}']"
    log_in(page, a.url, "/peers/")
    wait_live(page)
    page.wait_for_selector(f"{row}[data-status=connected]", timeout=60_000)
    mark_page(page)
    screenshot(page, "peers-1-connected")

    kill_trio_runtime(b)
    killed_at = time.monotonic()
    page.wait_for_selector(f"{row}[data-status=unreachable]", timeout=30_000)
    logger.info("peer shown unreachable %.2fs after SIGKILL", time.monotonic() - killed_at)
    assert_not_reloaded(page)
    screenshot(page, "peers-2-unreachable")

    # B's runplatform restarts its Trio runtime; the nodes reconnect (bootstrap and backoff).
    page.wait_for_selector(f"{row}[data-status=connected]", timeout=90_000)
    assert_not_reloaded(page)
    screenshot(page, "peers-3-connected-again")

    # B calls a tool on A: A's page for B lists the call, with RTT samples from real pings.
    reply = httpx.post(
        f"{b.url}/mcp/tools/call",
        json={
            "name": "p2p_remote_call",
            "arguments": {
                "peer_id": status_cluster.nodes.peer_ids["a"],
                "tool": "echo",
                "arguments": {"message": "hello A"},
            },
        },
        headers={"Authorization": f"Bearer {status_cluster.nodes.tokens['b']}"},
        timeout=60,
    )
    assert reply.status_code == 200 and not reply.json()["result"]["isError"], reply.text
    page.click(f"{row} td.peer-id a")
    page.wait_for_url(f"{a.url}/peers/{b_id}/")
    wait_live(page)
    page.wait_for_selector("#peer-calls td:has-text('echo')", timeout=20_000)
    assert page.is_visible("svg.rtt-chart polyline")
    assert page.is_visible("a:has-text('Edit in the admin')")
    screenshot(page, "peer-detail")


def test_pages_load_nothing_from_elsewhere_and_link_with_the_admin(status_cluster, browser_page):
    a, page = status_cluster.a, browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, a.url, "/peers/")
    wait_live(page)
    assert requested and all(url.startswith(a.url) for url in requested), requested
    page.click("#status-nav a:has-text('Runtimes status')")
    page.wait_for_url(f"{a.url}/runtimes/")
    page.click("#site-name a")
    page.wait_for_url(f"{a.url}/admin/")
    page.click("#status-module a:has-text('Peers')")
    page.wait_for_url(f"{a.url}/peers/")
    page.click("a:has-text('Manage peers in the admin')")
    page.wait_for_url(f"{a.url}/admin/peers/peer/")
    screenshot(page, "admin-peers")
