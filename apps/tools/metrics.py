"""Prometheus metrics of tool calls, per tool and runtime."""

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

TOOL_CALLS = Counter(
    "mcp_platform_tool_calls_total", "Tool calls by outcome.", ["tool", "runtime", "outcome"]
)
TOOL_ERRORS = Counter(
    "mcp_platform_tool_errors_total", "Tool calls that did not succeed.", ["tool", "runtime"]
)
TOOL_LATENCY = Histogram(
    "mcp_platform_tool_call_duration_seconds",
    "Tool call duration.",
    ["tool", "runtime"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
MCP_RELAYED = Counter(
    "mcp_platform_mcp_relayed_requests_total",
    "2025-era MCP requests relayed to the web worker that holds their session, by outcome.",
    ["outcome"],
)
FALLBACKS = Counter(
    "mcp_platform_runtime_fallbacks_total",
    "Trio-routed calls that ran on asyncio instead.",
    ["tool"],
)


def observe_call(*, tool: str, runtime: str, outcome: str, seconds: float) -> None:
    TOOL_CALLS.labels(tool, runtime or "none", outcome).inc()
    if outcome != "success":
        TOOL_ERRORS.labels(tool, runtime or "none").inc()
    if runtime:
        TOOL_LATENCY.labels(tool, runtime).observe(seconds)


def exposition() -> bytes:
    """The text of one scrape of /metrics. With several web workers (`runplatform` sets
    PROMETHEUS_MULTIPROC_DIR for them) every worker writes its samples to that directory, and
    whichever worker is scraped sums them all, so one scrape counts the calls of the node."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
