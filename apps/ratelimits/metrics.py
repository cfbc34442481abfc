"""Prometheus metrics of rate limits (served at /metrics with the call metrics)."""

from prometheus_client import Counter

REFUSED = Counter(
    "mcp_platform_rate_limited_total",
    "Calls refused by a rate limit or a concurrency limit.",
    ["tool", "limit"],
)
