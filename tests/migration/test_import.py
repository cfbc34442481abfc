"""Importing legacy config files: the four shapes, validation, dry run, idempotence, rollback."""

from __future__ import annotations

import pytest
import yaml
from django.conf import settings as django_settings
from django.db import connection

from apps.migration import legacy_keys
from apps.migration.legacy_config import Shape, read_legacy_config
from apps.migration.models import MigrationRun, RunStatus
from apps.migration.parsing import LegacyConfigError
from apps.migration.services import export_config, export_config_yaml, import_legacy_config
from apps.peers.models import BootstrapNode, P2PSettings
from apps.routing.models import RoutingRule, RoutingVersion, RuntimeSettings
from apps.tools.models import Tool
from tests.migration.conftest import enabled, sample, snapshot

pytestmark = pytest.mark.django_db

NODE_A = "/ip4/10.0.0.5/tcp/4001/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"
NODE_B = "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb"
NODE_C = "/ip4/192.168.1.20/tcp/4001/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"
FAMILY_RULES = ("p2p_*", "workflow_*", "taskqueue_*", "peer_*", "bootstrap_*")


def run_import(name: str, **kwargs):
    result = import_legacy_config(text=sample(name), source_name=name, **kwargs)
    assert result.ok, result.error
    return result


def runtime() -> RuntimeSettings:
    return RuntimeSettings.objects.get(pk=1)


def p2p() -> P2PSettings:
    return P2PSettings.objects.get(pk=1)


def ignored_reasons(result) -> dict[str, str]:
    """The keys the run's plan reports as ignored, with the reason it gives for each."""
    return {item["source"]["path"]: item["reason"] for item in result.run.plan["ignored"]}


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("single_runtime.yaml", Shape.SINGLE_RUNTIME),
        ("intermediate.yaml", Shape.INTERMEDIATE),
        ("target.yaml", Shape.TARGET),
        ("runtimes_variant.yaml", Shape.RUNTIMES),
    ],
)
def test_each_legacy_shape_is_detected(name, shape):
    assert read_legacy_config(sample(name), name).shape == shape


def test_single_runtime_file_sets_timeout_and_enables_only_listed_categories(tools):
    result = run_import("single_runtime.yaml")

    assert result.run.status == RunStatus.APPLIED
    assert ignored_reasons(result)["server.tool_timeout"] == legacy_keys.TOOL_TIMEOUTS
    assert enabled("load_dataset") and enabled("ipfs_pin") and enabled("execute_workflow")
    assert not enabled("echo")  # category builtin is not listed
    assert not enabled("peer_legacy_probe")  # nor is p2p
    ignored = {item["source"]["path"] for item in result.run.plan["ignored"]}
    assert {"server.reload", "server.transport", "tools.ipfs", "ipfs_kit.integration"} <= ignored
    env = {item["variable"]: item["value"] for item in result.run.plan["environment"]}
    assert env["MCP_PLATFORM_HOST"] == "0.0.0.0"
    assert "set in the environment: MCP_PLATFORM_HOST=0.0.0.0" in result.run.log


def test_intermediate_file_sets_runtime_and_restores_the_legacy_family_rules(tools):
    RoutingRule.objects.filter(name_pattern="p2p_*").update(enabled=False)
    RoutingRule.objects.filter(name_pattern="peer_*").delete()

    run_import("intermediate.yaml")

    settings = runtime()
    assert settings.trio_enabled is True
    assert settings.fallback_allowed is False
    assert settings.default_runtime == "asyncio"
    for pattern in FAMILY_RULES:
        assert RoutingRule.objects.filter(
            name_pattern=pattern, category="", runtime="trio", enabled=True
        ).exists(), pattern


def test_intermediate_file_reports_ports_as_environment_settings(tools):
    result = run_import("intermediate.yaml", dry_run=True)
    env = {s.variable: s.value for s in result.plan.environment}
    assert env == {
        "MCP_PLATFORM_HOST": "0.0.0.0",
        "MCP_PLATFORM_WEB_PORT": "8080",
        "MCP_PLATFORM_TRIO_PORT": "8081",
    }


def test_target_file_sets_runtime_p2p_bootstrap_and_tool_families(tools):
    Tool.objects.filter(name="load_dataset").update(enabled=False)
    Tool.objects.filter(name="peer_legacy_probe").update(enabled=False)

    result = run_import("target.yaml")

    settings = runtime()
    assert (settings.default_runtime, settings.fallback_allowed) == ("trio", True)
    assert settings.fallback_timeout == 2.5
    assert settings.trio_enabled is True
    peers = p2p()
    assert peers.enabled is True
    assert (peers.peer_ttl, peers.taskqueue_max_tasks, peers.workflow_max) == (1800, 500, 20)
    # Settings nothing enforced were removed; the importer says so, with the reason.
    assert {
        path: reason
        for path, reason in ignored_reasons(result).items()
        if path
        in {
            "performance.request_timeout",
            "p2p.peer_discovery.enable_mdns",
            "p2p.peer_discovery.enable_dht",
            "p2p.peer_discovery.enable_relay",
            "p2p.taskqueue.task_timeout",
            "p2p.workflow.workflow_timeout",
        }
    } == {
        "performance.request_timeout": legacy_keys.TOOL_TIMEOUTS,
        "p2p.peer_discovery.enable_mdns": legacy_keys.NO_MDNS,
        "p2p.peer_discovery.enable_dht": legacy_keys.NO_DHT,
        "p2p.peer_discovery.enable_relay": legacy_keys.NO_RELAY,
        "p2p.taskqueue.task_timeout": legacy_keys.NO_TASK_TIMEOUT,
        "p2p.workflow.workflow_timeout": legacy_keys.NO_WORKFLOW_TIMEOUT,
    }
    assert set(BootstrapNode.objects.values_list("multiaddr", flat=True)) == {NODE_A, NODE_B}
    assert enabled("peer_legacy_probe") and enabled("workflow_legacy_status")
    assert not enabled("taskqueue_legacy_submit")  # enable_taskqueue_tools: false
    assert not enabled("load_dataset")  # no category list: other tools are left alone
    assert enabled("echo")
    ignored = {item["source"]["path"] for item in result.run.plan["ignored"]}
    assert "p2p.peer_discovery.announce_interval" in ignored
    assert "performance.connection_pool_size" in ignored


def test_runtimes_variant_file_sets_everything_it_names(tools):
    Tool.objects.filter(name__in=["echo", "load_dataset"]).update(enabled=False)

    result = run_import("runtimes_variant.yaml")

    settings = runtime()
    assert settings.trio_enabled is False
    peers = p2p()
    assert peers.enabled is False
    assert (peers.taskqueue_max_tasks, peers.workflow_max) == (250, 8)
    assert peers.connection_timeout == 15.0
    reasons = ignored_reasons(result)
    assert reasons["runtimes.fastapi.timeout"] == legacy_keys.TOOL_TIMEOUTS
    assert reasons["p2p.workflow_scheduler.workflow_timeout"] == legacy_keys.NO_WORKFLOW_TIMEOUT
    assert reasons["p2p.connectivity.max_connections"] == legacy_keys.NO_MAX_CONNECTIONS
    assert list(BootstrapNode.objects.values_list("multiaddr", flat=True)) == [NODE_C]
    assert enabled("echo") and enabled("load_dataset")  # enabled_categories: [all]
    assert not enabled("taskqueue_legacy_submit")  # task_queue.enabled: false wins over [all]
    assert enabled("workflow_legacy_status")


def test_applying_bumps_the_routing_version_exactly_once(tools):
    """The target sample changes settings, rules and tools (each service bumps the version on
    its own): the import still moves the version by one, in one UPDATE."""
    before = RoutingVersion.objects.get(pk=1).version
    bumps = []

    def count_bumps(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("UPDATE") and "routing_routingversion" in sql:
            bumps.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count_bumps):
        result = run_import("target.yaml")
    assert len(result.plan.changes) > 1
    assert len(bumps) == 1
    assert RoutingVersion.objects.get(pk=1).version == before + 1


@pytest.fixture
def routing_version_refuses_bumps():
    """A real database refusal of the routing version's UPDATE: the import's last write."""
    if connection.vendor == "sqlite":
        statements = [
            "CREATE TRIGGER refuse_bump BEFORE UPDATE ON routing_routingversion "
            "BEGIN SELECT RAISE(ABORT, 'routing version frozen'); END"
        ]
    elif connection.vendor == "postgresql":
        statements = [
            "CREATE FUNCTION refuse_bump() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'routing version frozen'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_bump BEFORE UPDATE ON routing_routingversion "
            "FOR EACH ROW EXECUTE FUNCTION refuse_bump()",
        ]
    else:
        pytest.skip(f"no trigger syntax for {connection.vendor}")
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def test_the_routing_version_bump_is_in_the_import_transaction(
    tools, routing_version_refuses_bumps
):
    """The bump comes after every write of the import; when it fails, the writes before it are
    rolled back with it: they were one transaction."""
    before = snapshot()
    result = import_legacy_config(text=sample("target.yaml"), source_name="target.yaml")

    assert not result.ok
    assert "routing version frozen" in result.error
    assert snapshot() == before
    assert MigrationRun.objects.get(pk=result.run.pk).status == RunStatus.FAILED


def test_the_plan_is_a_readable_diff_naming_the_key_and_line(tools):
    result = run_import("target.yaml", dry_run=True)
    text = result.plan.render()
    assert "Runtime settings" in text
    assert "  - default_runtime: asyncio" in text
    assert "+ default_runtime: trio" in text
    assert "← runtime.prefer_trio (line 19)" in text
    assert f"+ {NODE_A}: enabled (new)" in text
    assert "  - taskqueue_legacy_submit: enabled" in text
    assert "  + taskqueue_legacy_submit: disabled (category p2p)" in text
    assert "Ignored keys" in text and "server.name (line 3)" in text
    # The legacy web worker count is the node's MCP_PLATFORM_WEB_WORKERS.
    env = {s.variable: s.value for s in result.plan.environment}
    assert env["MCP_PLATFORM_WEB_WORKERS"] == "4"


# Validation: every error names the key path and the line.


def test_malformed_yaml_names_the_key_being_read_and_the_line(db):
    text = "server:\n  host: 0.0.0.0\n  port: [8000\nruntime:\n  prefer_trio: true\n"
    with pytest.raises(LegacyConfigError) as caught:
        read_legacy_config(text, "broken.yaml")
    message = str(caught.value)
    assert "malformed YAML" in message
    assert "server.port" in message
    assert "(line 4)" in message or "(line 3)" in message


def test_bad_indentation_is_malformed_yaml_with_a_line(db):
    text = "server:\n  host: 0.0.0.0\n port: 8000\n"
    with pytest.raises(LegacyConfigError) as caught:
        read_legacy_config(text)
    assert "malformed YAML" in str(caught.value)
    assert "line 3" in str(caught.value)


def test_wrong_typed_value_names_the_key_path_and_line(db):
    text = "server:\n  fastapi:\n    port: eighty\n  trio:\n    enabled: 'yes please'\n"
    with pytest.raises(LegacyConfigError) as caught:
        read_legacy_config(text)
    problems = {str(problem) for problem in caught.value.problems}
    assert any(
        p.startswith("server.fastapi.port (line 3): expected a port number") for p in problems
    )
    assert any(
        p.startswith("server.trio.enabled (line 5): expected true or false") for p in problems
    )


def test_unknown_runtime_names_the_key_path_and_line(db):
    text = "server:\n  port: 8000\nruntimes:\n  fastapi:\n    enabled: true\n  tornado:\n    enabled: true\n"
    with pytest.raises(LegacyConfigError) as caught:
        read_legacy_config(text)
    assert str(caught.value.problems[0]).startswith(
        "runtimes.tornado (line 6): unknown runtime 'tornado'"
    )


def test_unknown_value_of_an_enumerated_key_is_an_error(db):
    with pytest.raises(
        LegacyConfigError, match=r"server\.transport \(line 2\): unknown value 'carrier-pigeon'"
    ):
        read_legacy_config("server:\n  transport: carrier-pigeon\n")


def test_keys_that_disagree_are_an_error_naming_both(db):
    text = "runtime:\n  fallback_to_fastapi: true\nfeatures:\n  fallback_to_fastapi: false\n"
    with pytest.raises(LegacyConfigError) as caught:
        read_legacy_config(text)
    message = str(caught.value)
    assert "runtime.fallback_to_fastapi (line 2) says True" in message
    assert "features.fallback_to_fastapi (line 4) says False" in message


def test_a_file_of_no_legacy_shape_is_refused(db):
    with pytest.raises(LegacyConfigError, match="not a legacy config"):
        read_legacy_config("database:\n  url: sqlite://\n")


def test_an_invalid_file_is_recorded_and_changes_nothing(tools):
    before = snapshot()
    result = import_legacy_config(text="server:\n  port: -1\n", source_name="bad.yaml")
    assert not result.ok
    assert "server.port (line 2)" in result.error
    assert result.run.status == RunStatus.INVALID
    assert snapshot() == before


def test_dry_run_writes_nothing(tools):
    before = snapshot()
    result = run_import("target.yaml", dry_run=True)
    assert len(result.plan.changes) > 5
    assert snapshot() == before
    assert result.run.status == RunStatus.DRY_RUN  # the run itself is recorded, as every run is
    assert result.run.changes == len(result.plan.changes)


# Idempotence and round trip.


@pytest.mark.parametrize(
    "name", ["single_runtime.yaml", "intermediate.yaml", "target.yaml", "runtimes_variant.yaml"]
)
def test_importing_the_same_file_twice_changes_nothing_the_second_time(tools, name):
    run_import(name)
    before = snapshot()
    again = run_import(name)
    assert again.run.status == RunStatus.UNCHANGED
    assert again.plan.changes == []
    assert snapshot() == before  # not even a timestamp or the routing version moved


@pytest.mark.parametrize(
    "name",
    [None, "single_runtime.yaml", "intermediate.yaml", "target.yaml", "runtimes_variant.yaml"],
)
def test_export_then_import_is_a_no_op(tools, name):
    if name:
        run_import(name)
    Tool.objects.filter(name="ipfs_pin").update(enabled=False)  # a category half on, half off
    exported = export_config_yaml()
    before = snapshot()
    result = import_legacy_config(text=exported, source_name="export.yaml")
    assert result.ok, result.error
    assert result.run.status == RunStatus.UNCHANGED, result.plan.render()
    assert snapshot() == before


def test_export_writes_the_target_shape_with_the_current_state(tools):
    run_import("target.yaml")
    document = yaml.safe_load(export_config_yaml())
    assert read_legacy_config(export_config_yaml()).shape == Shape.TARGET
    assert document["runtime"]["prefer_trio"] is True
    assert document["runtime"]["auto_detect"] is True
    assert document["runtime"]["fallback_timeout"] == 2.5
    assert "performance" not in document  # its one key, the default tool timeout, is gone
    assert document["server"]["trio"]["enable_taskqueue_tools"] is False
    assert document["p2p"]["bootstrap_nodes"] == sorted([NODE_A, NODE_B])
    assert document["p2p"]["peer_discovery"]["peer_ttl"] == 1800
    # The node's web workers leave as the legacy key they are imported from.
    assert document["server"]["fastapi"]["workers"] == django_settings.MCP_PLATFORM_WEB_WORKERS


def test_export_leaves_out_a_switch_the_state_cannot_express(tools):
    Tool.objects.create(name="p2p_ping", category="p2p", enabled=False)  # p2p family now mixed
    document = export_config()
    assert "enable_p2p_tools" not in document["server"]["trio"]
    assert "p2p_tools" not in document["features"]


# A failed apply leaves nothing half-written.


@pytest.fixture
def p2p_settings_refuse_peer_ttl_1800():
    """A real database refusal of one value, to make an apply fail in its last step."""
    if connection.vendor == "sqlite":
        statements = [
            f"CREATE TRIGGER refuse_ttl_{op} BEFORE {op} ON peers_p2psettings "
            "WHEN NEW.peer_ttl = 1800 BEGIN SELECT RAISE(ABORT, 'peer_ttl 1800 refused'); END"
            for op in ("INSERT", "UPDATE")
        ]
    elif connection.vendor == "postgresql":
        statements = [
            "CREATE FUNCTION refuse_ttl() RETURNS trigger AS $$ BEGIN IF NEW.peer_ttl = 1800 THEN "
            "RAISE EXCEPTION 'peer_ttl 1800 refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_ttl BEFORE INSERT OR UPDATE ON peers_p2psettings "
            "FOR EACH ROW EXECUTE FUNCTION refuse_ttl()",
        ]
    else:
        pytest.skip(f"no trigger syntax for {connection.vendor}")
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    # The test's transaction rolls the trigger back with everything else.


def test_a_failed_apply_leaves_nothing_half_written(tools, p2p_settings_refuse_peer_ttl_1800):
    before = snapshot()
    result = import_legacy_config(text=sample("target.yaml"), source_name="target.yaml")

    assert not result.ok
    assert "peer_ttl 1800 refused" in result.error
    # Runtime settings, rules, tools and bootstrap nodes come before P2P settings in the
    # apply: they were written, then rolled back with the rest.
    assert snapshot() == before
    run = MigrationRun.objects.get(pk=result.run.pk)
    assert run.status == RunStatus.FAILED
    assert "rolled back" in run.log and "+ default_runtime: trio" in run.log
