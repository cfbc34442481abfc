"""The one backoff function, as each of its users calls it."""

from __future__ import annotations

import math

from apps.peers.services import backoff_seconds
from apps.tools.call_service import retry_delay
from mcp_platform.backoff import backoff_delay


def test_policies_and_cap():
    assert [backoff_delay(n, base=0.5, policy="fixed") for n in (1, 2, 3)] == [0.5, 0.5, 0.5]
    assert [backoff_delay(n, base=0.5, policy="linear") for n in (1, 2, 3)] == [0.5, 1.0, 1.5]
    assert [backoff_delay(n, base=0.5, cap=3.0) for n in (0, 1, 2, 3, 4)] == [
        0.5,
        0.5,
        1.0,
        2.0,
        3.0,
    ]
    assert math.isinf(backoff_delay(1, base=0.5, policy="none"))
    # A child that crashed ten thousand times in a row still gets a finite wait.
    assert backoff_delay(10_000, base=0.5, cap=10.0) == 10.0


def test_call_retries_and_peer_redials_use_it():
    assert [retry_delay("exponential", n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert retry_delay("linear", 3) == backoff_delay(3, base=0.1, policy="linear")
    assert math.isinf(retry_delay("none", 1))
    assert [backoff_seconds(n) for n in (1, 2, 7, 8)] == [1.0, 2.0, 60.0, 60.0]
