"""The periodic tasks, as django-celery-beat rows (editable in the admin under Periodic tasks).

drift check every 30 minutes (R-OPS-2), health every 5 minutes (R-OPS-3), expired previews hourly
(R-OPS-5), and the reaper of runs whose worker died every 2 minutes.
"""

from django.db import migrations
from django.utils import timezone

SCHEDULES = [
    ("envport: drift check of every provisioned environment", "portal.tasks.scheduled_drift_all", 30, "minutes"),
    ("envport: health check of every provisioned environment", "portal.tasks.scheduled_health_all", 5, "minutes"),
    ("envport: teardown of expired previews", "portal.tasks.teardown_expired_previews", 1, "hours"),
    ("envport: re-queue runs whose worker died", "portal.tasks.reap_stale_deployments", 2, "minutes"),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, every, period in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "interval": interval, "enabled": True, "description": __doc__.strip()},
        )
    # Tell a running beat that the schedule changed (what PeriodicTask's signals do outside migrations).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
