"""The migration that folds a task's and a workflow's submitter columns (scopes, tool patterns)
into one stored principal: existing rows keep running with the rights they were queued with.
Django's MigrationExecutor on the real test database: back to the columns, rows written there,
forward again."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.access.principals import Principal
from apps.taskqueue.principals import queue_principal

BEFORE = ("taskqueue", "0004_task_trace_context")
AFTER = ("taskqueue", "0005_task_and_workflow_submitter_principal")


@pytest.fixture
def migrator(transactional_db):
    """Migrates the test database to a node of the graph; back to the latest at the end."""

    def migrate(target: tuple[str, str]):
        executor = MigrationExecutor(connection)
        executor.migrate([target])
        return MigrationExecutor(connection).loader.project_state([target]).apps

    yield migrate
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_tasks_and_workflows_keep_their_submitters_rights_as_one_principal(migrator):
    old = migrator(BEFORE)
    Task, Workflow = old.get_model("taskqueue", "Task"), old.get_model("taskqueue", "Workflow")
    WorkflowStep = old.get_model("taskqueue", "WorkflowStep")
    now = timezone.now()
    by_token = Task.objects.create(
        tool_name="echo",
        next_run_at=now,
        submitted_by="token:alice:mcpp_abc123",
        submitter_scopes=["tools:call"],
        submitter_tool_patterns=["echo", "calc*"],
    )
    by_platform = Task.objects.create(
        tool_name="echo", next_run_at=now, submitted_by="p2p_taskqueue_submit"
    )
    workflow = Workflow.objects.create(
        submitted_by="token:bob:mcpp_def456",
        submitter_scopes=["tools:call", "tools:read"],
        submitter_tool_patterns=["sum*"],
    )
    step_task = Task.objects.create(
        tool_name="summarize",
        next_run_at=now,
        submitted_by=f"workflow:{workflow.pk}",
        submitter_scopes=["tools:call", "tools:read"],
        submitter_tool_patterns=["sum*"],
    )
    WorkflowStep.objects.create(
        workflow=workflow, step_id="a", tool_name="summarize", task=step_task
    )

    new = migrator(AFTER)
    Task, Workflow = new.get_model("taskqueue", "Task"), new.get_model("taskqueue", "Workflow")
    assert not {"submitter_scopes", "submitter_tool_patterns"} & {
        f.name for f in Task._meta.get_fields()
    }

    token_task = Principal.from_dict(Task.objects.get(pk=by_token.pk).submitter_principal)
    assert token_task.name == "token:alice:mcpp_abc123"
    assert token_task.scopes == {"tools:call"}
    assert token_task.may_call("echo") and token_task.may_call("calculate")
    assert not token_task.may_call("summarize") and not token_task.has_scope("tools:read")

    platform_task = Principal.from_dict(Task.objects.get(pk=by_platform.pk).submitter_principal)
    assert platform_task == queue_principal("p2p_taskqueue_submit")

    flow = Principal.from_dict(Workflow.objects.get(pk=workflow.pk).submitter_principal)
    step = Principal.from_dict(Task.objects.get(pk=step_task.pk).submitter_principal)
    assert flow == step  # a step's task runs as its workflow's submitter
    assert flow.name == "token:bob:mcpp_def456"
    assert flow.may_call("summarize") and not flow.may_call("echo")
