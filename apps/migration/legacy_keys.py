"""Every key of the four legacy config shapes, its type, and what it became on the platform.

One table drives validation, the plan and docs/migration.md's table (a test keeps them in step).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.migration.parsing import KeyPath


class ValueProblem(ValueError):
    """A value of the wrong type or out of range; the message says what was expected.
    `index` names the list item at fault, when it is one."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueProblem(f"expected true or false, got {_describe(value)}")
    return value


def port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueProblem(f"expected a port number 1..65535, got {_describe(value)}")
    return value


def seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueProblem(f"expected a positive number of seconds, got {_describe(value)}")
    return float(value)


def count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueProblem(f"expected a whole number 0 or more, got {_describe(value)}")
    return value


def positive_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueProblem(f"expected a whole number 1 or more, got {_describe(value)}")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueProblem(f"expected a non-empty string, got {_describe(value)}")
    return value.strip()


def one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        normalized = value.lower() if isinstance(value, str) else value
        if normalized not in choices:
            raise ValueProblem(f"unknown value {value!r}: expected one of {', '.join(choices)}")
        return normalized

    return check


def categories(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item.strip() for item in value
    ):
        raise ValueProblem(f"expected a list of category names, got {_describe(value)}")
    names = sorted({item.strip() for item in value})
    return ["all"] if "all" in names else names


def multiaddrs(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueProblem(f"expected a list of multiaddrs, got {_describe(value)}")
    from multiaddr import Multiaddr

    addresses = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueProblem(f"expected a multiaddr string, got {_describe(item)}", index)
        try:
            Multiaddr(item.strip())
        except Exception as exc:
            raise ValueProblem(f"{item!r} is not a multiaddr ({exc})", index) from None
        if "/p2p/" not in item and "/ipfs/" not in item:
            raise ValueProblem(f"{item!r} lacks the /p2p/<peer id> part", index)
        addresses.append(item.strip())
    return addresses


def anything(value: Any) -> Any:
    return value


def prefer_trio(value: Any) -> str:
    return "trio" if boolean(value) else "asyncio"


@dataclass(frozen=True)
class Target:
    """Where a key's value goes.

    kind: `runtime` (RuntimeSettings field), `p2p` (P2PSettings field), `family` (enablement
    of a tool family), `categories` (tool enablement by category), `bootstrap` (BootstrapNode
    rows), `legacy_rules` (the legacy name-family routing rules), `env` (an environment
    variable: reported, not stored), `ignored` (no use on the platform; `note` says why).
    """

    kind: str
    name: str = ""
    note: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


@dataclass(frozen=True)
class LegacyKey:
    path: str  # dotted; a final `*` matches any key at that level
    check: Callable[[Any], Any]
    target: Target
    shapes: str  # which shapes use it: "1234"
    became: str  # for the docs table

    def matches(self, path: KeyPath) -> bool:
        parts = self.path.split(".")
        return len(parts) == len(path) and all(
            fnmatch.fnmatchcase(str(actual), pattern)
            for actual, pattern in zip(path, parts, strict=True)
        )


def runtime(name: str) -> Target:
    return Target("runtime", name)


def p2p(name: str) -> Target:
    return Target("p2p", name)


def family(name: str) -> Target:
    return Target("family", name)


def env(variable: str) -> Target:
    return Target("env", variable)


def ignored(note: str) -> Target:
    return Target("ignored", note=note)


WEB_ALWAYS_RUNS = "the web process always runs: it serves REST, MCP and the admin"
WORKERS = (
    "the web workers of a node are `MCP_PLATFORM_WEB_WORKERS` (from `server.fastapi.workers`);"
    " scale out with more nodes behind a load balancer"
)
METRICS = "Prometheus metrics are always served at /metrics on the web port"
CATEGORY_SETTINGS = "per-category settings belong to that category's tool module, not the platform"
TOOL_TIMEOUTS = (
    "each tool has its own timeout (`timeout_seconds`, in the Tools admin); there is no"
    " platform-wide default to set"
)
NO_MDNS = "mDNS discovery is not implemented: add the peers as bootstrap nodes"
NO_DHT = "there is no DHT: peers come from bootstrap nodes, admins and inbound connections"
NO_RELAY = "there is no relay: peers must reach each other directly"
NO_TASK_TIMEOUT = "a task runs within its tool's own timeout and its lease; no other limit"
NO_WORKFLOW_TIMEOUT = "workflows are not timed out: cancel one with p2p_workflow_cancel"
NO_MAX_CONNECTIONS = "connections are not capped: the host keeps one connection per peer"
PEERS_ALWAYS_TRACKED = "peers are always tracked while P2P is enabled (p2p.enabled)"

KEYS: tuple[LegacyKey, ...] = (
    # server (shapes 1, 2, 4; shape 3 nests fastapi/trio under it)
    LegacyKey(
        "server.host", text, env("MCP_PLATFORM_HOST"), "124", "environment `MCP_PLATFORM_HOST`"
    ),
    LegacyKey(
        "server.port",
        port,
        env("MCP_PLATFORM_WEB_PORT"),
        "124",
        "environment `MCP_PLATFORM_WEB_PORT`",
    ),
    LegacyKey(
        "server.log_level",
        one_of("debug", "info", "warning", "error", "critical"),
        env("LOG_LEVEL"),
        "14",
        "environment `LOG_LEVEL`",
    ),
    LegacyKey(
        "server.verbose",
        boolean,
        ignored("set LOG_LEVEL=DEBUG in the environment for verbose logs"),
        "1",
        "ignored: use `LOG_LEVEL=DEBUG`",
    ),
    LegacyKey(
        "server.reload",
        boolean,
        ignored("auto-reload is for development: `manage.py runserver` reloads"),
        "1",
        "ignored: `manage.py runserver` reloads in development",
    ),
    LegacyKey(
        "server.tool_timeout",
        seconds,
        ignored(TOOL_TIMEOUTS),
        "1",
        "ignored: each tool has its own timeout",
    ),
    LegacyKey(
        "server.transport",
        one_of("http", "stdio"),
        ignored("both are served: HTTP by `runplatform`, stdio by `manage.py mcp_stdio`"),
        "1",
        "ignored: HTTP and stdio are both served",
    ),
    LegacyKey(
        "server.trio_enabled",
        boolean,
        runtime("trio_enabled"),
        "2",
        "runtime settings: Trio enabled",
    ),
    LegacyKey(
        "server.trio_port",
        port,
        env("MCP_PLATFORM_TRIO_PORT"),
        "2",
        "environment `MCP_PLATFORM_TRIO_PORT`",
    ),
    LegacyKey(
        "server.name",
        text,
        ignored("the server identifies itself as mcp-platform"),
        "3",
        "ignored: the server's name is fixed",
    ),
    LegacyKey(
        "server.fastapi.enabled",
        boolean,
        ignored(WEB_ALWAYS_RUNS),
        "3",
        "ignored: the web process always runs",
    ),
    LegacyKey(
        "server.fastapi.host",
        text,
        env("MCP_PLATFORM_HOST"),
        "3",
        "environment `MCP_PLATFORM_HOST`",
    ),
    LegacyKey(
        "server.fastapi.port",
        port,
        env("MCP_PLATFORM_WEB_PORT"),
        "3",
        "environment `MCP_PLATFORM_WEB_PORT`",
    ),
    LegacyKey(
        "server.fastapi.workers",
        positive_count,
        env("MCP_PLATFORM_WEB_WORKERS"),
        "3",
        "environment `MCP_PLATFORM_WEB_WORKERS`",
    ),
    LegacyKey(
        "server.trio.enabled",
        boolean,
        runtime("trio_enabled"),
        "3",
        "runtime settings: Trio enabled",
    ),
    LegacyKey(
        "server.trio.host",
        text,
        env("MCP_PLATFORM_HOST"),
        "3",
        "environment `MCP_PLATFORM_HOST` (one host for both listeners)",
    ),
    LegacyKey(
        "server.trio.port",
        port,
        env("MCP_PLATFORM_TRIO_PORT"),
        "3",
        "environment `MCP_PLATFORM_TRIO_PORT`",
    ),
    LegacyKey(
        "server.trio.enable_p2p_tools",
        boolean,
        family("p2p"),
        "3",
        "enables/disables the P2P tools (`p2p_*`, `peer_*`, `bootstrap_*`)",
    ),
    LegacyKey(
        "server.trio.enable_workflow_tools",
        boolean,
        family("workflow"),
        "3",
        "enables/disables the workflow tools (`workflow_*`, `p2p_workflow_*`)",
    ),
    LegacyKey(
        "server.trio.enable_taskqueue_tools",
        boolean,
        family("taskqueue"),
        "3",
        "enables/disables the task-queue tools (`taskqueue_*`, `p2p_taskqueue_*`)",
    ),
    # tools (shapes 1, 4)
    LegacyKey(
        "tools.enabled_categories",
        categories,
        Target("categories"),
        "134",
        "tool enablement: tools in listed categories enabled, others disabled (`all`: every tool)",
    ),
    LegacyKey(
        "tools.*", anything, ignored(CATEGORY_SETTINGS), "1", "ignored: per-category tool settings"
    ),
    # ipfs_kit (shape 1)
    LegacyKey(
        "ipfs_kit.integration",
        one_of("direct", "mcp"),
        ignored("ipfs_kit integration is configured by the IPFS tool package, not the platform"),
        "1",
        "ignored: a concern of the IPFS tool package",
    ),
    LegacyKey(
        "ipfs_kit.mcp_url",
        text,
        ignored("ipfs_kit integration is configured by the IPFS tool package, not the platform"),
        "1",
        "ignored: a concern of the IPFS tool package",
    ),
    # runtime (shapes 2, 3)
    LegacyKey(
        "runtime.auto_detect",
        boolean,
        Target("legacy_rules"),
        "23",
        "routing rules `p2p_*`, `workflow_*`, `taskqueue_*`, `peer_*`, `bootstrap_*` → trio (enabled or disabled)",
    ),
    LegacyKey(
        "runtime.prefer_trio",
        prefer_trio,
        runtime("default_runtime"),
        "23",
        "runtime settings: default runtime (`trio` if true, else `asyncio`)",
    ),
    LegacyKey(
        "runtime.fallback_to_fastapi",
        boolean,
        runtime("fallback_allowed"),
        "23",
        "runtime settings: fallback allowed (before the tool starts; never re-runs)",
    ),
    LegacyKey(
        "runtime.fallback_timeout",
        seconds,
        runtime("fallback_timeout"),
        "3",
        "runtime settings: fallback timeout",
    ),
    LegacyKey(
        "runtime.enable_metrics",
        boolean,
        ignored(METRICS),
        "3",
        "ignored: metrics always on at /metrics",
    ),
    # performance (shape 3)
    LegacyKey(
        "performance.request_timeout",
        seconds,
        ignored(TOOL_TIMEOUTS),
        "3",
        "ignored: each tool has its own timeout",
    ),
    LegacyKey(
        "performance.connection_pool_size",
        count,
        ignored("database connections are managed by Django; there is no pool to size"),
        "3",
        "ignored: no connection pool to size",
    ),
    LegacyKey(
        "performance.max_concurrent_requests",
        count,
        ignored("not enforced by the platform: cap concurrency at the load balancer"),
        "3",
        "ignored: cap it at the load balancer",
    ),
    # p2p (shapes 3, 4)
    LegacyKey("p2p.enabled", boolean, p2p("enabled"), "34", "P2P settings: enabled"),
    LegacyKey(
        "p2p.listen_port",
        port,
        env("MCP_PLATFORM_P2P_LISTEN"),
        "3",
        "environment `MCP_PLATFORM_P2P_LISTEN=/ip4/0.0.0.0/tcp/<port>`",
    ),
    LegacyKey(
        "p2p.peer_discovery.enable_mdns",
        boolean,
        ignored(NO_MDNS),
        "3",
        "ignored: mDNS is not implemented",
    ),
    LegacyKey("p2p.peer_discovery.enable_dht", boolean, ignored(NO_DHT), "3", "ignored: no DHT"),
    LegacyKey(
        "p2p.peer_discovery.enable_relay", boolean, ignored(NO_RELAY), "3", "ignored: no relay"
    ),
    LegacyKey(
        "p2p.peer_discovery.peer_ttl",
        count,
        p2p("peer_ttl"),
        "3",
        "P2P settings: peer TTL (seconds)",
    ),
    LegacyKey(
        "p2p.peer_discovery.*",
        anything,
        ignored("no such discovery setting on the platform"),
        "3",
        "ignored: other discovery settings",
    ),
    LegacyKey(
        "p2p.taskqueue.max_tasks",
        count,
        p2p("taskqueue_max_tasks"),
        "3",
        "P2P settings: task queue max tasks",
    ),
    LegacyKey(
        "p2p.taskqueue.task_timeout",
        seconds,
        ignored(NO_TASK_TIMEOUT),
        "3",
        "ignored: tasks run within their tool's timeout",
    ),
    LegacyKey(
        "p2p.workflow.max_workflows", count, p2p("workflow_max"), "3", "P2P settings: max workflows"
    ),
    LegacyKey(
        "p2p.workflow.workflow_timeout",
        seconds,
        ignored(NO_WORKFLOW_TIMEOUT),
        "3",
        "ignored: workflows are not timed out",
    ),
    LegacyKey(
        "p2p.bootstrap_nodes",
        multiaddrs,
        Target("bootstrap"),
        "3",
        "bootstrap nodes (added and enabled; others are kept)",
    ),
    LegacyKey(
        "p2p.task_queue.enabled",
        boolean,
        family("taskqueue"),
        "4",
        "enables/disables the task-queue tools",
    ),
    LegacyKey(
        "p2p.task_queue.max_queue_size",
        count,
        p2p("taskqueue_max_tasks"),
        "4",
        "P2P settings: task queue max tasks",
    ),
    LegacyKey(
        "p2p.workflow_scheduler.enabled",
        boolean,
        family("workflow"),
        "4",
        "enables/disables the workflow tools",
    ),
    LegacyKey(
        "p2p.workflow_scheduler.max_concurrent_workflows",
        count,
        p2p("workflow_max"),
        "4",
        "P2P settings: max workflows",
    ),
    LegacyKey(
        "p2p.workflow_scheduler.workflow_timeout",
        seconds,
        ignored(NO_WORKFLOW_TIMEOUT),
        "4",
        "ignored: workflows are not timed out",
    ),
    LegacyKey(
        "p2p.peer_registry.enabled",
        boolean,
        ignored(PEERS_ALWAYS_TRACKED),
        "4",
        "ignored: peers are tracked whenever P2P is enabled",
    ),
    LegacyKey(
        "p2p.peer_registry.bootstrap_nodes",
        multiaddrs,
        Target("bootstrap"),
        "4",
        "bootstrap nodes (added and enabled; others are kept)",
    ),
    LegacyKey(
        "p2p.peer_registry.peer_discovery_interval",
        seconds,
        ignored("the peer prober runs on its own schedule with backoff"),
        "4",
        "ignored: the prober schedules itself",
    ),
    LegacyKey(
        "p2p.connectivity.listen_port",
        port,
        env("MCP_PLATFORM_P2P_LISTEN"),
        "4",
        "environment `MCP_PLATFORM_P2P_LISTEN=/ip4/0.0.0.0/tcp/<port>`",
    ),
    LegacyKey(
        "p2p.connectivity.max_connections",
        count,
        ignored(NO_MAX_CONNECTIONS),
        "34",
        "ignored: connections are not capped",
    ),
    LegacyKey(
        "p2p.connectivity.connection_timeout",
        seconds,
        p2p("connection_timeout"),
        "34",
        "P2P settings: connection timeout",
    ),
    # features (shape 3)
    LegacyKey(
        "features.trio_runtime",
        boolean,
        runtime("trio_enabled"),
        "3",
        "runtime settings: Trio enabled",
    ),
    LegacyKey("features.p2p_tools", boolean, family("p2p"), "3", "enables/disables the P2P tools"),
    LegacyKey(
        "features.workflow_scheduler",
        boolean,
        family("workflow"),
        "3",
        "enables/disables the workflow tools",
    ),
    LegacyKey(
        "features.fallback_to_fastapi",
        boolean,
        runtime("fallback_allowed"),
        "3",
        "runtime settings: fallback allowed",
    ),
    # runtimes (shape 4)
    LegacyKey(
        "runtimes.fastapi.enabled",
        boolean,
        ignored(WEB_ALWAYS_RUNS),
        "4",
        "ignored: the web process always runs",
    ),
    LegacyKey(
        "runtimes.fastapi.workers",
        count,
        ignored(WORKERS),
        "4",
        "ignored: the node's web workers come from `server.fastapi.workers`",
    ),
    LegacyKey(
        "runtimes.fastapi.timeout",
        seconds,
        ignored(TOOL_TIMEOUTS),
        "4",
        "ignored: each tool has its own timeout",
    ),
    LegacyKey(
        "runtimes.trio.enabled",
        boolean,
        runtime("trio_enabled"),
        "4",
        "runtime settings: Trio enabled",
    ),
    # monitoring (shape 4)
    LegacyKey(
        "monitoring.enabled",
        boolean,
        ignored(METRICS),
        "4",
        "ignored: metrics always on at /metrics",
    ),
    LegacyKey(
        "monitoring.metrics_port", port, ignored(METRICS), "4", "ignored: metrics on the web port"
    ),
    LegacyKey(
        "monitoring.enable_tracing",
        boolean,
        ignored("tracing is not supported yet"),
        "4",
        "ignored: no tracing",
    ),
    LegacyKey(
        "monitoring.tracing_endpoint",
        text,
        ignored("tracing is not supported yet"),
        "4",
        "ignored: no tracing",
    ),
)

# The runtimes the `runtimes:` section may name; `fastapi` is the legacy name of `asyncio`.
KNOWN_RUNTIMES = ("fastapi", "asyncio", "trio")
SECTIONS = (
    "server",
    "tools",
    "ipfs_kit",
    "runtime",
    "runtimes",
    "performance",
    "p2p",
    "features",
    "monitoring",
)

# Tool families the legacy switches enable; a tool belongs to the first family that matches.
TOOL_FAMILIES: dict[str, tuple[str, ...]] = {
    "workflow": ("workflow_*", "p2p_workflow_*"),
    "taskqueue": ("taskqueue_*", "p2p_taskqueue_*"),
    "p2p": ("p2p_*", "peer_*", "bootstrap_*"),
}

# The legacy name families it sent to Trio: seeded as routing rules (anchored globs).
LEGACY_FAMILY_RULES = ("p2p_*", "workflow_*", "taskqueue_*", "peer_*", "bootstrap_*")


def tool_family(name: str) -> str | None:
    for family_name, patterns in TOOL_FAMILIES.items():
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            return family_name
    return None


def find_key(path: KeyPath) -> LegacyKey | None:
    """The key spec for `path`: an exact path first, then a wildcard."""
    exact = [key for key in KEYS if "*" not in key.path and key.matches(path)]
    if exact:
        return exact[0]
    return next((key for key in KEYS if key.matches(path)), None)


def is_section(path: KeyPath) -> bool:
    """True when `path` is a mapping that holds known keys (e.g. `server`, `p2p.taskqueue`)."""
    depth = len(path)
    return any(
        len(key.path.split(".")) > depth
        and all(
            fnmatch.fnmatchcase(str(actual), pattern)
            for actual, pattern in zip(path, key.path.split(".")[:depth], strict=True)
        )
        for key in KEYS
    )
