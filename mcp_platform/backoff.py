"""The one backoff function: how long to wait before retry number n.

Call retries (a tool's retry policy), task retries (a task's `backoff_seconds`), re-dialling an
unreachable peer and restarting a crashed child process all wait `backoff_delay(n, ...)`; only
their base, policy and cap differ.
"""

from __future__ import annotations

import math

POLICIES = ("fixed", "linear", "exponential")
# 2**62 times any base already exceeds every cap; clamping keeps the float arithmetic finite
# for a retry count that grows without bound (a child that keeps crashing).
_MAX_DOUBLINGS = 62


def backoff_delay(
    attempt: int, *, base: float, policy: str = "exponential", cap: float = math.inf
) -> float:
    """Seconds to wait before retry number `attempt` (1-based; below 1 counts as 1): `base`
    every time ("fixed"), `base * attempt` ("linear") or `base * 2**(attempt-1)`
    ("exponential"), at most `cap`. Any other policy ("none") never retries: infinity."""
    attempt = max(attempt, 1)
    if policy == "fixed":
        delay = base
    elif policy == "linear":
        delay = base * attempt
    elif policy == "exponential":
        delay = base * 2 ** min(attempt - 1, _MAX_DOUBLINGS)
    else:
        return math.inf
    return min(delay, cap)
