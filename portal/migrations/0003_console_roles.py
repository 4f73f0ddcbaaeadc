"""The console's permissions and its three roles, as Django groups.

viewer: reads everything (the portal's records and the beat schedules), triggers nothing.
operator: the viewer's rights, plus defining environments, plan, provision, verify, drift check,
teardown of non-prod environments and revealing an API key.
admin: every portal and schedule permission, including prod teardown and lifting deletion
protection.

The lists are frozen here (a migration replays the same way forever); a later change of a role is
a new migration. Permissions are created first because Django only makes them after all
migrations have run (post_migrate), and a fresh database has none yet.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = [
    ("plan_environment", "Can plan an environment (read-only)"),
    ("provision_environment", "Can provision an environment"),
    ("verify_environment", "Can verify an environment"),
    ("drift_environment", "Can check an environment for drift"),
    ("teardown_environment", "Can tear down a non-prod environment"),
    ("teardown_prod_environment", "Can tear down a prod environment"),
    ("lift_protection_environment", "Can lift an environment's deletion protection"),
    ("reveal_key_environment", "Can reveal an environment's API key"),
]

READ_APPS = ("portal", "django_celery_beat")
OPERATOR_EXTRA = [
    ("portal", "add_environment"),
    ("portal", "change_environment"),
    ("portal", "plan_environment"),
    ("portal", "provision_environment"),
    ("portal", "verify_environment"),
    ("portal", "drift_environment"),
    ("portal", "teardown_environment"),
    ("portal", "reveal_key_environment"),
]
ROLES = ("viewer", "operator", "admin")


def make_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    in_apps = Permission.objects.filter(content_type__app_label__in=READ_APPS)
    view = list(in_apps.filter(codename__startswith="view_"))
    operator = view + [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in OPERATOR_EXTRA
    ]
    grants = {"viewer": view, "operator": operator, "admin": list(in_apps)}
    for name in ROLES:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(grants[name])


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_beat_schedules"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="environment",
            options={"ordering": ["suffix"], "permissions": PERMISSIONS},
        ),
        migrations.RunPython(make_roles, drop_roles),
    ]
