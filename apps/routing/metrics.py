"""Prometheus metrics of routing: the bridge to the Trio runtime, per runtime.

Calls per runtime are `mcp_platform_tool_calls_total{runtime=...}` (apps.tools.metrics); the
fallback counter is `mcp_platform_runtime_fallbacks_total` there too.
"""

from prometheus_client import Counter, Gauge, Histogram

BRIDGE_CALLS = Counter(
    "mcp_platform_bridge_calls_total",
    "Calls forwarded to a runtime over the bridge, by how the bridge answered.",
    ["runtime", "result"],  # result: ok, not_started, failed_in_flight, refused
)
BRIDGE_LATENCY = Histogram(
    "mcp_platform_bridge_call_duration_seconds",
    "Round trip of a bridged call, tool time included.",
    ["runtime"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RUNTIME_UNAVAILABLE = Counter(
    "mcp_platform_runtime_unavailable_total",
    "Calls refused because their runtime was down and they could not fall back.",
    ["runtime"],
)
RUNTIME_UP = Gauge(
    "mcp_platform_runtime_up",
    "Whether the web process last reached the runtime (1) or not.",
    ["runtime"],
)
