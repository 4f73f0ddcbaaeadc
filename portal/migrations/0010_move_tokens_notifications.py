"""API tokens and notifications leave the portal app's state for apps of their own (`tokens`,
`notifications`, whose 0001 migrations take them): state only, their tables stay where they are.
Their content types follow them (app label portal -> tokens / notifications), so the permissions
the roles hold (migration 0005's grants) stay granted, now named `tokens.add_apitoken` and so on."""

from django.db import migrations

MOVED = {
    "tokens": ("apitoken", "idempotencykey"),
    "notifications": ("notificationchannel", "notificationrule", "delivery"),
}


def relabel(apps, schema_editor, old=None, new=None):
    """Each moved model's content type to its new app; one the new app already has (made by a
    post_migrate in between) takes the old one's grants, and the old one goes."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for app, models in MOVED.items():
        source, target = (old or (lambda a: "portal"))(app), (new or (lambda a: a))(app)
        for model in models:
            found = ContentType.objects.filter(app_label=source, model=model).first()
            if found is None:
                continue
            there = ContentType.objects.filter(app_label=target, model=model).first()
            if there is None:
                found.app_label = target
                found.save(update_fields=["app_label"])
                continue
            for perm in Permission.objects.filter(content_type=found):
                twin = Permission.objects.filter(content_type=there, codename=perm.codename).first()
                if twin is not None:
                    twin.group_set.add(*perm.group_set.all())
                    twin.user_set.add(*perm.user_set.all())
            found.delete()


def unlabel(apps, schema_editor):
    relabel(apps, schema_editor, old=lambda a: a, new=lambda a: "portal")


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0009_cost_events"),
        ("tokens", "0001_initial"),
        ("notifications", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="delivery",
                    name="channel",
                ),
                migrations.RemoveField(
                    model_name="delivery",
                    name="deployment",
                ),
                migrations.RemoveField(
                    model_name="idempotencykey",
                    name="deployment",
                ),
                migrations.RemoveField(
                    model_name="idempotencykey",
                    name="user",
                ),
                migrations.RemoveField(
                    model_name="notificationrule",
                    name="channel",
                ),
                migrations.DeleteModel(
                    name="ApiToken",
                ),
                migrations.DeleteModel(
                    name="Delivery",
                ),
                migrations.DeleteModel(
                    name="IdempotencyKey",
                ),
                migrations.DeleteModel(
                    name="NotificationChannel",
                ),
                migrations.DeleteModel(
                    name="NotificationRule",
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel, unlabel),
    ]
