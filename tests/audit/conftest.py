import queue

import pytest

from apps.audit import calls


@pytest.fixture(autouse=True)
def no_queued_call_events():
    """Start with an empty queue: calls made by earlier tests are not this test's."""
    while True:
        try:
            calls._pending.get_nowait()
        except queue.Empty:
            break
