"""Prompts and resources on a running node's /mcp: an admin's edit reaches connected clients of
both eras as prompts/list_changed, and subscribers of a resource hear resources/updated."""

from __future__ import annotations

import anyio
import mcp_types as types
import pytest
from django.db import connection
from django.test import Client as DjangoClient
from mcp.shared.subscriptions import PromptsListChanged, ResourceUpdated

from apps.tools.models import Prompt
from apps.tools.services import sync_prompts, sync_resources
from tests.admin_forms import submit_change_form
from tests.mcp.conftest import mcp_client

pytestmark = [
    pytest.mark.slow,
    # The 2025-era session subscribes the old way on purpose; the SDK warns it is gone in 2026.
    pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed"),
]
STATUS = "platform://status"


@pytest.fixture(scope="module")
def content(bulk_tools):
    """The built-in prompts and resources, synced (committed) for the node to serve."""
    sync_prompts()
    sync_resources()


def _set_prompt_enabled_in_admin(staff_user, name: str, enabled: bool) -> None:
    try:
        browser = DjangoClient()
        browser.force_login(staff_user)
        prompt = Prompt.objects.get(name=name)
        submit_change_form(browser, f"/admin/tools/prompt/{prompt.pk}/change/", enabled=enabled)
    finally:
        connection.close()


def test_a_prompt_disabled_in_the_admin_reaches_both_eras_as_list_changed(
    content, mcp_node, new_token, staff_user
):
    token = new_token()
    url = f"{mcp_node.url}/mcp"
    prompts_changed, status_updated = anyio.Event(), anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            prompts_changed.set()
        if isinstance(message, types.ResourceUpdatedNotification) and message.params.uri == STATUS:
            status_updated.set()

    async def scenario():
        async with (
            mcp_client(url, token, mode="legacy", message_handler=on_message) as legacy,
            mcp_client(url, token, mode="auto") as modern,
            modern.listen(prompts_list_changed=True, resource_subscriptions=[STATUS]) as events,
        ):
            assert modern.protocol_version == "2026-07-28"
            assert "summarize" in [p.name for p in (await legacy.list_prompts()).prompts]
            await legacy.subscribe_resource(STATUS)
            await anyio.sleep(0.5)  # the client opens its GET stream after the handshake
            await anyio.to_thread.run_sync(
                _set_prompt_enabled_in_admin, staff_user, "summarize", False
            )
            with anyio.fail_after(10):  # bounded: the watcher polls every half second
                await prompts_changed.wait()
                await status_updated.wait()
            seen: set[type] = set()
            with anyio.fail_after(10):
                async for event in events:
                    seen.add(type(event))
                    if {PromptsListChanged, ResourceUpdated} <= seen:
                        break
            assert "summarize" not in [p.name for p in (await legacy.list_prompts()).prompts]
            assert "summarize" not in [p.name for p in (await modern.list_prompts()).prompts]
            await legacy.unsubscribe_resource(STATUS)

    try:
        anyio.run(scenario)
    finally:
        _set_prompt_enabled_in_admin(staff_user, "summarize", True)
