"""Stored cost estimates (issue 21 item 2) and the hourly schedule that computes them.

The schedule is a django-celery-beat row like the other sweeps' (portal migration 0002), editable
in the admin under Periodic tasks.
"""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

SCHEDULE = (
    "envport: cost estimate of every provisioned environment",
    "portal.tasks.scheduled_cost_all",
    1,
    "hours",
)


def create_schedule(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    name, task, every, period = SCHEDULE
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    PeriodicTask.objects.get_or_create(
        name=name,
        defaults={"task": task, "interval": interval, "enabled": True, "description": __doc__.strip()},
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SCHEDULE[0]).delete()


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("portal", "0005_api_tokens_notifications"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="CostEstimate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("computed_at", models.DateTimeField()),
                ("currency", models.CharField(default="USD", max_length=8)),
                ("monthly", models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True)),
                (
                    "fixed_monthly",
                    models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True),
                ),
                (
                    "storage_monthly",
                    models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True),
                ),
                (
                    "usage_monthly",
                    models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True),
                ),
                ("so_far", models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True)),
                ("at_expiry", models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True)),
                ("figures", models.JSONField(blank=True, default=dict)),
                ("calls", models.PositiveIntegerField(default=0, help_text="AWS calls the estimate made.")),
                ("error", models.TextField(blank=True)),
                (
                    "environment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="cost_estimates",
                        to="portal.environment",
                    ),
                ),
            ],
            options={
                "ordering": ["-computed_at", "-id"],
                "indexes": [
                    models.Index(fields=["environment", "-computed_at"], name="cost_env_computed_idx")
                ],
            },
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
