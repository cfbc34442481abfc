"""A real browser (headless Debian Chromium through Playwright) against real platform nodes."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, require_service
from tests.harness import NodeCluster, PlatformProcess

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "peers"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.call_failed = report.failed  # read by browser_page to keep a failure screenshot
    return report


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """Headless Chromium, launched once per module.

    Playwright's sync API runs an event loop on this thread while it lives, which Django takes
    for async code: modules using it keep ORM calls out (the nodes have their own databases).
    """
    if not os.path.exists(CHROMIUM):
        require_service("chromium", f"{CHROMIUM} is missing (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, request) -> Iterator:
    """A page in a fresh browser context (no cookies); a failing test leaves a screenshot."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        yield page
    finally:
        if getattr(request.node, "call_failed", False):
            screenshot(page, f"FAILED-{request.node.name}")
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/peers/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, base_url: str, path: str, *, username: str = "admin") -> None:
    """Open `path`, get sent to the admin login, sign in, land back on `path`."""
    page.goto(f"{base_url}{path}")
    assert "/admin/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}{path}")


def users_code(viewer_session: str) -> str:
    """An admin, and a non-staff user signed in under the session key `viewer_session` (the
    admin's login form refuses non-staff users, so the test brings its own session)."""
    return f"""
from datetime import timedelta
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
User = get_user_model()
User.objects.create_superuser("admin", "", {ADMIN_PASSWORD!r})
viewer = User.objects.create_user("viewer", password={ADMIN_PASSWORD!r})
data = SessionStore().encode({{
    SESSION_KEY: str(viewer.pk),
    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
    HASH_SESSION_KEY: viewer.get_session_auth_hash(),
}})
Session.objects.create(
    session_key={viewer_session!r}, session_data=data, expire_date=timezone.now() + timedelta(hours=1)
)
"""


@dataclass
class StatusCluster:
    """Node A (whose pages the browser watches) and node B, its peer, each a whole platform
    (runplatform: web + Trio runtime with libp2p) with its own database; they trust each other
    and bootstrap to each other. A also has an admin, a non-staff user and that user's session."""

    nodes: NodeCluster
    viewer_session: str

    @property
    def a(self) -> PlatformProcess:
        return self.nodes.node("a")

    @property
    def b(self) -> PlatformProcess:
        return self.nodes.node("b")

    @property
    def b_peer_id(self) -> str:
        return self.nodes.peer_ids["b"]


def _peers_code(nodes: NodeCluster, name: str, other: str) -> str:
    peer_id = nodes.peer_ids[other]
    listen = nodes.node(other).env["MCP_PLATFORM_P2P_LISTEN"]
    return (
        "from apps.peers.models import BootstrapNode, Peer\n"
        f"Peer.objects.create(peer_id={peer_id!r}, trusted=True, source='bootstrap', "
        f"addresses=[{listen!r}])\n"
        f"BootstrapNode.objects.create(multiaddr={listen + '/p2p/' + peer_id!r})\n"
    )


@pytest.fixture(scope="module")
def status_cluster(tmp_path_factory, django_db_setup) -> Iterator[StatusCluster]:
    nodes = NodeCluster(
        tmp_path_factory.mktemp("status"),
        ("a", "b"),
        env={"REDIS_URL": "", "MCP_PLATFORM_P2P_PROBE_SECONDS": "1"},
    )
    # A uses Redis when the suite has it (channels-redis pushes); B stays embedded.
    nodes.node("a").env["REDIS_URL"] = os.environ.get("REDIS_URL", "")
    session = secrets.token_hex(16)
    try:
        nodes.prepare(
            {
                "a": _peers_code(nodes, "a", "b") + users_code(session),
                "b": _peers_code(nodes, "b", "a"),
            }
        )
        nodes.start()
        yield StatusCluster(nodes, session)
    finally:
        nodes.stop()


def trio_pid(node: PlatformProcess) -> int | None:
    """The pid of the node's Trio runtime, from its own health endpoint (None while down)."""
    try:
        return httpx.get(f"{node.trio_url}/health", timeout=2).json()["pid"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
