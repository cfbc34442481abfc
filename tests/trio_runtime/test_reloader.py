"""The Trio runtime's reloader hears of another process's routing change (control call, Redis)
before this process's version watcher reads it: what it then announces (MCP `list_changed`)
must already be what the call path serves."""

from __future__ import annotations

import pytest
import trio
from django.db.models import F

from apps.routing.models import RoutingVersion
from apps.routing.selectors import ROUTING_VERSION, current_version
from mcp_platform import versions
from trio_runtime.reloader import RoutingReloader
from trio_runtime.state import RuntimeState


@pytest.mark.django_db(transaction=True)
def test_the_call_paths_version_moves_before_the_listeners_announce_a_change():
    RoutingVersion.objects.get_or_create(pk=1)
    versions.start_watching(interval=3600)  # one read now, then none within the test
    try:
        reloader = RoutingReloader(RuntimeState(host="127.0.0.1", port=0))
        announced: list = []
        reloader.on_change(lambda table: announced.append(ROUTING_VERSION.stamp_nowait()))
        trio.run(reloader.reload)
        RoutingVersion.objects.filter(pk=1).update(version=F("version") + 1)  # another process
        new = current_version()
        assert ROUTING_VERSION.stamp_nowait()[0] == new - 1  # the watcher has not read it yet

        trio.run(reloader.reload)
        assert announced[-1][0] == new  # the call path's caches are keyed at the new version
    finally:
        versions.stop_watching()
