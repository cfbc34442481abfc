"""The operator verbs: import_legacy_config FILE [--dry-run] and export_config [FILE]."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from apps.migration.models import MigrationRun, RunStatus
from apps.routing.models import RuntimeSettings
from tests.migration.conftest import SAMPLES, snapshot

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_dry_run_prints_the_plan_and_writes_nothing(tools):
    before = snapshot()
    output = run("import_legacy_config", str(SAMPLES / "target.yaml"), "--dry-run")
    assert "+ default_runtime: trio" in output
    assert "Dry run: nothing was written." in output
    assert snapshot() == before


def test_import_applies_then_a_second_import_has_nothing_to_do(tools):
    first = run("import_legacy_config", str(SAMPLES / "target.yaml"))
    assert "Applied" in first
    assert RuntimeSettings.objects.get(pk=1).default_runtime == "trio"
    second = run("import_legacy_config", str(SAMPLES / "target.yaml"))
    assert "Nothing to do" in second and "No changes" in second
    statuses = list(MigrationRun.objects.order_by("id").values_list("status", flat=True))
    assert statuses == [RunStatus.APPLIED, RunStatus.UNCHANGED]
    run_row = MigrationRun.objects.order_by("id").first()
    assert run_row.source_hash and run_row.actor_name.endswith("(command line)")
    assert run_row.via == "command" and run_row.shape == "target dual-runtime"


def test_an_invalid_file_fails_the_command_naming_key_and_line(tools, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  trio_enabled: maybe\n")
    with pytest.raises(
        CommandError, match=r"server\.trio_enabled \(line 2\): expected true or false"
    ):
        run("import_legacy_config", str(bad))


def test_a_missing_file_is_a_clear_error(db):
    with pytest.raises(CommandError, match="cannot read"):
        run("import_legacy_config", "/no/such/file.yaml")


def test_export_to_a_file_then_import_it_changes_nothing(tools, tmp_path):
    run("import_legacy_config", str(SAMPLES / "runtimes_variant.yaml"))
    target = tmp_path / "exported.yaml"
    call_command("export_config", str(target), stdout=io.StringIO(), stderr=io.StringIO())
    assert target.read_text().startswith("# MCP Platform configuration exported")
    before = snapshot()
    output = run("import_legacy_config", str(target))
    assert "Nothing to do" in output
    assert snapshot() == before


def test_export_writes_to_standard_output_without_a_file(tools):
    output = run("export_config")
    assert "server:" in output and "fastapi:" in output and "prefer_trio: false" in output
