"""The notification rules may choose the cost events (issue 21 item 3): only the help text changes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0008_run_result"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notificationrule",
            name="events",
            field=models.JSONField(
                default=list,
                help_text="Any of: run.failed, run.succeeded, drift.found, health.changed, release.rolled_back, protection.lifted, cost.budget_80, cost.budget_100, cost.idle",
            ),
        ),
    ]
