"""A run's result beside its status (issue 23: one vocabulary), and operator help text without
requirement ids.

The status says whether the run worked (queued, running, succeeded, failed, cancelled); the result
what it found or did, where its kind has one. Existing rows: a release's or rollback's outcome
becomes its result (`failed` is a status, not a result), and a drift check that failed only
because it found differences (every step succeeded; its error is the drift summary) becomes a
succeeded run with result drift_found; a succeeded drift check's result is clean.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def forwards(apps: Any, schema_editor: Any) -> None:
    Deployment = apps.get_model("portal", "Deployment")
    for outcome in ("promoted", "rolled_back", "unchanged"):
        Deployment.objects.filter(kind__in=["release", "rollback"], outcome=outcome).update(result=outcome)
    Deployment.objects.filter(kind="drift", status="succeeded").update(result="clean")
    found = Deployment.objects.filter(kind="drift", status="failed", error__startswith="drift: ")
    found = found.exclude(steps__status="failed").filter(findings__isnull=False).distinct()
    Deployment.objects.filter(pk__in=list(found.values_list("pk", flat=True))).update(
        status="succeeded", result="drift_found", error=""
    )


def backwards(apps: Any, schema_editor: Any) -> None:
    Deployment = apps.get_model("portal", "Deployment")
    Deployment.objects.filter(kind="drift", result="drift_found").update(
        status="failed", error="drift: differences found; a provision run repairs it"
    )


class Migration(migrations.Migration):
    dependencies = [("portal", "0007_logs_check_request_id")]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="result",
            field=models.CharField(
                blank=True,
                help_text="promoted, rolled_back or unchanged (release, rollback); drift_found or clean (drift).",
                max_length=16,
            ),
        ),
        migrations.RunPython(forwards, backwards),
        # Operator help text without requirement ids (issue 23).
        migrations.AlterField(
            model_name="environment",
            name="expires_at",
            field=models.DateTimeField(blank=True, help_text="Previews: torn down after this.", null=True),
        ),
        migrations.AlterField(
            model_name="environment",
            name="outputs",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="What provisioning made (endpoint, names); the API key's id, never its value.",
            ),
        ),
        migrations.AlterField(
            model_name="environment",
            name="overrides",
            field=models.JSONField(
                blank=True, default=dict, help_text="Stage-profile settings this environment overrides."
            ),
        ),
        migrations.AlterField(
            model_name="environment",
            name="suffix",
            field=models.CharField(help_text="Names every resource.", max_length=20, unique=True),
        ),
    ]
