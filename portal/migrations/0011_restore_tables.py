"""Issue 20: the environment records its current physical table (a restore's cut-over moves it),
a run kind `restore`, and the hourly sweep of the tables restores replaced (after their retention)."""

from django.db import migrations, models
from django.utils import timezone

SWEEP = ("envport: delete tables restores replaced, after retention", "portal.tasks.scheduled_retained_sweep")


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=SWEEP[0],
        defaults={"task": SWEEP[1], "interval": interval, "enabled": True, "description": __doc__.strip()},
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP[0]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0010_move_tokens_notifications"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="environment",
            name="table_name",
            field=models.CharField(blank=True, editable=False, max_length=255),
        ),
        migrations.AlterField(
            model_name="deployment",
            name="kind",
            field=models.CharField(
                choices=[
                    ("plan", "Plan"),
                    ("provision", "Provision"),
                    ("verify", "Verify"),
                    ("drift", "Drift"),
                    ("health", "Health"),
                    ("teardown", "Teardown"),
                    ("release", "Release"),
                    ("rollback", "Rollback"),
                    ("restore", "Restore"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(create, remove),
    ]
