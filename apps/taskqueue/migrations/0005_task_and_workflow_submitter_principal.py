"""Tasks and workflows keep whom they run as in one `Principal.to_dict()`
(`submitter_principal`: denied tools and toolsets included), instead of the submitter's scopes
and tool patterns in separate columns.

Existing rows keep the rights they ran with: a row with recorded scopes becomes a principal
with those scopes and patterns, named for its submitter (a workflow step's task takes its
workflow's); a row without (queued by the platform's own code) becomes the queue itself."""

from django.db import migrations, models

QUEUE_SCOPES = ["tools:call", "tools:read"]


def _principal(submitted_by, scopes, patterns):
    if scopes is None:
        name = f"taskqueue:{submitted_by or 'anonymous'}"[:200]
        return {"name": name, "kind": "system", "scopes": QUEUE_SCOPES}
    return {
        "name": submitted_by or "taskqueue:anonymous",
        "kind": "task",
        "scopes": sorted(scopes),
        "tool_patterns": list(patterns or []),
    }


def fold_submitter(apps, schema_editor):
    Task = apps.get_model("taskqueue", "Task")
    Workflow = apps.get_model("taskqueue", "Workflow")
    WorkflowStep = apps.get_model("taskqueue", "WorkflowStep")
    of_workflow = {}
    for workflow in Workflow.objects.all().iterator():
        workflow.submitter_principal = _principal(
            workflow.submitted_by, workflow.submitter_scopes, workflow.submitter_tool_patterns
        )
        workflow.save(update_fields=["submitter_principal"])
        of_workflow[workflow.pk] = workflow.submitter_principal
    step_of = dict(
        WorkflowStep.objects.exclude(task=None).values_list("task_id", "workflow_id").iterator()
    )
    for task in Task.objects.all().iterator():
        if task.pk in step_of:
            task.submitter_principal = of_workflow[step_of[task.pk]]
        else:
            task.submitter_principal = _principal(
                task.submitted_by, task.submitter_scopes, task.submitter_tool_patterns
            )
        task.save(update_fields=["submitter_principal"])


def unfold_submitter(apps, schema_editor):
    for model in ("Task", "Workflow"):
        for row in apps.get_model("taskqueue", model).objects.all().iterator():
            principal = row.submitter_principal
            if principal.get("kind") == "system":
                row.submitter_scopes, row.submitter_tool_patterns = None, []
            else:
                row.submitter_scopes = principal.get("scopes", [])
                row.submitter_tool_patterns = principal.get("tool_patterns", [])
            row.save(update_fields=["submitter_scopes", "submitter_tool_patterns"])


class Migration(migrations.Migration):
    dependencies = [("taskqueue", "0004_task_trace_context")]

    operations = [
        migrations.AddField(
            model_name="task",
            name="submitter_principal",
            field=models.JSONField(
                default=dict,
                help_text="Principal.to_dict() of the submitter (or of the queue itself).",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="workflow",
            name="submitter_principal",
            field=models.JSONField(
                default=dict,
                help_text="Principal.to_dict() of the submitter (or of the queue itself).",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fold_submitter, unfold_submitter),
        migrations.RemoveField(model_name="task", name="submitter_scopes"),
        migrations.RemoveField(model_name="task", name="submitter_tool_patterns"),
        migrations.RemoveField(model_name="workflow", name="submitter_scopes"),
        migrations.RemoveField(model_name="workflow", name="submitter_tool_patterns"),
    ]
