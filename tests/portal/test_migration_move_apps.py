"""Portal migration 0010: API tokens and notifications become apps of their own (`tokens`,
`notifications`) on the same tables, so no row moves and no grant is lost."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.portal.conftest import migrate_to

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("back_to_the_latest_migrations"),
]

BEFORE = [("portal", "0009_cost_events"), ("tokens", None), ("notifications", None)]
AFTER = [("portal", "0010_move_tokens_notifications")]


@pytest.mark.heavy
def test_tokens_and_channels_keep_their_rows_and_the_roles_their_grants() -> None:
    apps = migrate_to(BEFORE)
    User = apps.get_model("auth", "User")
    user = User.objects.create(username="ci-bot", is_staff=True)
    token = apps.get_model("portal", "ApiToken").objects.create(
        user=user, lookup="0123456789ab", digest="0" * 64, role="operator", stages=["dev"]
    )
    channel = apps.get_model("portal", "NotificationChannel").objects.create(
        name="ops", kind="webhook", target="https://hooks.example.com/ops"
    )

    apps = migrate_to(AFTER)
    moved = apps.get_model("tokens", "ApiToken").objects.get(pk=token.pk)
    assert (moved.lookup, moved.role, moved.stages) == ("0123456789ab", "operator", ["dev"])
    assert apps.get_model("notifications", "NotificationChannel").objects.get(pk=channel.pk).name == "ops"
    ContentType = apps.get_model("contenttypes", "ContentType")
    labels = {
        ct.model: ct.app_label
        for ct in ContentType.objects.filter(model__in=["apitoken", "notificationchannel", "delivery"])
    }
    assert labels == {
        "apitoken": "tokens",
        "notificationchannel": "notifications",
        "delivery": "notifications",
    }
    admin = apps.get_model("auth", "Group").objects.get(name="admin")
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in admin.permissions.all()}
    assert {
        "tokens.add_apitoken",
        "tokens.change_apitoken",
        "notifications.add_notificationchannel",
    } <= granted
    viewer = apps.get_model("auth", "Group").objects.get(name="viewer")
    assert "notifications.view_delivery" in {
        f"{p.content_type.app_label}.{p.codename}" for p in viewer.permissions.all()
    }


@pytest.mark.heavy
def test_every_migration_applies_from_zero_and_the_models_match_them() -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("portal", None)])  # and everything that depends on it
    assert "portal_apitoken" not in connection.introspection.table_names()
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    tables = set(connection.introspection.table_names())
    assert {
        "portal_apitoken",
        "portal_idempotencykey",
        "portal_notificationchannel",
        "portal_delivery",
    } <= tables
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)  # exits 1 on a missing migration
    assert "No changes detected" in out.getvalue()
