"""A job keeps its caller as one `Principal.to_dict()` (denied tools and audiences included),
instead of kind, scopes and tool patterns in separate columns."""

from django.db import migrations, models


def fold_caller(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    for job in Job.objects.all().iterator():
        job.caller_principal = {
            "name": job.caller,
            "kind": job.caller_kind,
            "scopes": sorted(job.caller_scopes or []),
            "tool_patterns": list(job.caller_tool_patterns or []),
        }
        job.save(update_fields=["caller_principal"])


class Migration(migrations.Migration):
    dependencies = [("jobs", "0002_job_trace_context")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="caller_principal",
            field=models.JSONField(default=dict, help_text="Principal.to_dict() of the caller."),
        ),
        migrations.RunPython(fold_caller, migrations.RunPython.noop),
        migrations.RemoveField(model_name="job", name="caller_kind"),
        migrations.RemoveField(model_name="job", name="caller_scopes"),
        migrations.RemoveField(model_name="job", name="caller_tool_patterns"),
    ]
